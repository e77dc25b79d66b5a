-- +goose Up
-- How many messages each user has sent and received, kept by a trigger in
-- the transaction of the message, so that a page of a user's messages reads
-- its total from one row instead of counting them: the page itself is read
-- from the two indexes of messages, whatever its depth, and so is its
-- total now. A row per user who ever sent or received a message. It is not
-- a column of users: a message changes neither party's representation,
-- and a users row written on every message would bump the version of both.
CREATE TABLE mailboxes (
    user_id       bigint NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    message_count bigint NOT NULL DEFAULT 0 CHECK (message_count >= 0)
);

INSERT INTO mailboxes (user_id, message_count)
SELECT party, count(*)
FROM (SELECT sender_id AS party FROM messages UNION ALL SELECT recipient_id FROM messages) m
GROUP BY party;

-- +goose StatementBegin
CREATE FUNCTION messages_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Both parties' rows in id order, so that two users writing to each
    -- other at once cannot take the row locks in opposite orders: a
    -- multi-row INSERT takes them in the order of its rows.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO mailboxes AS b (user_id, message_count)
        VALUES (least(NEW.sender_id, NEW.recipient_id), 1), (greatest(NEW.sender_id, NEW.recipient_id), 1)
        ON CONFLICT (user_id) DO UPDATE SET message_count = b.message_count + 1;
    ELSE
        UPDATE mailboxes SET message_count = message_count - 1
        WHERE user_id = least(OLD.sender_id, OLD.recipient_id);
        UPDATE mailboxes SET message_count = message_count - 1
        WHERE user_id = greatest(OLD.sender_id, OLD.recipient_id);
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER messages_count AFTER INSERT OR DELETE ON messages
FOR EACH ROW EXECUTE FUNCTION messages_count();

-- +goose Down
DROP TRIGGER messages_count ON messages;
DROP FUNCTION messages_count();
DROP TABLE mailboxes;
