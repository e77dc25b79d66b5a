-- +goose Up
-- A post shows the current username of each user it mentions, so a rename
-- changes the representation of every post that mentions the user, and of
-- its author, whose user shows their newest posts: the rename bumps their
-- versions (posts_touch_author does the authors), so that their ETags
-- change. A user who is gone is taken out of the posts that mention them,
-- with the same effect. The index finds those posts.
CREATE INDEX posts_mentions_idx ON posts USING gin (mentions);

-- +goose StatementBegin
CREATE FUNCTION users_mentioned() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE posts SET mentions = array_remove(mentions, OLD.id) WHERE mentions @> ARRAY[OLD.id];
        RETURN NULL;
    END IF;
    UPDATE posts SET version = version WHERE mentions @> ARRAY[NEW.id];
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER users_renamed AFTER UPDATE OF username ON users
FOR EACH ROW WHEN (OLD.username IS DISTINCT FROM NEW.username) EXECUTE FUNCTION users_mentioned();
CREATE TRIGGER users_deleted AFTER DELETE ON users
FOR EACH ROW EXECUTE FUNCTION users_mentioned();

-- +goose Down
DROP TRIGGER users_deleted ON users;
DROP TRIGGER users_renamed ON users;
DROP FUNCTION users_mentioned();
DROP INDEX posts_mentions_idx;
