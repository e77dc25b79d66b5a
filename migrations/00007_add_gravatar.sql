-- +goose Up
-- Whether the user shows their Gravatar. Its URL carries a hash of the
-- email address, which anyone can test a guessed address against, so it is
-- the user's choice and off by default: the API draws an identicon instead.
ALTER TABLE users ADD COLUMN gravatar boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE users DROP COLUMN gravatar;
