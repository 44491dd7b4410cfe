DROP TABLE message_mentions;
ALTER TABLE messages DROP COLUMN mentions_room;
