package persistence

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// catalog lists the indexes and the triggers of the seeded tables, with
// their definitions and whether each trigger is enabled.
func catalog(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	return rowsOf(t, pool, `
		SELECT pg_get_indexdef(indexrelid) FROM pg_index
		WHERE indrelid IN ('users'::regclass, 'follows'::regclass, 'posts'::regclass)
		UNION ALL
		SELECT tgenabled::text || ' ' || pg_get_triggerdef(oid) FROM pg_trigger
		WHERE tgrelid IN ('users'::regclass, 'follows'::regclass, 'posts'::regclass) AND NOT tgisinternal
		ORDER BY 1`)
}

// rowsOf returns the first column of the rows of query, as text.
func rowsOf(t *testing.T, pool *pgxpool.Pool, query string) []string {
	t.Helper()
	rows, err := pool.Query(t.Context(), query)
	if err != nil {
		t.Fatal(err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// TestSeedKeepsIndexesAndTriggers adds an index and triggers as a later
// migration might, and seeds: the seed builds every secondary index after
// the load, the new one included, disables the enabled insert triggers
// during the load and leaves every trigger in the state it found it.
func TestSeedKeepsIndexesAndTriggers(t *testing.T) {
	t.Parallel()
	s, pool := NewTestStore(t)
	ctx := t.Context()
	_, err := pool.Exec(ctx, `
		CREATE INDEX posts_body_idx ON posts (body);
		CREATE TABLE inserted (n int);
		CREATE FUNCTION note_insert() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN INSERT INTO inserted VALUES (1); RETURN NULL; END; $$;
		CREATE TRIGGER posts_noted AFTER INSERT ON posts FOR EACH ROW EXECUTE FUNCTION note_insert();
		CREATE TRIGGER posts_always AFTER INSERT ON posts FOR EACH STATEMENT EXECUTE FUNCTION note_insert();
		ALTER TABLE posts ENABLE ALWAYS TRIGGER posts_always;
		CREATE TRIGGER posts_off AFTER INSERT ON posts FOR EACH STATEMENT EXECUTE FUNCTION note_insert();
		ALTER TABLE posts DISABLE TRIGGER posts_off`)
	if err != nil {
		t.Fatal(err)
	}
	before := catalog(t, pool)
	var steps []SeedStep
	err = s.Seed(ctx, SeedOptions{Users: 20, FollowsPerUser: 3, PostsPerUser: 2, Seed: 1, Password: "12345678"},
		func(st SeedStep) { steps = append(steps, st) })
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, catalog(t, pool)); diff != "" {
		t.Errorf("indexes and triggers after the seed (-before +after):\n%s", diff)
	}
	var noted int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM inserted`).Scan(&noted); err != nil {
		t.Fatal(err)
	}
	if noted != 0 {
		t.Errorf("the insert triggers fired %d times during the load", noted)
	}
	var ended []string
	for _, st := range steps {
		if st.Done {
			ended = append(ended, st.Name)
		}
		if st.Done && st.Load && (st.Sent != st.Total || st.Sent == 0) {
			t.Errorf("%s ended with %d of %d rows sent", st.Name, st.Sent, st.Total)
		}
	}
	want := []string{"users", "follows", "posts", "counts", "tags", "index follows_followed_idx", "index follows_follower_idx",
		"index posts_author_idx", "index posts_body_idx", "index posts_created_idx", "index posts_mentions_idx", "index posts_parent_idx", "index posts_search_idx",
		"index users_username_prefix_idx", "index users_username_suffixes_idx", "vacuum users", "analyze"}
	if diff := cmp.Diff(want, ended); diff != "" {
		t.Errorf("steps ended (-want +got):\n%s", diff)
	}
}

// TestSeedInterrupted cancels a seed during its load: the database is left
// as it was, with no rows and all its indexes and triggers.
func TestSeedInterrupted(t *testing.T) {
	t.Parallel()
	s, pool := NewTestStore(t)
	before := catalog(t, pool)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	err := s.Seed(ctx, SeedOptions{Users: 20, FollowsPerUser: 3, PostsPerUser: 2, Seed: 1, Password: "12345678"},
		func(st SeedStep) {
			if st.Name == "follows" {
				cancel()
			}
		})
	if err == nil {
		t.Fatal("an interrupted seed returned no error")
	}
	var users int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM users`).Scan(&users); err != nil {
		t.Fatal(err)
	}
	if users != 0 {
		t.Errorf("%d users after an interrupted seed", users)
	}
	if diff := cmp.Diff(before, catalog(t, pool)); diff != "" {
		t.Errorf("indexes and triggers after an interrupted seed (-before +after):\n%s", diff)
	}
}

// TestSelectWork asks the progress views about a COPY in progress, as the
// seed's watch does.
func TestSelectWork(t *testing.T) {
	t.Parallel()
	_, pool := NewTestStore(t)
	ctx := t.Context()
	if _, err := pool.Exec(ctx, `CREATE TABLE numbers (n int)`); err != nil {
		t.Fatal(err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	pid := int32(conn.Conn().PgConn().PID())
	var work string
	var stored *int64
	if err := pool.QueryRow(ctx, selectWork, pid).Scan(&work, &stored); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("an idle backend: %q, %v", work, err)
	}
	release := make(chan struct{})
	copied := make(chan error, 1)
	go func() {
		_, err := conn.CopyFrom(ctx, pgx.Identifier{"numbers"}, []string{"n"}, &blockingSource{release: release})
		copied <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := pool.QueryRow(ctx, selectWork, pid).Scan(&work, &stored)
		if err == nil {
			break
		}
		if !errors.Is(err, pgx.ErrNoRows) || time.Now().After(deadline) {
			t.Fatalf("a COPY in progress: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	if err := <-copied; err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(work, " rows stored") || stored == nil {
		t.Errorf("a COPY in progress: %q, %v", work, stored)
	}
}

// blockingSource is a COPY source that starts the COPY and gives its one
// row once release is closed.
type blockingSource struct {
	release chan struct{}
	sent    bool
}

func (b *blockingSource) Next() bool {
	<-b.release
	if b.sent {
		return false
	}
	b.sent = true
	return true
}

func (b *blockingSource) Values() ([]any, error) { return []any{1}, nil }
func (b *blockingSource) Err() error             { return nil }

func TestDescribeWork(t *testing.T) {
	n := int64(7)
	tests := []struct {
		step SeedStep
		want string
	}{
		{SeedStep{Load: true, Sent: 5, Total: 9}, "5 rows stored"},
		{SeedStep{Load: true, Sent: 7, Total: 7}, "all rows stored, checking their foreign keys"},
		{SeedStep{Name: "analyze"}, "5 rows stored"},
	}
	for _, tt := range tests {
		if got := describeWork(tt.step, "5 rows stored", &n); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.step, got, tt.want)
		}
	}
}

// TestSeedPosts seeds posts: each has the tags and mentions that
// Hashtags and Mentions find in its body, some have tags and some mention
// a user, and post_tags and tags hold what the trigger posts_tags makes of
// the same posts when they are inserted one by one.
func TestSeedPosts(t *testing.T) {
	t.Parallel()
	s, pool := NewTestStore(t)
	ctx := t.Context()
	if err := s.Seed(ctx, SeedOptions{Users: 60, FollowsPerUser: 2, PostsPerUser: 5, Seed: 3, Password: "12345678"}, nil); err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, `
		SELECT p.body, p.tags, p.mentions, ARRAY(SELECT u.username FROM unnest(p.mentions) WITH ORDINALITY AS m (id, i)
		                                         JOIN users u ON u.id = m.id ORDER BY m.i)
		FROM posts p ORDER BY p.id`)
	if err != nil {
		t.Fatal(err)
	}
	var body string
	var tags, names []string
	var mentions []int64
	var tagged, mentioning, bodies int
	_, err = pgx.ForEachRow(rows, []any{&body, &tags, &mentions, &names}, func() error {
		bodies++
		if diff := cmp.Diff(tagsOf(body), tags); diff != "" {
			t.Errorf("tags of %q (-Hashtags +column):\n%s", body, diff)
		}
		if diff := cmp.Diff(Mentions(body), names, cmpopts.EquateEmpty()); diff != "" || len(names) != len(mentions) {
			t.Errorf("mentions %v of %q, users %v (-Mentions +users):\n%s", mentions, body, names, diff)
		}
		tagged += min(len(tags), 1)
		mentioning += min(len(mentions), 1)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if bodies != 300 || tagged == 0 || tagged == bodies || mentioning == 0 || mentioning == bodies {
		t.Errorf("%d posts, %d with tags, %d with mentions", bodies, tagged, mentioning)
	}

	const postTags, tagCounts = `SELECT concat_ws(' ', tag, created_at, post_id) FROM post_tags ORDER BY 1`,
		`SELECT concat_ws(' ', name, post_count) FROM tags ORDER BY 1`
	seeded, seededCounts := rowsOf(t, pool, postTags), rowsOf(t, pool, tagCounts)
	// The same posts again, inserted with the triggers on.
	_, err = pool.Exec(ctx, `
		CREATE TEMP TABLE seeded AS SELECT id, author_id, body, created_at, updated_at, tags, mentions FROM posts;
		TRUNCATE post_tags, tags;
		DELETE FROM posts;
		INSERT INTO posts (id, author_id, body, created_at, updated_at, tags, mentions) OVERRIDING SYSTEM VALUE
		SELECT * FROM seeded ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rowsOf(t, pool, postTags), seeded); diff != "" || len(seeded) < tagged {
		t.Errorf("post_tags of %d tagged posts (-trigger +seed):\n%s", tagged, diff)
	}
	if diff := cmp.Diff(rowsOf(t, pool, tagCounts), seededCounts); diff != "" || len(seededCounts) == 0 {
		t.Errorf("tags (-trigger +seed):\n%s", diff)
	}
}
