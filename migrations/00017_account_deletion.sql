-- +goose Up
-- What deleting an account (DELETE /api/users/{id}) needs beyond the
-- cascades of the foreign keys and the triggers that keep the counts.
--
-- A message's notification goes with it (ON DELETE CASCADE), which finds
-- it by message_id: without an index each message deleted scanned every
-- notification, and deleting an account that had written or received
-- 10,000 messages among 40,000 notifications took 15 s instead of 4.
CREATE INDEX notifications_message_idx ON notifications (message_id) WHERE message_id IS NOT NULL;

-- A post names users by id, with no foreign key (an array has none), and
-- a user's deletion takes them out of the posts that name them
-- (migration 10). A post written or edited while the user it names is
-- being deleted is not among those: it would keep the id of a user who is
-- gone, and its notification of them would fail on the foreign key of
-- notifications, failing the post. So a post locks the users it names as a
-- foreign key check would (FOR KEY SHARE, in id order, before its other
-- locks: it waits for the deletion, if any, and blocks none but another
-- deletion) and keeps only those who still exist.
-- +goose StatementBegin
CREATE FUNCTION posts_mentions_exist() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM FROM users WHERE id = ANY (NEW.mentions) ORDER BY id FOR KEY SHARE;
    NEW.mentions := ARRAY(
        SELECT m FROM unnest(NEW.mentions) WITH ORDINALITY AS x (m, i)
        WHERE EXISTS (SELECT FROM users WHERE id = m)
        ORDER BY i);
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER posts_mentions_exist BEFORE INSERT OR UPDATE OF mentions ON posts
FOR EACH ROW WHEN (cardinality(NEW.mentions) > 0) EXECUTE FUNCTION posts_mentions_exist();

-- +goose Down
DROP TRIGGER posts_mentions_exist ON posts;
DROP FUNCTION posts_mentions_exist();
DROP INDEX notifications_message_idx;
