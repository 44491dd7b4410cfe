DROP TRIGGER attachments_to_trash;
DROP TABLE file_trash;
DROP TABLE attachments;
