-- +goose Up
-- Finding people and posts. Usernames are found by substring through a
-- trigram index (pg_trgm, a trusted extension that ships with PostgreSQL),
-- posts by English full-text search through a GIN index on a generated
-- tsvector. A post's hashtags and mentions are found by the application
-- (its rules for letters are Unicode's, whatever the database's locale) and
-- stored with the post: tags as written, lower-cased, and mentions as the
-- ids of the users named when the post was written or last edited.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER TABLE posts
    ADD COLUMN search   tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED,
    ADD COLUMN tags     text[]   NOT NULL DEFAULT '{}',
    ADD COLUMN mentions bigint[] NOT NULL DEFAULT '{}';

CREATE INDEX posts_search_idx ON posts USING gin (search);
CREATE INDEX users_username_trgm_idx ON users USING gin (lower(username) gin_trgm_ops);
-- Prefixes of usernames in the order the search lists them, whatever the
-- collation: usernames are ASCII, and "C" orders them by byte.
CREATE INDEX users_username_prefix_idx ON users (lower(username) COLLATE "C");

-- A row per tag of a post, in the order a tag's page lists them, and the
-- number of posts of each tag, kept by the trigger below, so that a tag's
-- page is an index range and its total one row.
CREATE TABLE tags (
    name       text   PRIMARY KEY,
    post_count bigint NOT NULL DEFAULT 0 CHECK (post_count >= 0)
);

CREATE TABLE post_tags (
    tag        text        NOT NULL,
    created_at timestamptz NOT NULL,
    post_id    bigint      NOT NULL,
    PRIMARY KEY (tag, created_at, post_id)
);

-- +goose StatementBegin
-- posts_tags keeps post_tags and the counts of tags in step with the tags
-- of posts. Tag rows are counted in name order, so that two posts with the
-- same tags in other orders cannot lock them in opposite orders.
CREATE FUNCTION posts_tags() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM post_tags WHERE tag = ANY (OLD.tags) AND created_at = OLD.created_at AND post_id = OLD.id;
        UPDATE tags SET post_count = post_count - 1 WHERE name = ANY (OLD.tags);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO tags AS t (name, post_count)
        SELECT name, 1 FROM unnest(NEW.tags) AS n (name) ORDER BY name
        ON CONFLICT (name) DO UPDATE SET post_count = t.post_count + 1;
        INSERT INTO post_tags (tag, created_at, post_id)
        SELECT name, NEW.created_at, NEW.id FROM unnest(NEW.tags) AS n (name);
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER posts_tags AFTER INSERT OR DELETE ON posts
FOR EACH ROW EXECUTE FUNCTION posts_tags();
CREATE TRIGGER posts_tags_update AFTER UPDATE OF tags ON posts
FOR EACH ROW WHEN (OLD.tags IS DISTINCT FROM NEW.tags) EXECUTE FUNCTION posts_tags();

-- +goose Down
DROP TRIGGER posts_tags_update ON posts;
DROP TRIGGER posts_tags ON posts;
DROP FUNCTION posts_tags();
DROP TABLE post_tags;
DROP TABLE tags;
DROP INDEX users_username_prefix_idx;
DROP INDEX users_username_trgm_idx;
DROP INDEX posts_search_idx;
ALTER TABLE posts DROP COLUMN mentions, DROP COLUMN tags, DROP COLUMN search;
