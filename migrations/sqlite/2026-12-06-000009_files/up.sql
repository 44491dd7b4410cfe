-- Files sent with messages. The bytes are in the object store under the attachment's id; a
-- row leaving (its message deleted, its room deleted) puts the id in file_trash in the same
-- transaction, and the server deletes the object and then the trash row.
CREATE TABLE attachments (
    id           TEXT    PRIMARY KEY NOT NULL,
    message_id   BIGINT  NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    room_id      BIGINT  NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    name         TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size         BIGINT  NOT NULL,
    width        INTEGER,
    height       INTEGER
);
CREATE INDEX attachments_message_idx ON attachments (message_id, position);

CREATE TABLE file_trash (
    file_id    TEXT   PRIMARY KEY NOT NULL,
    trashed_at BIGINT NOT NULL
);

-- Foreign-key cascades fire this too, so a deleted room's files reach the trash.
CREATE TRIGGER attachments_to_trash AFTER DELETE ON attachments
BEGIN
    INSERT OR IGNORE INTO file_trash (file_id, trashed_at)
    VALUES (OLD.id, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;
