-- Times are microseconds since the Unix epoch, as on SQLite, so both backends share one schema.
CREATE TABLE users (
    id             BIGSERIAL PRIMARY KEY,
    username       TEXT   NOT NULL,
    username_lower TEXT   NOT NULL UNIQUE,
    display_name   TEXT   NOT NULL,
    bio            TEXT   NOT NULL DEFAULT '',
    password_hash  TEXT   NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE refresh_tokens (
    id         BIGSERIAL PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id  TEXT   NOT NULL,
    token_hash TEXT   NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    spent_at   BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

CREATE TABLE rooms (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT    NOT NULL,
    description  TEXT    NOT NULL DEFAULT '',
    is_private   BOOLEAN NOT NULL DEFAULT FALSE,
    owner_id     BIGINT  NOT NULL REFERENCES users (id),
    member_count BIGINT  NOT NULL DEFAULT 0,
    last_seq     BIGINT  NOT NULL DEFAULT 0,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL
);

CREATE TABLE room_members (
    room_id   BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role      TEXT   NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_user_idx ON room_members (user_id);

CREATE TABLE messages (
    id            BIGSERIAL PRIMARY KEY,
    room_id       BIGINT  NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq           BIGINT  NOT NULL,
    author_id     BIGINT  NOT NULL REFERENCES users (id),
    body          TEXT    NOT NULL,
    client_msg_id TEXT,
    created_at    BIGINT  NOT NULL,
    edited_at     BIGINT,
    deleted       BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (room_id, seq),
    -- Idempotent sends; NULL client_msg_ids never collide.
    UNIQUE (room_id, author_id, client_msg_id)
);
