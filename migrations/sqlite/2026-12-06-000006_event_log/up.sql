-- Each room's ordered event log (huddle_domain::event_log). A change takes the room's next
-- event_seq = last_seq + event_offset: a message bumps last_seq and stores its event_seq in its
-- own row; any other change bumps event_offset and is a room_events row. Both happen in the
-- change's own transaction. log_floor is the newest event_seq pruned.
ALTER TABLE rooms ADD COLUMN event_offset BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rooms ADD COLUMN log_floor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN event_seq BIGINT NOT NULL DEFAULT 0;
UPDATE messages SET event_seq = seq;

CREATE TABLE room_events (
    room_id    BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    event_seq  BIGINT NOT NULL,
    kind       TEXT   NOT NULL,
    message_id BIGINT,
    user_id    BIGINT,
    emoji      TEXT,
    role       TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, event_seq)
);
CREATE INDEX room_events_created_idx ON room_events (created_at);
