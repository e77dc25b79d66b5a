-- +goose Up
-- A token is stored only as the SHA-256 hash of its value: a copy of this
-- table does not let anyone log in.
CREATE TABLE tokens (
    hash       bytea       PRIMARY KEY CHECK (octet_length(hash) = 32),
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX tokens_user_idx ON tokens (user_id, expires_at);

-- +goose Down
DROP TABLE tokens;
