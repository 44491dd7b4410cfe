DROP INDEX messages_search_idx;
ALTER TABLE messages DROP COLUMN search;
