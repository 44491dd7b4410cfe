-- Full-text search over message bodies. The database keeps the vector in step with every
-- insert, edit and delete (a deleted message's body is empty, so it matches nothing), and this
-- migration builds it for the messages already stored. 'english' stems words ("deploys" finds
-- "deploy"); queries use websearch_to_tsquery with the same configuration.
ALTER TABLE messages
    ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED;
CREATE INDEX messages_search_idx ON messages USING GIN (search);
