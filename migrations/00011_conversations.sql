-- +goose Up
-- Conversations: replies, likes, private messages, and the notifications
-- that tell a user of them, of their new followers and of the posts that
-- mention them. A notification is written by a trigger in the transaction
-- of the act it tells of, so that neither is ever without the other, and
-- that transaction's commit announces it on the channel "notifications"
-- (payload: the recipient's id and the notification's id), which the
-- servers' listeners pass to the streams of the recipient.

-- Replies are posts with a parent. A parent's deletion keeps its replies,
-- without a parent. Counts of replies and likes are columns of the post,
-- kept by triggers as the follow counts are. A post's replies are listed
-- oldest first, in the order of their ids.
ALTER TABLE posts
    ADD COLUMN parent_id   bigint REFERENCES posts (id) ON DELETE SET NULL,
    ADD COLUMN reply_count bigint NOT NULL DEFAULT 0 CHECK (reply_count >= 0),
    ADD COLUMN like_count  bigint NOT NULL DEFAULT 0 CHECK (like_count >= 0);
CREATE INDEX posts_parent_idx ON posts (parent_id, id) WHERE parent_id IS NOT NULL;

-- A change of a post's counts is not a change of its author: the author's
-- user is touched only by what changes the text a post shows (its body,
-- tags and mentions, its parent, and the renames that bump its version),
-- so that a popular author's row is not a lock every like waits for. The
-- ETag of a user covers the versions of the posts it shows instead.
DROP TRIGGER posts_touch_author ON posts;
CREATE TRIGGER posts_touch_author AFTER UPDATE OF body, tags, mentions, parent_id, version ON posts
FOR EACH ROW EXECUTE FUNCTION posts_touch_author();

CREATE TABLE likes (
    post_id    bigint      NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (post_id, user_id)
);
-- A post's likers newest first, and a user's likes for their deletion.
CREATE INDEX likes_post_idx ON likes (post_id, created_at DESC, user_id DESC);
CREATE INDEX likes_user_idx ON likes (user_id);

CREATE TABLE messages (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sender_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    recipient_id bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body         text        NOT NULL CHECK (char_length(body) BETWEEN 1 AND 140),
    created_at   timestamptz NOT NULL,
    CHECK (sender_id <> recipient_id)
);
CREATE INDEX messages_sender_idx ON messages (sender_id, created_at DESC, id DESC);
CREATE INDEX messages_recipient_idx ON messages (recipient_id, created_at DESC, id DESC);

