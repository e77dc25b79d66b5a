package persistence_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"microblog/persistence"
)

// countsWrong lists every count the triggers keep that does not count its
// rows, every mention of a user who is gone and every total that is off:
// empty when the database is consistent.
func countsWrong(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	return textRows(t, pool, `
		SELECT 'user ' || u.id FROM users u
		WHERE post_count <> (SELECT count(*) FROM posts WHERE author_id = u.id)
		   OR follower_count <> (SELECT count(*) FROM follows WHERE followed_id = u.id)
		   OR following_count <> (SELECT count(*) FROM follows WHERE follower_id = u.id)
		UNION ALL
		SELECT 'post ' || p.id FROM posts p
		WHERE like_count <> (SELECT count(*) FROM likes WHERE post_id = p.id)
		   OR reply_count <> (SELECT count(*) FROM posts r WHERE r.parent_id = p.id)
		   OR EXISTS (SELECT FROM unnest(p.mentions) m WHERE NOT EXISTS (SELECT FROM users WHERE id = m))
		UNION ALL
		SELECT 'tag ' || t.name FROM tags t
		WHERE post_count <> (SELECT count(*) FROM post_tags WHERE tag = t.name)
		   OR post_count <> (SELECT count(*) FROM posts WHERE t.name = ANY (tags))
		UNION ALL
		SELECT 'mailbox ' || b.user_id FROM mailboxes b
		WHERE message_count <> (SELECT count(*) FROM messages WHERE b.user_id IN (sender_id, recipient_id))
		UNION ALL
		SELECT 'inbox ' || i.user_id FROM inboxes i CROSS JOIN LATERAL (
			SELECT count(*) AS total, count(*) FILTER (WHERE NOT read) AS unread FROM notifications n WHERE n.user_id = i.user_id
		) c WHERE (i.total, i.unread) <> (c.total, c.unread)
		UNION ALL
		SELECT 'total ' || name FROM totals GROUP BY name
		HAVING sum(n) <> CASE name WHEN 'users' THEN (SELECT count(*) FROM users) ELSE (SELECT count(*) FROM posts) END`)
}

