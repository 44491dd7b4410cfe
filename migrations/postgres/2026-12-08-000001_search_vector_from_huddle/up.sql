-- Huddle now computes each message's search vector (crates/domain/src/lexemes.rs: the words,
-- English stop words dropped, Snowball's English stems, as the 'english' configuration does)
-- and stores it with the row. PostgreSQL computing it in a generated column cost it 10-16 µs
-- per row (BENCHMARKS.md, "The search vector from Huddle"). The vectors already
-- stored stay as they are; the GIN index is unchanged. NOT NULL, with no default: a write that
-- forgot the vector fails rather than store a message search never finds.
ALTER TABLE messages ALTER COLUMN search DROP EXPRESSION;
ALTER TABLE messages ALTER COLUMN search SET NOT NULL;
