-- Invite links to a room: a random code, an expiry and an optional use limit. Revoked ones are
-- kept (with revoked_at) so a revoked code answers 404 rather than being reusable.
CREATE TABLE invites (
    code       TEXT   PRIMARY KEY,
    room_id    BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    created_by BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    max_uses   BIGINT,
    uses       BIGINT NOT NULL DEFAULT 0,
    revoked_at BIGINT
);
CREATE INDEX invites_room_idx ON invites (room_id);
