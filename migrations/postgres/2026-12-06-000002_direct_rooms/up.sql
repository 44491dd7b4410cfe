-- Direct conversations are rooms of kind 'direct'. `direct_key` (the members' ids, ascending,
-- comma-separated) makes "the conversation of these people" unique, so opening it twice, even
-- at once, finds one room. Group rooms have no key (NULLs never collide).
ALTER TABLE rooms ADD COLUMN kind TEXT NOT NULL DEFAULT 'group';
ALTER TABLE rooms ADD COLUMN direct_key TEXT;
CREATE UNIQUE INDEX rooms_direct_key_idx ON rooms (direct_key);
