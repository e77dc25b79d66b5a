-- +goose Up
-- Exports of a user's posts (the tutorial's chapter 22), as job resources.
-- A row here and its job in river's queue are inserted in one transaction.
-- The job writes the export's file into export_chunks, a batch of posts a
-- chunk, each chunk in a transaction of its own that also moves the
-- export's cursor (the last post written) and its progress: polls see it
-- move, and a job run again after a crash or a cancel resumes at the last
-- chunk that committed, never writing a post twice. The file is whole only
-- when the state is done, which the transaction that writes its last chunk
-- sets. Any instance serves the download, a few chunks at a time.
CREATE TABLE exports (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    state       text        NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
    progress    smallint    NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    -- The river job that works it; river forgets finished jobs, so no
    -- foreign key.
    job_id      bigint,
    -- total is the number of posts to write, counted when the job began;
    -- post_count, chunks and size are what is written so far.
    total       bigint      NOT NULL DEFAULT 0 CHECK (total >= 0),
    post_count  bigint      NOT NULL DEFAULT 0 CHECK (post_count >= 0),
    chunks      integer     NOT NULL DEFAULT 0 CHECK (chunks >= 0),
    size        bigint      NOT NULL DEFAULT 0 CHECK (size >= 0),
    -- The export holds the user's posts up to the newest when it began
    -- (upto), oldest first: cursor is the last written, -infinity before
    -- the first.
    upto_at     timestamptz NOT NULL DEFAULT '-infinity',
    upto_id     bigint      NOT NULL DEFAULT 0,
    cursor_at   timestamptz NOT NULL DEFAULT '-infinity',
    cursor_id   bigint      NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL,
    started_at  timestamptz,
    finished_at timestamptz,
    CHECK ((state IN ('done', 'failed')) = (finished_at IS NOT NULL))
);

-- At most one export of a user is queued or running: a second request is
-- sent to it.
CREATE UNIQUE INDEX exports_pending_key ON exports (user_id) WHERE state IN ('queued', 'running');
CREATE INDEX exports_user_idx ON exports (user_id, id);

CREATE TABLE export_chunks (
    export_id bigint  NOT NULL REFERENCES exports (id) ON DELETE CASCADE,
    seq       integer NOT NULL CHECK (seq >= 0),
    data      bytea   NOT NULL,
    PRIMARY KEY (export_id, seq)
);

-- +goose Down
DROP TABLE export_chunks;
DROP TABLE exports;
