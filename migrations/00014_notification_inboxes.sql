-- +goose Up
-- What the list of a user's notifications and its live stream need beyond
-- 00011:
--
--   - inboxes.total, how many notifications the user has, which pages the
--     list without counting it.
--   - Inboxes that stay right when notifications go: a notification goes
--     with its post, its message or either of its users, and the unread
--     count, the total and the version (which makes the list's ETag)
--     follow it. A rename of an actor bumps the version of the inboxes
--     that show the actor's username.
--   - One user's notifications commit in the order of their ids: notify
--     locks the recipient's inbox before the notification takes its id,
--     and the lock is held to the commit. A stream that resumes after the
--     id of the last event it sent (Last-Event-ID) so misses nothing that
--     commits later under a smaller id.
--
-- Lock order. A transaction locks inboxes after every other row it locks,
-- and the inboxes in the order of their user ids, so that nothing that
-- waits for an inbox holds what the inbox's holder will wait for: a follow
-- locks both users, then the inbox of the followed; a like the post, then
-- its author's inbox; marking read the notifications, then the inbox; a
-- rename the user, the posts that mention them and their authors, then
-- the inboxes; a new post its author, its parent and its tags, then the
-- inboxes of the parent's author and of the users it mentions, in id order
-- (posts_notify, whose triggers are renamed here to fire after the others
-- of posts, posts_tags and posts_touch_author among them); the deletion of
-- a post or a user the author, the parent and the tags, then the inboxes,
-- for the triggers of a cascaded delete fire after those of the statement
-- that caused it.
ALTER TABLE inboxes ADD COLUMN total bigint NOT NULL DEFAULT 0 CHECK (total >= 0);
-- Marking read finds a user's unread notifications up to an id without
-- passing over the read ones.
CREATE INDEX notifications_unread_idx ON notifications (user_id, id) WHERE NOT read;
UPDATE inboxes i SET (unread, total) = (
    SELECT count(*) FILTER (WHERE NOT n.read), count(*) FROM notifications n WHERE n.user_id = i.user_id);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION notify(recipient bigint, kind text, actor bigint, post bigint, message bigint, at timestamptz)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    nid bigint;
BEGIN
    IF recipient IS NULL OR recipient = actor THEN
        RETURN;
    END IF;
    IF kind = 'like' AND EXISTS (SELECT FROM notifications WHERE type = 'like' AND post_id = post AND actor_id = actor) THEN
        RETURN;
    END IF;
    INSERT INTO inboxes AS i (user_id, unread, total, version) VALUES (recipient, 1, 1, 1)
    ON CONFLICT (user_id) DO UPDATE SET unread = i.unread + 1, total = i.total + 1, version = i.version + 1;
    INSERT INTO notifications (user_id, type, actor_id, post_id, message_id, created_at)
    VALUES (recipient, kind, actor, post, message, at)
    ON CONFLICT (post_id, actor_id) WHERE type = 'like' DO NOTHING
    RETURNING id INTO nid;
    IF nid IS NULL THEN
        -- The like was told by a transaction that committed since the
        -- check above.
        UPDATE inboxes SET unread = unread - 1, total = total - 1 WHERE user_id = recipient;
        RETURN;
    END IF;
    PERFORM pg_notify('notifications', recipient::text || ' ' || nid::text);
END;
$$;

CREATE OR REPLACE FUNCTION posts_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    parent_author bigint;
    r             record;
BEGIN
    IF TG_OP = 'INSERT' AND NEW.parent_id IS NOT NULL THEN
        SELECT author_id INTO parent_author FROM posts WHERE id = NEW.parent_id;
    END IF;
    FOR r IN
        SELECT parent_author AS recipient, 'reply' AS kind, NEW.created_at AS at WHERE parent_author IS NOT NULL
        UNION ALL
        SELECT DISTINCT m, 'mention', NEW.updated_at FROM unnest(NEW.mentions) AS m
        WHERE (TG_OP = 'INSERT' OR NOT m = ANY (OLD.mentions)) AND m IS DISTINCT FROM parent_author
        ORDER BY 1
    LOOP
        PERFORM notify(r.recipient, r.kind, NEW.author_id, NEW.id, NULL, r.at);
    END LOOP;
    RETURN NULL;
END;
$$;

CREATE FUNCTION notifications_gone() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM FROM inboxes WHERE user_id IN (SELECT user_id FROM gone) ORDER BY user_id FOR NO KEY UPDATE;
    UPDATE inboxes i SET unread = i.unread - g.unread, total = i.total - g.total, version = i.version + 1
    FROM (
        SELECT user_id, count(*) FILTER (WHERE NOT read) AS unread, count(*) AS total FROM gone GROUP BY user_id
    ) g
    WHERE i.user_id = g.user_id;
    RETURN NULL;
END;
$$;

CREATE FUNCTION users_renamed_inboxes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM FROM inboxes WHERE user_id IN (SELECT user_id FROM notifications WHERE actor_id = NEW.id)
    ORDER BY user_id FOR NO KEY UPDATE;
    UPDATE inboxes SET version = version + 1
    WHERE user_id IN (SELECT user_id FROM notifications WHERE actor_id = NEW.id);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

ALTER TRIGGER posts_notify ON posts RENAME TO posts_zz_notify;
ALTER TRIGGER posts_notify_mentions ON posts RENAME TO posts_zz_notify_mentions;
CREATE TRIGGER notifications_gone AFTER DELETE ON notifications
REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION notifications_gone();
CREATE TRIGGER users_renamed_inboxes AFTER UPDATE OF username ON users
FOR EACH ROW WHEN (OLD.username IS DISTINCT FROM NEW.username) EXECUTE FUNCTION users_renamed_inboxes();

-- +goose Down
ALTER TRIGGER posts_zz_notify_mentions ON posts RENAME TO posts_notify_mentions;
ALTER TRIGGER posts_zz_notify ON posts RENAME TO posts_notify;
DROP TRIGGER users_renamed_inboxes ON users;
DROP TRIGGER notifications_gone ON notifications;
DROP FUNCTION users_renamed_inboxes();
DROP FUNCTION notifications_gone();

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION notify(recipient bigint, kind text, actor bigint, post bigint, message bigint, at timestamptz)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    nid bigint;
BEGIN
    IF recipient IS NULL OR recipient = actor THEN
        RETURN;
    END IF;
    INSERT INTO notifications (user_id, type, actor_id, post_id, message_id, created_at)
    VALUES (recipient, kind, actor, post, message, at)
    ON CONFLICT (post_id, actor_id) WHERE type = 'like' DO NOTHING
    RETURNING id INTO nid;
    IF nid IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO inboxes AS i (user_id, unread, version) VALUES (recipient, 1, 1)
    ON CONFLICT (user_id) DO UPDATE SET unread = i.unread + 1, version = i.version + 1;
    PERFORM pg_notify('notifications', recipient::text || ' ' || nid::text);
END;
$$;

CREATE OR REPLACE FUNCTION posts_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    parent_author bigint;
    mentioned     bigint;
BEGIN
    IF TG_OP = 'INSERT' AND NEW.parent_id IS NOT NULL THEN
        SELECT author_id INTO parent_author FROM posts WHERE id = NEW.parent_id;
        PERFORM notify(parent_author, 'reply', NEW.author_id, NEW.id, NULL, NEW.created_at);
    END IF;
    FOREACH mentioned IN ARRAY NEW.mentions LOOP
        IF (TG_OP = 'INSERT' OR NOT mentioned = ANY (OLD.mentions))
           AND mentioned IS DISTINCT FROM parent_author THEN
            PERFORM notify(mentioned, 'mention', NEW.author_id, NEW.id, NULL, NEW.updated_at);
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

DROP INDEX notifications_unread_idx;
ALTER TABLE inboxes DROP COLUMN total;
