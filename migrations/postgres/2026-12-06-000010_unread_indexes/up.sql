-- Unread counts without reading the unread messages (crates/persistence/src/repo/reads.rs):
-- seqs are gap-free, so a room's messages past a read mark number last_seq - mark, and only
-- the ones that do not count are looked up: the reader's own (the idempotency key's index
-- starts with room_id, author_id), others' deleted ones, and @room mentions. Few rows match
-- either predicate, so a send pays nothing for these two.
CREATE INDEX messages_deleted_idx ON messages (room_id, seq) WHERE deleted;
CREATE INDEX messages_mentions_room_idx ON messages (room_id, seq) WHERE mentions_room;
