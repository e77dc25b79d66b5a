-- +goose Up
-- Each token is a session its user can see and end (API.md section 15): a
-- public id that is not the token (whose hash stays the key), when it was
-- last used, and the User-Agent of the login that issued it. last_used_at
-- starts at the login, which is a use, and the token check moves it at
-- most once a minute; the tokens issued before keep working, last used at
-- their creation as far as anyone knows.
ALTER TABLE tokens
    ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY,
    ADD COLUMN last_used_at timestamptz,
    ADD COLUMN user_agent text CHECK (char_length(user_agent) BETWEEN 1 AND 256);

UPDATE tokens SET last_used_at = created_at;

ALTER TABLE tokens
    ALTER COLUMN last_used_at SET NOT NULL,
    ADD CONSTRAINT tokens_id_key UNIQUE (id);

-- A user's sessions, newest first: the order of their list.
CREATE INDEX tokens_sessions_idx ON tokens (user_id, created_at DESC, id DESC);

-- +goose Down
DROP INDEX tokens_sessions_idx;
ALTER TABLE tokens DROP COLUMN id, DROP COLUMN last_used_at, DROP COLUMN user_agent;
