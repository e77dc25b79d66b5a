-- +goose Up
-- The number of users and of posts, kept by triggers so that a page of
-- either collection reads its total in constant time instead of counting the
-- table. Each total is spread over 16 rows, and a session adds to the row of
-- its backend process: concurrent inserts from the pool's connections do not
-- queue on one row lock. A total is the sum of its 16 rows.
CREATE TABLE totals (
    name  text     NOT NULL,
    shard smallint NOT NULL,
    n     bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (name, shard)
);

INSERT INTO totals (name, shard, n)
SELECT t.name, s.shard, CASE WHEN s.shard = 0 THEN t.n ELSE 0 END
FROM (SELECT 'users' AS name, count(*) AS n FROM users
      UNION ALL SELECT 'posts', count(*) FROM posts) t
CROSS JOIN generate_series(0, 15) AS s (shard);

-- +goose StatementBegin
CREATE FUNCTION count_total() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    delta bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT count(*) INTO delta FROM inserted;
    ELSE
        SELECT -count(*) INTO delta FROM deleted;
    END IF;
    IF delta <> 0 THEN
        UPDATE totals SET n = n + delta WHERE name = TG_ARGV[0] AND shard = pg_backend_pid() % 16;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER users_total_insert AFTER INSERT ON users
REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION count_total('users');
CREATE TRIGGER users_total_delete AFTER DELETE ON users
REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION count_total('users');
CREATE TRIGGER posts_total_insert AFTER INSERT ON posts
REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION count_total('posts');
CREATE TRIGGER posts_total_delete AFTER DELETE ON posts
REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION count_total('posts');

-- +goose Down
DROP TRIGGER posts_total_delete ON posts;
DROP TRIGGER posts_total_insert ON posts;
DROP TRIGGER users_total_delete ON users;
DROP TRIGGER users_total_insert ON users;
DROP FUNCTION count_total();
DROP TABLE totals;