// textRows returns the first column of the rows of query, as text.
func textRows(t *testing.T, pool *pgxpool.Pool, query string, args ...any) []string {
	t.Helper()
	rows, _ := pool.Query(t.Context(), query, args...)
	list, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// world is ann, who goes, and the users and posts her deletion changes.
type world struct {
	ann, bob, cid, dan member
	// annPost is ann's, tagged #go and naming bob, liked and replied to
	// by bob; bobPost is bob's, tagged #go, liked by ann; cidPost is cid's,
	// naming ann and replied to by ann; bobReply is bob's reply to annPost.
	annPost, bobPost, cidPost, bobReply int64
}

// annAndOthers makes a world where ann followed and was followed, liked
// and was liked, replied and was replied to, wrote and was written to,
// mentioned and was mentioned, and was told of it all, as were the others.
func annAndOthers(t *testing.T, s *persistence.Store, pool *pgxpool.Pool) world {
	t.Helper()
	ctx := t.Context()
	ms := members(t, s, "ann", "bob", "cid", "dan")
	w := world{ann: ms[0], bob: ms[1], cid: ms[2], dan: ms[3]}
	post := func(author int64, body string) int64 {
		p, err := s.WritePost(ctx, author, body)
		if err != nil {
			t.Fatal(err)
		}
		return p.ID
	}
	w.annPost = post(w.ann.id, "hello @bob #go")
	w.bobPost = post(w.bob.id, "mine #go")
	w.cidPost = post(w.cid.id, "hi @ann")
	for _, f := range [][2]int64{{w.ann.id, w.bob.id}, {w.cid.id, w.ann.id}, {w.dan.id, w.bob.id}} {
		if _, err := s.Follow(ctx, f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	like(t, pool, w.bob.id, w.annPost)
	like(t, pool, w.ann.id, w.bobPost)
	like(t, pool, w.dan.id, w.bobPost)
	w.bobReply = reply(t, pool, w.bob.id, w.annPost, "a reply to ann")
	reply(t, pool, w.ann.id, w.cidPost, "ann replies")
	for _, m := range [][2]int64{{w.ann.id, w.bob.id}, {w.dan.id, w.ann.id}, {w.dan.id, w.bob.id}} {
		if _, err := s.SendMessage(ctx, m[0], m[1], "a message"); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// versions reads the versions of the users and posts ids, by kind and id.
func versions(t *testing.T, pool *pgxpool.Pool, users, posts []int64) map[string]int64 {
	t.Helper()
	rows, _ := pool.Query(t.Context(), `
		SELECT 'user ' || id, version FROM users WHERE id = ANY ($1)
		UNION ALL SELECT 'post ' || id, version FROM posts WHERE id = ANY ($2)`, users, posts)
	got := map[string]int64{}
	var (
		key string
		v   int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&key, &v}, func() error { got[key] = v; return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestDeleteUserKeepsOthersRight deletes a user who did and underwent
// everything that is counted: nothing of hers is left, every count of
// everyone else counts its rows, and each user and post that shows a count
// that changed has a new version, so that no cached copy of it revalidates.
func TestDeleteUserKeepsOthersRight(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t)
	ctx := t.Context()
	w := annAndOthers(t, s, pool)
	if wrong := countsWrong(t, pool); len(wrong) > 0 {
		t.Fatalf("counts wrong before the deletion: %v", wrong)
	}
	others := []int64{w.bob.id, w.cid.id, w.dan.id}
	changed := []int64{w.bobPost, w.cidPost, w.bobReply}
	before := versions(t, pool, others, changed)
	ann, err := s.User(ctx, w.ann.id)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, w.ann.id, &ann.Version); err != nil {
		t.Fatal(err)
	}
	if wrong := countsWrong(t, pool); len(wrong) > 0 {
		t.Errorf("counts wrong after the deletion: %v", wrong)
	}
	left := textRows(t, pool, `
		SELECT 'users' FROM users WHERE id = $1
		UNION ALL SELECT 'posts' FROM posts WHERE author_id = $1 OR $1 = ANY (mentions)
		UNION ALL SELECT 'likes' FROM likes WHERE user_id = $1
		UNION ALL SELECT 'follows' FROM follows WHERE $1 IN (follower_id, followed_id)
		UNION ALL SELECT 'messages' FROM messages WHERE $1 IN (sender_id, recipient_id)
		UNION ALL SELECT 'notifications' FROM notifications WHERE $1 IN (user_id, actor_id)
		UNION ALL SELECT 'tokens' FROM tokens WHERE user_id = $1
		UNION ALL SELECT 'inboxes' FROM inboxes WHERE user_id = $1
		UNION ALL SELECT 'mailboxes' FROM mailboxes WHERE user_id = $1`, w.ann.id)
	if len(left) > 0 {
		t.Errorf("ann left rows in %v", left)
	}
	after := versions(t, pool, others, changed)
	// dan's counts did not change: he neither followed ann nor was
	// followed by her, and his posts did not show her.
	for _, key := range []string{fmt.Sprint("user ", w.bob.id), fmt.Sprint("user ", w.cid.id),
		fmt.Sprint("post ", w.bobPost), fmt.Sprint("post ", w.cidPost), fmt.Sprint("post ", w.bobReply)} {
		if after[key] <= before[key] {
			t.Errorf("%s: version %d after the deletion, %d before: a cached copy would revalidate", key, after[key], before[key])
		}
	}
	if k := fmt.Sprint("user ", w.dan.id); after[k] != before[k] {
		t.Errorf("dan's version moved from %d to %d", before[k], after[k])
	}
	if _, err := s.Authenticate(ctx, w.ann.token); !errors.Is(err, persistence.ErrInvalidToken) {
		t.Errorf("ann's token after the deletion: %v, want ErrInvalidToken", err)
	}
}

// TestDeleteUserChecksVersion refuses a deletion at another version and
// of no one, and frees the username and email of the user it deletes.
func TestDeleteUserChecksVersion(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t)
	ctx := t.Context()
	w := annAndOthers(t, s, pool)
	stale := int64(-1)
	if err := s.DeleteUser(ctx, w.ann.id, &stale); !errors.Is(err, persistence.ErrStale) {
		t.Errorf("a deletion at another version: %v, want ErrStale", err)
	}
	if _, err := s.User(ctx, w.ann.id); err != nil {
		t.Errorf("ann after a refused deletion: %v", err)
	}
	if err := s.DeleteUser(ctx, w.ann.id, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, w.ann.id, nil); !errors.Is(err, persistence.ErrNotFound) {
		t.Errorf("a second deletion: %v, want ErrNotFound", err)
	}
	if _, err := s.CreateUser(ctx, persistence.NewUser{Username: "ANN", Email: "ann@example.com", Password: "12345678"}); err != nil {
		t.Errorf("registering ann's username and email again: %v", err)
	}
	if wrong := countsWrong(t, pool); len(wrong) > 0 {
		t.Errorf("counts wrong: %v", wrong)
	}
}

// TestDeleteUserDropsPendingJobs queues mails for ann and bob in every
// state a job can be in: ann's deletion removes hers that are yet to run,
// and leaves the running and completed ones, and all of bob's.
func TestDeleteUserDropsPendingJobs(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t)
	ctx := t.Context()
	ms := members(t, s, "ann", "bob")
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	states := []string{"available", "scheduled", "retryable", "running", "completed"}
	for _, m := range ms {
		for _, state := range states {
			res, err := client.Insert(ctx, persistence.MailArgs{Mail: persistence.Mail{To: "x@example.com",
				Subject: state, Text: "hello"}, UserID: m.id}, &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			exec(t, pool, `UPDATE river_job SET state = $2::river_job_state,
				finalized_at = CASE WHEN $2 = 'completed' THEN now() END WHERE id = $1`, res.Job.ID, state)
		}
	}
	if err := s.DeleteUser(ctx, ms[0].id, nil); err != nil {
		t.Fatal(err)
	}
	got := textRows(t, pool, `SELECT (args->>'user_id') || ' ' || state FROM river_job ORDER BY 1`)
	want := []string{fmt.Sprint(ms[0].id, " completed"), fmt.Sprint(ms[0].id, " running")}
	for _, state := range states {
		want = append(want, fmt.Sprint(ms[1].id, " ", state))
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("jobs left: %v, want %v", got, want)
	}
}

// TestDeleteUserRacesOthers deletes ann while others like and unlike her
// posts, follow and unfollow her, write to her, reply to her posts and
// name her: each of their writes succeeds or finds her (or her post) gone,
// never fails otherwise (a deadlock would fail one), the deletion
// succeeds, and every count is right afterwards.
func TestDeleteUserRacesOthers(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t)
	ctx := t.Context()
	w := annAndOthers(t, s, pool)
	var annPosts []int64
	for i := range 20 {
		p, err := s.WritePost(ctx, w.ann.id, fmt.Sprintf("post %d #go", i))
		if err != nil {
			t.Fatal(err)
		}
		annPosts = append(annPosts, p.ID)
	}
	others := []int64{w.bob.id, w.cid.id, w.dan.id}
	acts := []func(user int64, i int) error{
		func(user int64, i int) error { _, err := s.Like(ctx, user, annPosts[i%len(annPosts)]); return err },
		func(user int64, i int) error { return s.Unlike(ctx, user, annPosts[i%len(annPosts)]) },
		func(user int64, _ int) error { _, err := s.Follow(ctx, user, w.ann.id); return err },
		func(user int64, _ int) error { return s.Unfollow(ctx, user, w.ann.id) },
		func(user int64, _ int) error { _, err := s.SendMessage(ctx, user, w.ann.id, "hi"); return err },
		func(user int64, i int) error {
			_, err := s.WriteReply(ctx, user, annPosts[i%len(annPosts)], "re @ann #go")
			return err
		},
		func(user int64, _ int) error { _, err := s.WritePost(ctx, user, "@ann and @bob #go"); return err },
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for n, user := range others {
		for a, act := range acts {
			wg.Go(func() {
				<-start
				for i := range 30 {
					if err := act(user, n+a+i); err != nil && !errors.Is(err, persistence.ErrNotFound) {
						t.Errorf("user %d, act %d, step %d: %v", user, a, i, err)
						return
					}
				}
			})
		}
	}
	close(start)
	time.Sleep(20 * time.Millisecond)
	if err := s.DeleteUser(ctx, w.ann.id, nil); err != nil {
		t.Errorf("the deletion: %v", err)
	}
	wg.Wait()
	if wrong := countsWrong(t, pool); len(wrong) > 0 {
		t.Errorf("counts wrong: %v", wrong)
	}
	if _, err := s.User(ctx, w.ann.id); !errors.Is(err, persistence.ErrNotFound) {
		t.Errorf("ann after the deletion: %v", err)
	}
}

// TestPostNamingAUserBeingDeleted writes a post naming ann while her
// deletion is under way: the post waits for it, and is written without
// the mention, rather than failing on her notification's foreign key or
// naming a user who is gone.
func TestPostNamingAUserBeingDeleted(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t)
	ctx := t.Context()
	ms := members(t, s, "ann", "bob", "cid")
	deletion, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deletion.Exec(ctx, `DELETE FROM users WHERE id = $1`, ms[0].id); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	var post persistence.Post
	go func() {
		var err error
		post, err = s.WritePost(ctx, ms[1].id, "hello @ann and @cid")
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // the post waits for the deletion
	if err := deletion.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the post naming ann: %v", err)
	}
	var names []string
	for _, m := range post.Mentions() {
		names = append(names, m.Username)
	}
	if !slices.Equal(names, []string{"cid"}) {
		t.Errorf("the post names %v, want [cid]", names)
	}
	if wrong := countsWrong(t, pool); len(wrong) > 0 {
		t.Errorf("counts wrong: %v", wrong)
	}
}

// TestManyPostsOfOneAuthorInOneStatement inserts 20,000 posts of one
// author in one statement, then deletes them in one, each within 5 s, and
// the author's count follows. With an update of the author's row per post,
// each update stepped over every version of the row the transaction had
// made before: the insert took 13 s, the deletion 7 s.
func TestManyPostsOfOneAuthorInOneStatement(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t)
	ann := members(t, s, "ann")[0]
	for _, step := range []struct{ sql, what string }{
		{`INSERT INTO posts (author_id, body, created_at, updated_at)
			SELECT $1, 'many', now(), now() FROM generate_series(1, 20000)`, "insert"},
		{`DELETE FROM posts WHERE author_id = $1 AND body = 'many'`, "delete"},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		tag, err := pool.Exec(ctx, step.sql, ann.id)
		cancel()
		if err != nil || tag.RowsAffected() != 20000 {
			t.Fatalf("%s of 20,000 posts of one author: %v, %d rows", step.what, err, tag.RowsAffected())
		}
		if wrong := countsWrong(t, pool); len(wrong) > 0 {
			t.Errorf("after the %s: counts wrong: %v", step.what, wrong)
		}
	}
}

// TestPostCountsOfManySessions: posts written and deleted at once on many
// connections add up to the author's posts, and the author's version moved
// with each statement that wrote them: each deletion, and each insert,
// which writes one post or several together (its transaction id, xmin,
// tells which posts one wrote).
func TestPostCountsOfManySessions(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t, func(c *pgxpool.Config) { c.MaxConns = 8 })
	ann := members(t, s, "ann")[0]
	before, err := s.User(t.Context(), ann.id)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		inserts = map[string]bool{}
	)
	errs := make(chan error, 80)
	for range 8 {
		wg.Go(func() {
			for i := range 10 {
				cp, err := s.CreatePost(t.Context(), ann.token, fmt.Sprintf("post %d", i), nil)
				var xmin string
				if err == nil {
					err = pool.QueryRow(t.Context(), `SELECT xmin::text FROM posts WHERE id = $1`, cp.Post.ID).Scan(&xmin)
					mu.Lock()
					inserts[xmin] = true
					mu.Unlock()
				}
				if err == nil && i%2 == 0 {
					err = s.DeletePost(t.Context(), cp.Post.ID, ann.id, nil)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if wrong := countsWrong(t, pool); len(wrong) > 0 {
		t.Errorf("counts wrong: %v", wrong)
	}
	after, err := s.User(t.Context(), ann.id)
	if err != nil {
		t.Fatal(err)
	}
	if after.PostCount != 40 || after.Version-before.Version < int64(40+len(inserts)) || !after.ChangedAt.After(before.ChangedAt) {
		t.Errorf("after 80 posts in %d inserts and 40 deletions: post_count %d, version %d (%d before), changed %v (%v before)",
			len(inserts), after.PostCount, after.Version, before.Version, after.ChangedAt, before.ChangedAt)
	}
}
