-- +goose Up
CREATE TABLE posts (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    author_id  bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body       text        NOT NULL CHECK (char_length(body) BETWEEN 1 AND 140),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE INDEX posts_author_idx ON posts (author_id, created_at DESC, id DESC);
CREATE INDEX posts_created_idx ON posts (created_at DESC, id DESC);

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

-- +goose Down
DROP TABLE posts;
DROP FUNCTION posts_count();
