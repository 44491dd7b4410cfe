DROP TRIGGER users_deleted_authors ON users;
DROP FUNCTION users_refuse_deleting_authors();
DROP TRIGGER rooms_deleted_messages ON rooms;
DROP FUNCTION rooms_delete_messages();
DROP TRIGGER messages_updated_references ON messages;
DROP TRIGGER messages_inserted_references ON messages;
DROP FUNCTION messages_check_references();
ALTER TABLE messages ADD CONSTRAINT messages_room_id_fkey
    FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE;
ALTER TABLE messages ADD CONSTRAINT messages_author_id_fkey
    FOREIGN KEY (author_id) REFERENCES users (id);
