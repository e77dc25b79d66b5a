-- +goose Up
-- A password reset token, like a login token, is stored only as the
-- SHA-256 hash of its value: the mail that carries it is the one copy.
-- Using it deletes it, and every other reset token of the user.
CREATE TABLE password_resets (
    hash       bytea       PRIMARY KEY CHECK (octet_length(hash) = 32),
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX password_resets_user_idx ON password_resets (user_id);
CREATE INDEX password_resets_expiry_idx ON password_resets (expires_at);

-- +goose Down
DROP TABLE password_resets;
