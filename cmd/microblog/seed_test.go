package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"microblog/persistence/pglocal"
)

// TestSeed seeds two fresh databases with one seed: the data are the same
// (times are the same distances before the moment of seeding),
// the counts on users and the totals equal the rows, the celebrity has its followers, the
// printed password logs in, and a second seed of a filled database is
// refused.
func TestSeed(t *testing.T) {
	args := []string{"seed", "--users", "300", "--follows-per-user", "7", "--posts-per-user", "3",
		"--celebrity-followers", "120", "--seed", "42", "--argon2-memory", "64", "--argon2-parallelism", "1"}
	var fingerprints []string
	for i := range 2 {
		srv, err := pglocal.Start(t.Context(), pglocal.Options{DataDir: t.TempDir() + "/pg"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Stop() })
		env := map[string]string{"DATABASE_URL": srv.URL("postgres")}
		out := &syncBuffer{}
		if err := run(t.Context(), args, envOf(env), out, io.Discard); err != nil {
			t.Fatalf("seed %d: %v\n%s", i, err, out)
		}
		if !strings.Contains(out.String(), `password "seed-password"`) || !strings.Contains(out.String(), "seed: follows") {
			t.Errorf("seed %d printed:\n%s", i, out)
		}
		conn, err := pgx.Connect(t.Context(), srv.URL("postgres"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.WithoutCancel(t.Context()))
		var users, posts, wrongTotals, wrongCounts, celebrity, selfFollows int
		var fingerprint string
		err = conn.QueryRow(t.Context(), `
			SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM posts),
			       (SELECT count(*) FROM totals WHERE n <> CASE WHEN shard > 0 THEN 0
			            WHEN name = 'users' THEN (SELECT count(*) FROM users) ELSE (SELECT count(*) FROM posts) END),
			       (SELECT count(*) FROM users u WHERE
			            follower_count <> (SELECT count(*) FROM follows WHERE followed_id = u.id)
			         OR following_count <> (SELECT count(*) FROM follows WHERE follower_id = u.id)
			         OR post_count <> (SELECT count(*) FROM posts WHERE author_id = u.id)),
			       (SELECT follower_count FROM users WHERE username = 'seed1'),
			       (SELECT count(*) FROM follows WHERE follower_id = followed_id),
			       (SELECT md5(string_agg(follower_id || '>' || followed_id || '@' || (s.created_at - f.created_at), ',' ORDER BY follower_id, followed_id))
			          FROM follows f, users s WHERE s.username = 'seed1')`).
			Scan(&users, &posts, &wrongTotals, &wrongCounts, &celebrity, &selfFollows, &fingerprint)
		if err != nil {
			t.Fatal(err)
		}
		if users != 300 || posts != 900 || wrongTotals != 0 || wrongCounts != 0 || celebrity < 120 || selfFollows != 0 {
			t.Errorf("seed %d: %d users, %d posts, %d wrong rows of totals, %d users with wrong counts, celebrity followers %d, self-follows %d",
				i, users, posts, wrongTotals, wrongCounts, celebrity, selfFollows)
		}
		fingerprints = append(fingerprints, fingerprint)
		if i == 0 {
			err := run(t.Context(), args, envOf(env), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), "already has users") {
				t.Errorf("seeding a filled database: %v", err)
			}
		}
	}
	if fingerprints[0] != fingerprints[1] {
		t.Error("the same seed gave different follows")
	}
}
