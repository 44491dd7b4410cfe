-- Files sent with messages. The bytes are in the object store under the attachment's id; a
-- row leaving (its message deleted, its room deleted) puts the id in file_trash in the same
-- transaction, and the server deletes the object and then the trash row.
CREATE TABLE attachments (
    id           TEXT    PRIMARY KEY,
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
    file_id    TEXT   PRIMARY KEY,
    trashed_at BIGINT NOT NULL
);

CREATE FUNCTION trash_attachment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO file_trash (file_id, trashed_at)
    VALUES (OLD.id, (extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT)
    ON CONFLICT (file_id) DO NOTHING;
    RETURN OLD;
END
$$;
CREATE TRIGGER attachments_to_trash AFTER DELETE ON attachments
    FOR EACH ROW EXECUTE FUNCTION trash_attachment();
