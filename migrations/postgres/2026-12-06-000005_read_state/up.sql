-- Read state: how far each member has read each room (a message seq; it only moves forward),
-- and whether a user shares it with the room as read receipts.
CREATE TABLE room_reads (
    room_id       BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    last_read_seq BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
ALTER TABLE users ADD COLUMN share_read_receipts BOOLEAN NOT NULL DEFAULT TRUE;
