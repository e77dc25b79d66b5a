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

// catalog lists the indexes, the triggers and the constraints of the
// seeded tables, with their definitions and whether each trigger is
// enabled.
func catalog(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	return rowsOf(t, pool, `
		SELECT pg_get_indexdef(indexrelid) FROM pg_index
		WHERE indrelid = ANY ($1::text[]::regclass[])
		UNION ALL
		SELECT tgenabled::text || ' ' || pg_get_triggerdef(oid) FROM pg_trigger
		WHERE tgrelid = ANY ($1::text[]::regclass[]) AND NOT tgisinternal
		UNION ALL
		SELECT format('%s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid)) FROM pg_constraint
		WHERE conrelid = ANY ($1::text[]::regclass[])
		ORDER BY 1`, seedTables())
}

// rowsOf returns the first column of the rows of query, as text.
func rowsOf(t *testing.T, pool *pgxpool.Pool, query string, args ...any) []string {
	t.Helper()
	rows, err := pool.Query(t.Context(), query, args...)
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
// during the load, leaves every trigger in the state it found it, and
// adds back every foreign key it dropped.
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
	err = s.Seed(ctx, SeedOptions{Users: 20, FollowsPerUser: 3, PostsPerUser: 2, LikesPerUser: 2, Seed: 1, Password: "12345678"},
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
	want := []string{"users", "follows", "posts", "likes", "notifications", "counts", "tags",
		"index follows_followed_idx", "index follows_follower_idx", "index likes_post_idx", "index likes_user_idx",
		"index notifications_actor_idx", "index notifications_message_idx", "index notifications_post_idx", "index notifications_unread_idx", "index notifications_user_idx",
		"index posts_author_idx", "index posts_body_idx", "index posts_created_idx", "index posts_mentions_idx",
		"index posts_parent_idx", "index posts_search_idx", "index users_username_prefix_idx", "index users_username_suffixes_idx",
		"foreign key follows_followed_id_fkey", "foreign key follows_follower_id_fkey", "foreign key inboxes_user_id_fkey",
		"foreign key likes_post_id_fkey", "foreign key likes_user_id_fkey", "foreign key notifications_actor_id_fkey",
		"foreign key notifications_message_id_fkey", "foreign key notifications_post_id_fkey", "foreign key notifications_user_id_fkey",
		"foreign key posts_author_id_fkey", "foreign key posts_parent_id_fkey", "vacuum users", "vacuum posts", "vacuum and analyze"}
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
	if err := pool.QueryRow(ctx, selectWork, pid).Scan(&work); !errors.Is(err, pgx.ErrNoRows) {
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
		err := pool.QueryRow(ctx, selectWork, pid).Scan(&work)
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
	if !strings.HasSuffix(work, " rows stored") {
		t.Errorf("a COPY in progress: %q", work)
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

// TestSeedConversations seeds replies, likes and a hot post. Each reply
// comes after its parent, nobody likes their own post, the hot post is
// the first user's newest and has its likes; and the counts of users and
// posts, the notifications and the inboxes equal those that the triggers
// make of the same rows inserted one by one.
func TestSeedConversations(t *testing.T) {
	t.Parallel()
	s, pool := NewTestStore(t)
	ctx := t.Context()
	opts := SeedOptions{Users: 50, FollowsPerUser: 3, PostsPerUser: 4, CelebrityFollowers: 10, RepliesPercent: 30,
		LikesPerUser: 3, HotPostLikes: 20, Seed: 5, Password: "12345678"}
	if err := s.Seed(ctx, opts, nil); err != nil {
		t.Fatal(err)
	}
	var replies, early, likes, ownLikes, hotLikes, mentions, wrongUnread int
	err := pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM posts WHERE parent_id IS NOT NULL),
		       (SELECT count(*) FROM posts r JOIN posts p ON p.id = r.parent_id WHERE r.created_at < p.created_at OR r.id < p.id),
		       (SELECT count(*) FROM likes),
		       (SELECT count(*) FROM likes l JOIN posts p ON p.id = l.post_id WHERE p.author_id = l.user_id),
		       (SELECT count(*) FROM likes WHERE post_id = (
		            SELECT p.id FROM posts p JOIN users u ON u.id = p.author_id WHERE u.username = 'seed1'
		            ORDER BY p.created_at DESC, p.id DESC LIMIT 1)),
		       (SELECT count(*) FROM notifications WHERE type = 'mention'),
		       (SELECT count(*) FROM inboxes i
		        WHERE unread <> (SELECT count(*) FROM notifications WHERE user_id = i.user_id AND NOT read))`).
		Scan(&replies, &early, &likes, &ownLikes, &hotLikes, &mentions, &wrongUnread)
	if err != nil {
		t.Fatal(err)
	}
	if replies == 0 || replies > 100 || early != 0 || likes != 50*3+20 || ownLikes != 0 || hotLikes != 20 || mentions == 0 || wrongUnread != 0 {
		t.Errorf("%d replies of 200 posts, %d before their parents; %d likes, want 170, %d of them of one's own posts; "+
			"the hot post has %d, want 20; %d mentions told; %d inboxes with a wrong unread count",
			replies, early, likes, ownLikes, hotLikes, mentions, wrongUnread)
	}

	const state = `
		SELECT concat_ws(' ', 'user', id, follower_count, following_count, post_count) FROM users
		UNION ALL SELECT concat_ws(' ', 'post', id, reply_count, like_count) FROM posts
		UNION ALL SELECT concat_ws(' ', 'notification', user_id, type, actor_id, post_id, created_at) FROM notifications
		UNION ALL SELECT concat_ws(' ', 'inbox', user_id, total) FROM inboxes
		ORDER BY 1`
	seeded := rowsOf(t, pool, state)
	// The same rows again, inserted with the triggers on.
	_, err = pool.Exec(ctx, `
		CREATE TEMP TABLE s_users AS SELECT id, username, email, password_hash, created_at, updated_at FROM users;
		CREATE TEMP TABLE s_follows AS SELECT * FROM follows;
		CREATE TEMP TABLE s_posts AS SELECT id, author_id, parent_id, body, created_at, updated_at, tags, mentions FROM posts;
		CREATE TEMP TABLE s_likes AS SELECT * FROM likes;
		TRUNCATE users, post_tags, tags CASCADE;
		INSERT INTO users (id, username, email, password_hash, created_at, updated_at) OVERRIDING SYSTEM VALUE
		SELECT * FROM s_users ORDER BY id;
		INSERT INTO follows SELECT * FROM s_follows ORDER BY created_at;
		INSERT INTO posts (id, author_id, parent_id, body, created_at, updated_at, tags, mentions) OVERRIDING SYSTEM VALUE
		SELECT * FROM s_posts ORDER BY id;
		INSERT INTO likes SELECT * FROM s_likes ORDER BY created_at`)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rowsOf(t, pool, state), seeded); diff != "" {
		t.Errorf("counts, notifications and inboxes (-trigger +seed):\n%s", diff)
	}
}
