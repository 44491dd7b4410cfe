-- A session is one login: the refresh-token family its tokens rotate within, and the `sid` of
-- its access tokens. Kept apart from the tokens so it can be listed, named (user agent) and
-- ended as one thing, and so every node can learn at start which sessions ended recently.
CREATE TABLE sessions (
    id           TEXT   PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_agent   TEXT,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_revoked_idx ON sessions (revoked_at);

-- Logins from before this migration become sessions with no user agent.
INSERT INTO sessions (id, user_id, user_agent, created_at, last_used_at, expires_at, revoked_at)
SELECT family_id, MIN(user_id), NULL, MIN(created_at), MAX(created_at), MAX(expires_at),
       CASE WHEN COUNT(*) = COUNT(revoked_at) THEN MAX(revoked_at) ELSE NULL END
FROM refresh_tokens
GROUP BY family_id;
