DROP TABLE room_reads;
ALTER TABLE users DROP COLUMN share_read_receipts;
