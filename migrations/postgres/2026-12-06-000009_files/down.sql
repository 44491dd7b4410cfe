DROP TRIGGER attachments_to_trash ON attachments;
DROP FUNCTION trash_attachment();
DROP TABLE file_trash;
DROP TABLE attachments;
