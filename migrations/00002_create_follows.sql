-- +goose Up
CREATE TABLE follows (
    follower_id bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    followed_id bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (follower_id, followed_id),
    CHECK (follower_id <> followed_id)
);

-- One index for each direction, in the order the collections are listed
-- (newest follow first), so that a page is an index scan bounded by its size.
CREATE INDEX follows_followed_idx ON follows (followed_id, created_at DESC, follower_id DESC);
CREATE INDEX follows_follower_idx ON follows (follower_id, created_at DESC, followed_id DESC);

-- +goose StatementBegin
CREATE FUNCTION follows_count() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    follower bigint;
    followed bigint;
    delta    int;
BEGIN
    IF TG_OP = 'INSERT' THEN
        follower := NEW.follower_id; followed := NEW.followed_id; delta := 1;
    ELSE
        follower := OLD.follower_id; followed := OLD.followed_id; delta := -1;
    END IF;
    -- Lock both users in id order first, so that two transactions following
    -- each other cannot take the row locks in opposite orders. NO KEY UPDATE
    -- is the lock the UPDATEs take anyway; it does not conflict with the KEY
    -- SHARE locks of the foreign key checks.
    PERFORM 1 FROM users WHERE id IN (follower, followed) ORDER BY id FOR NO KEY UPDATE;
    UPDATE users SET following_count = following_count + delta WHERE id = follower;
    UPDATE users SET follower_count = follower_count + delta WHERE id = followed;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER follows_count AFTER INSERT OR DELETE ON follows
FOR EACH ROW EXECUTE FUNCTION follows_count();

-- +goose Down
DROP TABLE follows;
DROP FUNCTION follows_count();