-- A notification tells user_id that actor_id did something: followed them
-- (follow), replied to their post (reply: post_id is the reply), liked
-- their post (like: post_id is the post), mentioned them (mention: post_id
-- is the post) or wrote to them (message).
CREATE TABLE notifications (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type       text        NOT NULL CHECK (type IN ('follow', 'reply', 'like', 'mention', 'message')),
    actor_id   bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    post_id    bigint      REFERENCES posts (id) ON DELETE CASCADE,
    message_id bigint      REFERENCES messages (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    read       boolean     NOT NULL DEFAULT false,
    CHECK (user_id <> actor_id),
    CHECK ((type IN ('reply', 'like', 'mention')) = (post_id IS NOT NULL)),
    CHECK ((type = 'message') = (message_id IS NOT NULL))
);
CREATE INDEX notifications_user_idx ON notifications (user_id, id DESC);
CREATE INDEX notifications_actor_idx ON notifications (actor_id);
CREATE INDEX notifications_post_idx ON notifications (post_id) WHERE post_id IS NOT NULL;
-- A like taken back and given again is told once.
CREATE UNIQUE INDEX notifications_like_once ON notifications (post_id, actor_id) WHERE type = 'like';

-- The state of a user's notifications: how many are unread, and a version
-- that every new notification and every marking read bumps, which makes
-- the ETag of the list without reading it. A row per user who was ever
-- notified.
CREATE TABLE inboxes (
    user_id bigint NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    unread  bigint NOT NULL DEFAULT 0 CHECK (unread >= 0),
    version bigint NOT NULL DEFAULT 0
);

-- +goose StatementBegin
CREATE FUNCTION notify(recipient bigint, kind text, actor bigint, post bigint, message bigint, at timestamptz)
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

CREATE FUNCTION follows_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM notify(NEW.followed_id, 'follow', NEW.follower_id, NULL, NULL, NEW.created_at);
    RETURN NULL;
END;
$$;

-- posts_count_replies keeps reply_count of the parent; posts_notify tells
-- the parent's author of a reply, and each user a post newly mentions
-- (on an edit, those the post did not mention before), but the parent's
-- author, who is told of the reply already.
CREATE FUNCTION posts_count_replies() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE posts SET reply_count = reply_count + 1 WHERE id = NEW.parent_id;
    ELSE
        UPDATE posts SET reply_count = reply_count - 1 WHERE id = OLD.parent_id;
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION posts_notify() RETURNS trigger
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

CREATE FUNCTION likes_count() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    author bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE posts SET like_count = like_count - 1 WHERE id = OLD.post_id;
        RETURN NULL;
    END IF;
    UPDATE posts SET like_count = like_count + 1 WHERE id = NEW.post_id RETURNING author_id INTO author;
    PERFORM notify(author, 'like', NEW.user_id, NEW.post_id, NULL, NEW.created_at);
    RETURN NULL;
END;
$$;

CREATE FUNCTION messages_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM notify(NEW.recipient_id, 'message', NEW.sender_id, NULL, NEW.id, NEW.created_at);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER follows_notify AFTER INSERT ON follows
FOR EACH ROW EXECUTE FUNCTION follows_notify();
CREATE TRIGGER posts_count_replies AFTER INSERT ON posts
FOR EACH ROW WHEN (NEW.parent_id IS NOT NULL) EXECUTE FUNCTION posts_count_replies();
CREATE TRIGGER posts_uncount_replies AFTER DELETE ON posts
FOR EACH ROW WHEN (OLD.parent_id IS NOT NULL) EXECUTE FUNCTION posts_count_replies();
CREATE TRIGGER posts_notify AFTER INSERT ON posts
FOR EACH ROW EXECUTE FUNCTION posts_notify();
CREATE TRIGGER posts_notify_mentions AFTER UPDATE OF mentions ON posts
FOR EACH ROW WHEN (OLD.mentions IS DISTINCT FROM NEW.mentions) EXECUTE FUNCTION posts_notify();
CREATE TRIGGER likes_count AFTER INSERT OR DELETE ON likes
FOR EACH ROW EXECUTE FUNCTION likes_count();
CREATE TRIGGER messages_notify AFTER INSERT ON messages
FOR EACH ROW EXECUTE FUNCTION messages_notify();

-- +goose Down
DROP TRIGGER messages_notify ON messages;
DROP TRIGGER likes_count ON likes;
DROP TRIGGER posts_notify_mentions ON posts;
DROP TRIGGER posts_notify ON posts;
DROP TRIGGER posts_uncount_replies ON posts;
DROP TRIGGER posts_count_replies ON posts;
DROP TRIGGER follows_notify ON follows;
DROP FUNCTION messages_notify();
DROP FUNCTION likes_count();
DROP FUNCTION posts_notify();
DROP FUNCTION posts_count_replies();
DROP FUNCTION follows_notify();
DROP FUNCTION notify(bigint, text, bigint, bigint, bigint, timestamptz);
DROP TABLE inboxes;
DROP TABLE notifications;
DROP TABLE messages;
DROP TABLE likes;
DROP TRIGGER posts_touch_author ON posts;
CREATE TRIGGER posts_touch_author AFTER UPDATE ON posts
FOR EACH ROW EXECUTE FUNCTION posts_touch_author();
DROP INDEX posts_parent_idx;
ALTER TABLE posts DROP COLUMN like_count, DROP COLUMN reply_count, DROP COLUMN parent_id;
