-- +goose Up
-- users_announce (migration 00021) told a rename apart by joining the old
-- rows of a statement with its new ones, in transition tables that have no
-- index: a statement that updates many users compared each row with every
-- other. The seed's update of the counts of a million users ran for more
-- than twenty minutes in it. An update of more than 400 users announces
-- "*", everything, anyway; the join now runs only below that. The ids of
-- an update are distinct, so they need no DISTINCT either.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION users_announce() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    topics text[];
BEGIN
    IF TG_OP = 'UPDATE' THEN
        topics := ARRAY(SELECT 'u' || id FROM new_rows LIMIT 401);
        IF cardinality(topics) <= 400 AND EXISTS (
            SELECT 1 FROM old_rows o JOIN new_rows n USING (id)
            WHERE o.username IS DISTINCT FROM n.username OR o.about_me IS DISTINCT FROM n.about_me) THEN
            topics := topics || ARRAY['N'];
        END IF;
    ELSIF TG_OP = 'INSERT' THEN
        topics := ARRAY(SELECT 'u' || id FROM new_rows LIMIT 401) || ARRAY['U', 'N'];
    ELSE
        topics := ARRAY(SELECT 'u' || id FROM old_rows LIMIT 401) || ARRAY['U', 'N'];
    END IF;
    PERFORM announce_changes(topics);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION users_announce() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        PERFORM announce_changes(ARRAY(SELECT DISTINCT 'u' || id FROM new_rows LIMIT 401) ||
            CASE WHEN EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n USING (id)
                              WHERE o.username IS DISTINCT FROM n.username OR o.about_me IS DISTINCT FROM n.about_me)
                 THEN ARRAY['N'] ELSE '{}' END);
    ELSIF TG_OP = 'INSERT' THEN
        PERFORM announce_changes(ARRAY(SELECT 'u' || id FROM new_rows LIMIT 401) || ARRAY['U', 'N']);
    ELSE
        PERFORM announce_changes(ARRAY(SELECT 'u' || id FROM old_rows LIMIT 401) || ARRAY['U', 'N']);
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
