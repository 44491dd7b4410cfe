-- The batch writer stores tens of messages per statement, and the two foreign keys on
-- `messages` checked each row on its own: a trigger per row per key, each running a locking
-- look-up through SPI, 27% of the batch statement's CPU (BENCHMARKS.md). The same guarantees,
-- checked once per statement over all of its rows:
--   * a message's room exists, and is held (FOR KEY SHARE, as the key did) until the
--     statement's transaction ends, so a concurrent room deletion waits for it;
--   * a message's author exists; Huddle never deletes users, and deleting one who wrote
--     messages is refused, as the key's NO ACTION did;
--   * deleting a room deletes its messages, as ON DELETE CASCADE did.
ALTER TABLE messages DROP CONSTRAINT messages_room_id_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_author_id_fkey;

CREATE FUNCTION messages_check_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    wanted bigint;
    held bigint;
BEGIN
    SELECT count(DISTINCT room_id) INTO wanted FROM written;
    PERFORM 1 FROM rooms r WHERE r.id IN (SELECT room_id FROM written) FOR KEY SHARE;
    GET DIAGNOSTICS held = ROW_COUNT;
    IF held <> wanted THEN
        RAISE foreign_key_violation USING MESSAGE = 'a message''s room does not exist';
    END IF;
    IF EXISTS (SELECT 1 FROM written w
               WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = w.author_id)) THEN
        RAISE foreign_key_violation USING MESSAGE = 'a message''s author does not exist';
    END IF;
    RETURN NULL;
END $$;

-- A trigger with transition tables fires for one event only, hence two.
CREATE TRIGGER messages_inserted_references AFTER INSERT ON messages
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION messages_check_references();
CREATE TRIGGER messages_updated_references AFTER UPDATE ON messages
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION messages_check_references();

CREATE FUNCTION rooms_delete_messages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM messages m USING gone g WHERE m.room_id = g.id;
    RETURN NULL;
END $$;

CREATE TRIGGER rooms_deleted_messages AFTER DELETE ON rooms
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION rooms_delete_messages();

CREATE FUNCTION users_refuse_deleting_authors() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM messages m JOIN gone g ON m.author_id = g.id) THEN
        RAISE foreign_key_violation USING MESSAGE = 'the user wrote messages';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER users_deleted_authors AFTER DELETE ON users
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION users_refuse_deleting_authors();
