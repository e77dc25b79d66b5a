-- +goose Up
-- Usernames are found by substring through an index of every suffix of
-- the lower-cased name: a substring of a name is a prefix of one of its
-- suffixes, which a text-search prefix query (name:*) finds in a GIN index
-- of them. Measured at a million users named seed1 to seed1000000, the
-- trigram index of migration 8 read 606 pages to find the 11 users of
-- "seed12345" (8 ms: every name holds the trigrams of "seed", and GIN
-- walks their million-entry lists), this one 0.3 ms; it also serves one-
-- and two-character queries, which trigrams cannot. It is larger (244 MB
-- against 34 MB at a million users), and replaces the trigram index.
-- +goose StatementBegin
CREATE FUNCTION username_suffixes(name text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT array_to_tsvector(ARRAY(SELECT substr(name, i) FROM generate_series(1, length(name)) AS i))
$$;
-- +goose StatementEnd

CREATE INDEX users_username_suffixes_idx ON users USING gin (username_suffixes(lower(username)));
DROP INDEX users_username_trgm_idx;

-- +goose Down
CREATE INDEX users_username_trgm_idx ON users USING gin (lower(username) gin_trgm_ops);
DROP INDEX users_username_suffixes_idx;
DROP FUNCTION username_suffixes(text);
