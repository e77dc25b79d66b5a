package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
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

// seedSteps feeds v what a seed reports, at fixed times after start, of a
// load whose COPY goes on after its last row is sent and of a long
// statement, with the reports Seed makes about once a second between.
func seedSteps(v *seedView, start time.Time) {
	report := func(at float64, s persistence.SeedStep) {
		v.update(s, start.Add(time.Duration(at*float64(time.Second))))
	}
	follows := persistence.SeedStep{Name: "follows", Load: true, Total: 100}
	report(0, follows)
	follows.Sent = 50
	report(1, follows)
	report(4, follows)
	report(5, follows)
	follows.Sent = 100
	report(6, follows)
	report(7, follows)
	follows.Database = "all rows stored, checking their foreign keys"
	report(8, follows)
	report(11, follows)
	follows.Done, follows.Database = true, ""
	report(12.34, follows)
	index := persistence.SeedStep{Name: "index posts_author_idx"}
	report(12.34, index)
	index.Database = "building index: scanning table: 1/2 blocks"
	report(13, index)
	report(17.5, index)
	index.Done, index.Database = true, ""
	report(70, index)
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

// onTerminal runs seedSteps on a terminal of the given width, with every
// report redrawn, and returns the status lines progressbar drew, the lines
// printed, and what preceded each printed line on its terminal line.
func onTerminal(width int) (status, lines, before []string) {
	var out bytes.Buffer
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v := newSeedView(&out, start)
	v.width, v.redraw = func() int { return width }, 0
	seedSteps(v, start)
	v.clear()
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		drawn, printed, _ := strings.Cut(line, "seed: ")
		for _, s := range strings.Split(drawn, "\r") {
			if s = strings.TrimSuffix(strings.TrimSuffix(s, "\033[2K"), "\033[0K"); s != "" {
				status = append(status, s)
			}
		}
		lines, before = append(lines, "seed: "+printed), append(before, drawn)
	}
	return status, lines, before
}

// TestSeedViewTerminal: on a terminal, the same lines, each printed where
// the status line was cleared, and between them a status line, never as
// wide as the terminal, with a bar while rows are sent, saying what runs
// and what PostgreSQL reports.
func TestSeedViewTerminal(t *testing.T) {
	status, lines, before := onTerminal(104)
	want := []string{
		"seed: follows: all 100 rows sent in 6s, PostgreSQL is finishing the COPY (6s)",
		"seed: follows done: 100 rows in 12.3s (12.3s)",
		"seed: index posts_author_idx done in 57.7s (1m10s)",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	for i, b := range before {
		if !strings.HasSuffix(b, "\033[2K\r") {
			t.Errorf("line %q printed after %q, not on a cleared line", lines[i], b)
		}
	}
	for _, s := range status {
		if n := utf8.RuneCountInString(s); n > 103 {
			t.Errorf("status line of %d characters on a terminal of 104: %q", n, s)
		}
	}
	all := strings.Join(status, "\n")
	for _, want := range []string{
		`^  50% \|█{10} {10}\|  \[\d+s\] follows: 50/100 rows sent $`,
		`^\S  \[\d+s\] follows: 100 rows sent, COPY running; PostgreSQL: all rows stored, checking their foreig… $`,
		`^\S  \[\d+s\] index posts_author_idx: running; PostgreSQL: building index: scanning table: 1/2 blocks $`,
	} {
		if !regexp.MustCompile("(?m)" + want).MatchString(all) {
			t.Errorf("no status line like %q in:\n%s", want, all)
		}
	}
}
