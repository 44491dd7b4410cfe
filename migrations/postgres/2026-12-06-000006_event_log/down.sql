DROP TABLE room_events;
ALTER TABLE messages DROP COLUMN event_seq;
ALTER TABLE rooms DROP COLUMN log_floor;
ALTER TABLE rooms DROP COLUMN event_offset;
