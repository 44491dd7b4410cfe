DROP INDEX messages_mentions_room_idx;
DROP INDEX messages_deleted_idx;
