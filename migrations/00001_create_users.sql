-- +goose Up
CREATE TABLE users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username        text        NOT NULL CHECK (username ~ '^[A-Za-z0-9._-]{1,64}$'),
    email           text        NOT NULL CHECK (char_length(email) BETWEEN 3 AND 120),
    password_hash   text        NOT NULL,
    about_me        text        NOT NULL DEFAULT '' CHECK (char_length(about_me) <= 140),
    last_seen       timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    -- Kept by triggers on follows and posts, so that a page of users reads
    -- its counts from the rows it already fetches, whatever the table sizes.
    post_count      bigint      NOT NULL DEFAULT 0 CHECK (post_count >= 0),
    follower_count  bigint      NOT NULL DEFAULT 0 CHECK (follower_count >= 0),
    following_count bigint      NOT NULL DEFAULT 0 CHECK (following_count >= 0)
);

-- Usernames are ASCII, so lower() is the same in every collation. Emails are
-- stored NFC-normalised by the application, so that this index also catches
-- two spellings of one address that differ only by Unicode normalisation.
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- +goose Down
DROP TABLE users;
