package migrations

import (
	"context"
	"database/sql"
	"strings"

	"github.com/pressly/goose/v3"

	"microblog/persistence"
)

// backfillTags is migration 9: it finds the hashtags and mentions of the
// posts written before migration 8 gave posts those columns, with the
// rules that new posts follow (persistence.Hashtags and Mentions, Go's,
// which a SQL migration could not share). It reads the posts in batches by
// id and updates only those that tag or mention something.
var backfillTags = goose.NewGoMigration(9, &goose.GoFunc{RunTx: backfill}, &goose.GoFunc{Mode: goose.TransactionEnabled})

// backfillBatch is how many posts backfill reads at a time.
const backfillBatch = 5000

// setTagsAndMentions updates the posts of $1 with the tags $2 and the
// users named $3, both space-separated (neither a tag nor a username holds
// a space), in order.
const setTagsAndMentions = `
	UPDATE posts p
	SET tags = string_to_array(b.tags, ' '),
	    mentions = ARRAY(
		SELECT u.id FROM unnest(string_to_array(b.names, ' ')) WITH ORDINALITY AS n (name, i)
		JOIN users u ON lower(u.username) = lower(n.name)
		ORDER BY n.i)
	FROM unnest($1::bigint[], $2::text[], $3::text[]) AS b (id, tags, names)
	WHERE p.id = b.id`

func backfill(ctx context.Context, tx *sql.Tx) error {
	var after int64
	for {
		ids, tags, names, last, err := readBatch(ctx, tx, after)
		if err != nil || last == 0 {
			return err
		}
		if len(ids) > 0 {
			if _, err := tx.ExecContext(ctx, setTagsAndMentions, ids, tags, names); err != nil {
				return err
			}
		}
		after = last
	}
}

// readBatch reads the posts after id after, and returns the ids, tags and
// mentioned names of those that have any, and the last id read: 0 when
// there was no post left.
func readBatch(ctx context.Context, tx *sql.Tx, after int64) (ids []int64, tags, names []string, last int64, err error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, body FROM posts WHERE id > $1 ORDER BY id LIMIT $2`, after, backfillBatch)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var body string
		if err := rows.Scan(&last, &body); err != nil {
			return nil, nil, nil, 0, err
		}
		t, n := persistence.Hashtags(body), persistence.Mentions(body)
		if len(t) > 0 || len(n) > 0 {
			ids = append(ids, last)
			tags = append(tags, strings.Join(t, " "))
			names = append(names, strings.Join(n, " "))
		}
	}
	return ids, tags, names, last, rows.Err()
}
