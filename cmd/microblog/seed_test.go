package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"microblog/persistence"
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

// seedSteps feeds v what a seed reports of a load whose COPY goes on after
// its last row is sent, and of a long statement, with ticks between, at
// fixed times after start.
func seedSteps(v *seedView, start time.Time) {
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	follows := func(sent, total int64) persistence.SeedStep {
		return persistence.SeedStep{Name: "follows", Load: true, Sent: sent, Total: total}
	}
	v.update(follows(0, 100), at(0))
	v.update(follows(50, 100), at(1))
	v.tick(at(4))
	v.tick(at(5))
	v.update(follows(100, 100), at(6))
	v.tick(at(7))
	stored := follows(100, 100)
	stored.Database = "all rows stored, checking their foreign keys"
	v.update(stored, at(8))
	v.tick(at(11))
	stored.Done, stored.Database = true, ""
	v.update(stored, at(12.34))
	v.update(persistence.SeedStep{Name: "index posts_author_idx"}, at(12.34))
	v.update(persistence.SeedStep{Name: "index posts_author_idx", Database: "building index: scanning table: 1/2 blocks"}, at(13))
	v.tick(at(17.5))
	v.update(persistence.SeedStep{Name: "index posts_author_idx", Done: true}, at(70))
}

// TestSeedViewPlain: off a terminal, a line when a load has sent its rows
// and when a step ends, and a status line when nothing was printed for
// five seconds.
func TestSeedViewPlain(t *testing.T) {
	var out bytes.Buffer
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	seedSteps(newSeedView(&out, start), start)
	want := `seed: follows: 50/100 rows sent in 5s (5s)
seed: follows: all 100 rows sent in 6s, PostgreSQL is finishing the COPY (6s)
seed: follows: 100 rows sent, COPY running for 11s; PostgreSQL: all rows stored, checking their foreign keys (11s)
seed: follows done: 100 rows in 12.3s (12.3s)
seed: index posts_author_idx: running for 5.2s; PostgreSQL: building index: scanning table: 1/2 blocks (17.5s)
seed: index posts_author_idx done in 57.7s (1m10s)
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

// TestSeedViewTerminal: on a terminal, the same lines, and between them a
// status line redrawn in place, never wider than the terminal.
func TestSeedViewTerminal(t *testing.T) {
	var out bytes.Buffer
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v := newSeedView(&out, start)
	v.width = func() int { return 50 }
	seedSteps(v, start)
	var lines []string
	for _, line := range strings.Split(out.String(), "\n") {
		parts := strings.Split(line, "\r\033[K")
		for _, status := range parts[:len(parts)-1] {
			if n := utf8.RuneCountInString(status); n > 49 {
				t.Errorf("status line of %d characters on a terminal of 50: %q", n, status)
			}
		}
		if last := parts[len(parts)-1]; strings.HasPrefix(last, "seed: ") {
			lines = append(lines, last)
		}
	}
	want := []string{
		"seed: follows: all 100 rows sent in 6s, PostgreSQL is finishing the COPY (6s)",
		"seed: follows done: 100 rows in 12.3s (12.3s)",
		"seed: index posts_author_idx done in 57.7s (1m10s)",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	for _, status := range []string{"⠙ [==========          ] follows: 50/100 rows sen", "⠸ follows: 100 rows sent, COPY running for 7s", "⠼ follows: 100 rows sent, COPY running for 11s; P"} {
		if !strings.Contains(out.String(), "\r\033[K"+status) {
			t.Errorf("no status line %q in %q", status, out.String())
		}
	}
}
