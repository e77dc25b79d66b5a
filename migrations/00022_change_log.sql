-- +goose Up
-- The topics a commit changed (migration 00021) are written to a table
-- instead of being sent with pg_notify, and each instance reads what
-- committed since its last look, every 100 ms (persistence/changes.go).
-- A transaction that notifies takes a lock that every other notifying
-- commit of the database waits for, and its commit wakes every listening
-- connection: that halved the rate at which one connection could insert
-- posts (8.9k a second against 15.5k written here, pgbench, fsync off).
-- A row here costs an insert, and is read by a range of its index.
--
-- xid is the transaction that wrote the row: a reader that took a
-- snapshot reads next the rows of transactions that were running then or
-- began after (pg_snapshot_xip, pg_snapshot_xmax), which are exactly the
-- rows it could not see, whatever order they commit in. Rows are deleted a
-- minute after their transaction ended (Changes.Run).
CREATE TABLE changes (
    xid    xid8 NOT NULL DEFAULT pg_current_xact_id(),
    topics text NOT NULL
);
CREATE INDEX changes_xid_idx ON changes (xid);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION announce_changes(topics text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(topics) = 0 THEN
        RETURN;
    END IF;
    IF cardinality(topics) > 400 THEN
        INSERT INTO changes (topics) VALUES ('*');
        RETURN;
    END IF;
    INSERT INTO changes (topics) VALUES (array_to_string(topics, ' '));
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION announce_changes(topics text[]) RETURNS void
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
DROP TABLE changes;
