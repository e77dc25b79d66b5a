-- +goose Up
-- Every change to a user or a post bumps its version and records when it
-- happened: the version makes ETags and If-Match checks without rereading
-- the representation, changed_at makes Last-Modified. A user's
-- representation embeds their newest posts, so a post's edit also counts as
-- a change of its author.
ALTER TABLE users
    ADD COLUMN version    bigint      NOT NULL DEFAULT 1,
    ADD COLUMN changed_at timestamptz NOT NULL DEFAULT clock_timestamp();
ALTER TABLE posts
    ADD COLUMN version    bigint      NOT NULL DEFAULT 1,
    ADD COLUMN changed_at timestamptz NOT NULL DEFAULT clock_timestamp();

-- +goose StatementBegin
CREATE FUNCTION bump_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := OLD.version + 1;
    NEW.changed_at := clock_timestamp();
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER users_version BEFORE UPDATE ON users
FOR EACH ROW EXECUTE FUNCTION bump_version();
CREATE TRIGGER posts_version BEFORE UPDATE ON posts
FOR EACH ROW EXECUTE FUNCTION bump_version();

-- +goose StatementBegin
CREATE FUNCTION posts_touch_author() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users SET version = version WHERE id = NEW.author_id;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER posts_touch_author AFTER UPDATE ON posts
FOR EACH ROW EXECUTE FUNCTION posts_touch_author();

-- +goose Down
DROP TRIGGER posts_touch_author ON posts;
DROP FUNCTION posts_touch_author();
DROP TRIGGER posts_version ON posts;
DROP TRIGGER users_version ON users;
DROP FUNCTION bump_version();
ALTER TABLE posts DROP COLUMN changed_at, DROP COLUMN version;
ALTER TABLE users DROP COLUMN changed_at, DROP COLUMN version;
