-- +goose Up
-- Changes: the commit of every change to what reads show announces, on the
-- channel "changes", what it changed, as topics separated by spaces, so
-- that each instance's listener can tell which of the responses it keeps
-- are no longer true (persistence/changes.go has the topics' meanings):
--   u<id>  the row of user id       U  the set of users (and its total)
--                                   N  the username or about_me of a user
--   p<id>  a post of user id        P  any post: its row, or the set
--   f<id>  whom user id follows     F<id>  who follows user id
--   l<id>  what user id likes       L<id>  who likes post id
--   t<id>  a token of user id gone  n<id>  the notifications of user id
-- or "*": too many rows to name, everything may have changed. Triggers
-- run for each statement, over its transition tables, so that a statement
-- of many rows announces each topic once; PostgreSQL sends a payload once
-- per transaction however often it is announced.

-- announce_changes sends topics, a payload of at most 400 of them, or "*".
-- +goose StatementBegin
CREATE FUNCTION announce_changes(topics text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(topics) = 0 THEN
        RETURN;
    END IF;
    IF cardinality(topics) > 400 THEN
        PERFORM pg_notify('changes', '*');
        RETURN;
    END IF;
    PERFORM pg_notify('changes', array_to_string(topics, ' '));
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION users_announce() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        PERFORM announce_changes(ARRAY(SELECT DISTINCT 'u' || id FROM new_rows LIMIT 401) ||
            CASE WHEN EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n USING (id)
                              WHERE o.username IS DISTINCT FROM n.username OR o.about_me IS DISTINCT FROM n.about_me)
                 THEN ARRAY['N'] ELSE '{}' END);
    ELSIF TG_OP = 'INSERT' THEN
        PERFORM announce_changes(ARRAY(SELECT 'u' || id FROM new_rows LIMIT 401) || ARRAY['U', 'N']);
    ELSE
        PERFORM announce_changes(ARRAY(SELECT 'u' || id FROM old_rows LIMIT 401) || ARRAY['U', 'N']);
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION posts_announce() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM announce_changes(ARRAY(SELECT DISTINCT 'p' || author_id FROM old_rows LIMIT 401) || ARRAY['P']);
    ELSE
        PERFORM announce_changes(ARRAY(SELECT DISTINCT 'p' || author_id FROM new_rows LIMIT 401) || ARRAY['P']);
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION follows_announce() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM announce_changes(ARRAY(SELECT DISTINCT t FROM old_rows,
            LATERAL (VALUES ('f' || follower_id), ('F' || followed_id)) v (t) LIMIT 401));
    ELSE
        PERFORM announce_changes(ARRAY(SELECT DISTINCT t FROM new_rows,
            LATERAL (VALUES ('f' || follower_id), ('F' || followed_id)) v (t) LIMIT 401));
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION likes_announce() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM announce_changes(ARRAY(SELECT DISTINCT t FROM old_rows,
            LATERAL (VALUES ('l' || user_id), ('L' || post_id)) v (t) LIMIT 401));
    ELSE
        PERFORM announce_changes(ARRAY(SELECT DISTINCT t FROM new_rows,
            LATERAL (VALUES ('l' || user_id), ('L' || post_id)) v (t) LIMIT 401));
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- A token's use (last_used_at) changes nothing a kept response shows, nor
-- its check: only a token's end does.
-- +goose StatementBegin
CREATE FUNCTION tokens_announce() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM announce_changes(ARRAY(SELECT DISTINCT 't' || user_id FROM old_rows LIMIT 401));
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- Notifications and inboxes, whose counts and versions pages of
-- notifications show.
-- +goose StatementBegin
CREATE FUNCTION inbox_announce() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM announce_changes(ARRAY(SELECT DISTINCT 'n' || user_id FROM old_rows LIMIT 401));
    ELSE
        PERFORM announce_changes(ARRAY(SELECT DISTINCT 'n' || user_id FROM new_rows LIMIT 401));
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER users_announce_insert AFTER INSERT ON users
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION users_announce();
CREATE TRIGGER users_announce_update AFTER UPDATE ON users
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION users_announce();
CREATE TRIGGER users_announce_delete AFTER DELETE ON users
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION users_announce();

CREATE TRIGGER posts_announce_insert AFTER INSERT ON posts
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION posts_announce();
CREATE TRIGGER posts_announce_update AFTER UPDATE ON posts
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION posts_announce();
CREATE TRIGGER posts_announce_delete AFTER DELETE ON posts
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION posts_announce();

CREATE TRIGGER follows_announce_insert AFTER INSERT ON follows
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION follows_announce();
CREATE TRIGGER follows_announce_delete AFTER DELETE ON follows
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION follows_announce();

CREATE TRIGGER likes_announce_insert AFTER INSERT ON likes
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION likes_announce();
CREATE TRIGGER likes_announce_delete AFTER DELETE ON likes
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION likes_announce();

CREATE TRIGGER tokens_announce_delete AFTER DELETE ON tokens
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tokens_announce();

CREATE TRIGGER notifications_announce_insert AFTER INSERT ON notifications
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION inbox_announce();
CREATE TRIGGER notifications_announce_update AFTER UPDATE ON notifications
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION inbox_announce();
CREATE TRIGGER notifications_announce_delete AFTER DELETE ON notifications
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION inbox_announce();
CREATE TRIGGER inboxes_announce_insert AFTER INSERT ON inboxes
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION inbox_announce();
CREATE TRIGGER inboxes_announce_update AFTER UPDATE ON inboxes
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION inbox_announce();
CREATE TRIGGER inboxes_announce_delete AFTER DELETE ON inboxes
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION inbox_announce();

-- +goose Down
DROP TRIGGER inboxes_announce_delete ON inboxes;
DROP TRIGGER inboxes_announce_update ON inboxes;
DROP TRIGGER inboxes_announce_insert ON inboxes;
DROP TRIGGER notifications_announce_delete ON notifications;
DROP TRIGGER notifications_announce_update ON notifications;
DROP TRIGGER notifications_announce_insert ON notifications;
DROP TRIGGER tokens_announce_delete ON tokens;
DROP TRIGGER likes_announce_delete ON likes;
DROP TRIGGER likes_announce_insert ON likes;
DROP TRIGGER follows_announce_delete ON follows;
DROP TRIGGER follows_announce_insert ON follows;
DROP TRIGGER posts_announce_delete ON posts;
DROP TRIGGER posts_announce_update ON posts;
DROP TRIGGER posts_announce_insert ON posts;
DROP TRIGGER users_announce_delete ON users;
DROP TRIGGER users_announce_update ON users;
DROP TRIGGER users_announce_insert ON users;
DROP FUNCTION inbox_announce();
DROP FUNCTION tokens_announce();
DROP FUNCTION likes_announce();
DROP FUNCTION follows_announce();
DROP FUNCTION posts_announce();
DROP FUNCTION users_announce();
DROP FUNCTION announce_changes(text[]);
