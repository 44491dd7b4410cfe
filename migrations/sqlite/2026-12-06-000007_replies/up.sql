-- A reply names the message it answers (same room, checked when it is stored). No foreign
-- key: messages are only ever deleted with their room, which takes the reply too.
ALTER TABLE messages ADD COLUMN reply_to BIGINT;
