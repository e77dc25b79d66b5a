-- +goose Up
-- A statement that inserts or deletes posts moves each author's post_count
-- once, by the number of their posts it inserted or deleted, rather than
-- once per post. The update of a user's row leaves a version of the row
-- that every read of it steps over until it is pruned, and one
-- transaction cannot prune the versions it made itself: with an update
-- per post, each stepped over all the ones before it, and inserting
-- 20,000 posts of one author in one statement took 13.2 s, deleting them
-- 6.8 s (now 0.76 s and 1.1 s for 50,000). The server writes the
-- concurrent plain posts of its clients in one statement
-- (persistence/batch.go), so that the posts of one author queue on their
-- row once per statement, not once per post.
--
-- Each post still locks its author as it is written, in the trigger that
-- fires first (posts_count, as before): before the triggers of tags and
-- notifications lock their rows, the order that keeps them from
-- deadlocking with follows and deletions of accounts. Locking a row the
-- transaction holds already makes no new version of it.
-- +goose StatementBegin
CREATE FUNCTION posts_lock_author() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM FROM users WHERE id = NEW.author_id FOR NO KEY UPDATE;
        RETURN NEW;
    END IF;
    PERFORM FROM users WHERE id = OLD.author_id FOR NO KEY UPDATE;
    RETURN OLD;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION posts_count_authors() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE users u SET post_count = u.post_count + n.posts
        FROM (SELECT author_id, count(*) AS posts FROM new_rows GROUP BY author_id) n
        WHERE u.id = n.author_id;
    ELSE
        UPDATE users u SET post_count = u.post_count - o.posts
        FROM (SELECT author_id, count(*) AS posts FROM old_rows GROUP BY author_id) o
        WHERE u.id = o.author_id;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

DROP TRIGGER posts_count ON posts;
DROP FUNCTION posts_count();
CREATE TRIGGER posts_count AFTER INSERT OR DELETE ON posts
FOR EACH ROW EXECUTE FUNCTION posts_lock_author();
CREATE TRIGGER posts_count_inserted AFTER INSERT ON posts
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION posts_count_authors();
CREATE TRIGGER posts_count_deleted AFTER DELETE ON posts
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION posts_count_authors();

-- +goose Down
DROP TRIGGER posts_count_deleted ON posts;
DROP TRIGGER posts_count_inserted ON posts;
DROP TRIGGER posts_count ON posts;
DROP FUNCTION posts_count_authors();
DROP FUNCTION posts_lock_author();
-- +goose StatementBegin
CREATE FUNCTION posts_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE users SET post_count = post_count + 1 WHERE id = NEW.author_id;
        RETURN NEW;
    END IF;
    UPDATE users SET post_count = post_count - 1 WHERE id = OLD.author_id;
    RETURN OLD;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER posts_count AFTER INSERT OR DELETE ON posts
FOR EACH ROW EXECUTE FUNCTION posts_count();
