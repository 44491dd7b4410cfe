-- Back to the vector PostgreSQL computes (dropping the column drops its index).
ALTER TABLE messages DROP COLUMN search;
ALTER TABLE messages
    ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED;
CREATE INDEX messages_search_idx ON messages USING GIN (search);
