package persistence_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"microblog/persistence"
)

// member is a user of a notifications test, with a token.
type member struct {
	id    int64
	token string
}

// members registers a user for each name and logs them in.
func members(t *testing.T, s *persistence.Store, names ...string) []member {
	t.Helper()
	var ms []member
	for _, name := range names {
		u, err := s.CreateUser(t.Context(), persistence.NewUser{Username: name, Email: name + "@example.com", Password: "pw-of-" + name})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := s.Login(t.Context(), name, "pw-of-"+name, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, member{u.ID, tok.Value})
	}
	return ms
}

// exec runs a statement, failing the test on an error.
func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(t.Context(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// reply writes a reply by author to parent with plain SQL, and returns its
// id: the API of replies comes with posts.
func reply(t *testing.T, pool *pgxpool.Pool, author, parent int64, body string) int64 {
	t.Helper()
	var id int64
	err := pool.QueryRow(t.Context(), `INSERT INTO posts (author_id, body, created_at, updated_at, tags, mentions, parent_id)
		VALUES ($1, $2, now(), now(), '{}', '{}', $3) RETURNING id`, author, body, parent).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// like makes user like post with plain SQL, and unlike undoes it.
func like(t *testing.T, pool *pgxpool.Pool, user, post int64) {
	t.Helper()
	exec(t, pool, `INSERT INTO likes (post_id, user_id, created_at) VALUES ($1, $2, now()) ON CONFLICT DO NOTHING`, post, user)
}

func unlike(t *testing.T, pool *pgxpool.Pool, user, post int64) {
	t.Helper()
	exec(t, pool, `DELETE FROM likes WHERE post_id = $1 AND user_id = $2`, post, user)
}

// told is a notification as the tests compare them: its type, actor and
// subject.
type told struct {
	typ           string
	actor         int64
	post, message int64
}

// inbox returns the notifications of m, newest first, and their unread
// count, read through the store with m's token.
func inbox(t *testing.T, s *persistence.Store, m member) ([]told, persistence.NotificationPage) {
	t.Helper()
	page, err := s.Notifications(t.Context(), m.token, persistence.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []told
	for _, n := range page.Notifications {
		if n.Recipient != m.id {
			t.Errorf("user %d sees notification %d of user %d", m.id, n.ID, n.Recipient)
		}
		got = append(got, told{n.Type, n.Actor.ID, n.PostID, n.MessageID})
	}
	return got, page
}

// TestNotificationsOfActs does each act that notifies, and some that must
// not: each recipient has exactly the notifications of the acts of others
// that concern them, newest first, and a like taken back and given again
// is told once.
func TestNotificationsOfActs(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t)
	ctx := t.Context()
	ms := members(t, s, "ann", "bob", "cid")
	ann, bob, cid := ms[0], ms[1], ms[2]
	exec(t, pool, `INSERT INTO follows (follower_id, followed_id, created_at) VALUES ($1, $2, now())`, bob.id, ann.id)
	post, err := s.WritePost(ctx, ann.id, "a post by ann")
	if err != nil {
		t.Fatal(err)
	}
	like(t, pool, bob.id, post.ID)
	unlike(t, pool, bob.id, post.ID)
	like(t, pool, bob.id, post.ID)
	like(t, pool, ann.id, post.ID) // her own post
	replyID := reply(t, pool, bob.id, post.ID, "a reply to ann")
	reply(t, pool, ann.id, replyID, "ann answers her own thread") // tells bob
	mention, err := s.WritePost(ctx, bob.id, "hello @ann and @cid and @bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WritePost(ctx, ann.id, "talking to myself, @ann"); err != nil {
		t.Fatal(err)
	}
	var message int64
	if err := pool.QueryRow(ctx, `INSERT INTO messages (sender_id, recipient_id, body, created_at) VALUES ($1, $2, 'psst', now())
		RETURNING id`, cid.id, ann.id).Scan(&message); err != nil {
		t.Fatal(err)
	}
	exec(t, pool, `DELETE FROM follows WHERE follower_id = $1`, bob.id) // an unfollow tells no one

	want := map[int64][]told{
		ann.id: {{"message", cid.id, 0, message}, {"mention", bob.id, mention.ID, 0}, {"reply", bob.id, replyID, 0},
			{"like", bob.id, post.ID, 0}, {"follow", bob.id, 0, 0}},
		bob.id: {{"reply", ann.id, replyID + 1, 0}},
		cid.id: {{"mention", bob.id, mention.ID, 0}},
	}
	for _, m := range ms {
		got, page := inbox(t, s, m)
		if !slices.Equal(got, want[m.id]) {
			t.Errorf("user %d was told %v, want %v", m.id, got, want[m.id])
		}
		if page.Total != int64(len(want[m.id])) || page.Unread != page.Total {
			t.Errorf("user %d: total %d, unread %d, want %d of each", m.id, page.Total, page.Unread, len(want[m.id]))
		}
	}
}

// TestMarkRead marks read up to a notification: that one and the older
// ones are read, the unread count and the inbox's version follow, and
// marking again changes nothing, not even the version.
func TestMarkRead(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t)
	ms := members(t, s, "ann", "bob", "cid", "dan")
	for _, m := range ms[1:] {
		exec(t, pool, `INSERT INTO follows (follower_id, followed_id, created_at) VALUES ($1, $2, now())`, m.id, ms[0].id)
	}
	exec(t, pool, `INSERT INTO follows (follower_id, followed_id, created_at) VALUES ($1, $2, now())`, ms[0].id, ms[1].id)
	_, before := inbox(t, s, ms[0])
	middle := before.Notifications[1].ID
	if err := s.MarkRead(t.Context(), ms[0].token, middle); err != nil {
		t.Fatal(err)
	}
	_, after := inbox(t, s, ms[0])
	var read []bool
	for _, n := range after.Notifications {
		read = append(read, n.Read)
	}
	if !slices.Equal(read, []bool{false, true, true}) || after.Unread != 1 || after.Version <= before.Version {
		t.Errorf("after marking read up to the middle one: read %v, unread %d, version %d (was %d)",
			read, after.Unread, after.Version, before.Version)
	}
	if err := s.MarkRead(t.Context(), ms[0].token, middle); err != nil {
		t.Fatal(err)
	}
	if _, again := inbox(t, s, ms[0]); again.Version != after.Version || again.Unread != 1 {
		t.Errorf("marking the same again: version %d (was %d), unread %d", again.Version, after.Version, again.Unread)
	}
	// Bob's notification has an id below the middle one's, but is his.
	if _, bobs := inbox(t, s, ms[1]); bobs.Unread != 1 || bobs.Notifications[0].Read {
		t.Errorf("ann marking read changed bob's: %+v", bobs)
	}
	if err := s.MarkRead(t.Context(), strings.Repeat("0", 32), middle); err == nil {
		t.Error("an unknown token marked notifications read")
	}
}

// TestInboxFollowsWhatGoes deletes a post that has notifications, then an
// actor, then renames one: the unread count, the total and the version of
// each inbox follow.
func TestInboxFollowsWhatGoes(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t)
	ms := members(t, s, "ann", "bob", "cid")
	ann, bob, cid := ms[0], ms[1], ms[2]
	post, err := s.WritePost(t.Context(), ann.id, "liked, then gone")
	if err != nil {
		t.Fatal(err)
	}
	like(t, pool, bob.id, post.ID)
	like(t, pool, cid.id, post.ID)
	exec(t, pool, `INSERT INTO follows (follower_id, followed_id, created_at) VALUES ($1, $2, now())`, bob.id, ann.id)
	exec(t, pool, `INSERT INTO follows (follower_id, followed_id, created_at) VALUES ($1, $2, now())`, cid.id, ann.id)
	_, start := inbox(t, s, ann)
	if err := s.MarkRead(t.Context(), ann.token, start.Notifications[3].ID); err != nil { // bob's like
		t.Fatal(err)
	}
	steps := []struct {
		what          string
		sql           string
		arg           int64
		total, unread int64
	}{
		{"the post goes with a read and an unread like", `DELETE FROM posts WHERE id = $1`, post.ID, 2, 2},
		{"bob renames himself", `UPDATE users SET username = 'robert' WHERE id = $1`, bob.id, 2, 2},
		{"cid goes with his follow", `DELETE FROM users WHERE id = $1`, cid.id, 1, 1},
	}
	last := start.Version + 1 // marking read bumped it
	for _, step := range steps {
		exec(t, pool, step.sql, step.arg)
		_, page := inbox(t, s, ann)
		if page.Total != step.total || page.Unread != step.unread || int64(len(page.Notifications)) != step.total ||
			page.Version <= last {
			t.Errorf("%s: total %d, unread %d, %d listed, version %d (was %d); want %d, %d and a new version",
				step.what, page.Total, page.Unread, len(page.Notifications), page.Version, last, step.total, step.unread)
		}
		last = page.Version
	}
}

// TestNotificationsPages walks 25 notifications ten at a time by cursor
// and by number: the same pages, newest first, each notification once.
func TestNotificationsPages(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t)
	ms := members(t, s, "ann", "bob")
	exec(t, pool, `SELECT notify($1, 'follow', $2, NULL, NULL, now()) FROM generate_series(1, 25)`, ms[0].id, ms[1].id)
	var byCursor, byNumber []int64
	var after *persistence.Cursor
	for number := int64(0); number < 3; number++ {
		cur, err := s.Notifications(t.Context(), ms[0].token, persistence.Page{Limit: 10, After: after})
		if err != nil {
			t.Fatal(err)
		}
		num, err := s.Notifications(t.Context(), ms[0].token, persistence.Page{Limit: 10, Offset: number * 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range cur.Notifications {
			byCursor = append(byCursor, n.ID)
		}
		for _, n := range num.Notifications {
			byNumber = append(byNumber, n.ID)
		}
		if cur.Total != 25 || (number == 2) != (cur.Prev != nil) {
			t.Errorf("page %d: total %d, prev %v", number+1, cur.Total, cur.Prev)
		}
		after = cur.Next
	}
	if len(byCursor) != 25 || !slices.Equal(byCursor, byNumber) ||
		!slices.IsSortedFunc(byCursor, func(a, b int64) int { return int(b - a) }) {
		t.Errorf("by cursor %v, by number %v: want the same 25, newest first", byCursor, byNumber)
	}
}

// TestNotificationsCommitInIDOrder holds up the commit of one user's
// notification after it has its id (its actor's row is locked, which its
// foreign key check waits for) while another notification of that user
// commits: the announcements, in the order of commit, still have
// increasing ids, so that a stream resuming after an id misses nothing.
func TestNotificationsCommitInIDOrder(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t)
	ms := members(t, s, "ann", "bob", "cid")
	listener, err := pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Release()
	if _, err := listener.Exec(t.Context(), `LISTEN notifications`); err != nil {
		t.Fatal(err)
	}
	blocker, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Rollback(t.Context())
	if _, err := blocker.Exec(t.Context(), `SELECT FROM users WHERE id = $1 FOR UPDATE`, ms[1].id); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, actor := range ms[1:] {
		wg.Go(func() {
			if _, err := pool.Exec(t.Context(), `SELECT notify($1, 'follow', $2, NULL, NULL, now())`, ms[0].id, actor.id); err != nil {
				t.Error(err)
			}
		})
		time.Sleep(300 * time.Millisecond) // bob's takes its id first
	}
	if err := blocker.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	var ids []int64
	for range 2 {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		n, err := listener.Conn().WaitForNotification(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		var recipient, id int64
		fmt.Sscanf(n.Payload, "%d %d", &recipient, &id)
		ids = append(ids, id)
	}
	if !slices.IsSorted(ids) {
		t.Errorf("the notifications committed in the order %v, not in the order of their ids", ids)
	}
}

// TestNotifyingNeverDeadlocks runs, at once, what locks inboxes: posts
// naming the same users in opposite orders, replies to one post while
// replies to it are deleted, follows of its author while that author's
// liked posts are deleted, and marking read. No statement fails (a
// deadlock would fail one), and every inbox then counts its rows.
func TestNotifyingNeverDeadlocks(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t)
	work := inboxWork(t, s, pool)
	var wg sync.WaitGroup
	for w := range 12 {
		wg.Go(func() {
			for i := range 25 {
				if err := work[(w+i)%len(work)](w, i); err != nil {
					t.Errorf("worker %d, step %d: %v", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	var wrong int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM inboxes i CROSS JOIN LATERAL (
		SELECT count(*) AS total, count(*) FILTER (WHERE NOT read) AS unread FROM notifications n WHERE n.user_id = i.user_id
	) c WHERE (i.total, i.unread) <> (c.total, c.unread)`).Scan(&wrong); err != nil {
		t.Fatal(err)
	}
	if wrong != 0 {
		t.Errorf("%d inboxes do not count their notifications", wrong)
	}
}

// inboxWork are the steps of TestNotifyingNeverDeadlocks, each taken by
// worker w as its step i.
func inboxWork(t *testing.T, s *persistence.Store, pool *pgxpool.Pool) []func(w, i int) error {
	ms := members(t, s, "ann", "bob", "cid", "dan")
	ann := ms[0]
	parent, err := s.WritePost(t.Context(), ann.id, "the thread")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	sql := func(query string, args ...any) error {
		_, err := pool.Exec(ctx, query, args...)
		return err
	}
	const insertPost = `INSERT INTO posts (author_id, body, created_at, updated_at, tags, mentions, parent_id)
		VALUES ($1, $2, now(), now(), '{}', $3, $4)`
	return []func(w, i int) error{
		func(w, i int) error { // a post naming bob and cid, in either order
			names := []int64{ms[1].id, ms[2].id}
			if (w+i)%2 == 0 {
				slices.Reverse(names)
			}
			return sql(insertPost, ms[3].id, "x", names, nil)
		},
		func(w, i int) error { // a reply to the thread, naming bob
			return sql(insertPost, ms[1+(w+i)%3].id, "r", []int64{ms[1].id}, parent.ID)
		},
		func(int, int) error { // a reply to the thread goes
			return sql(`DELETE FROM posts WHERE id = (SELECT max(id) FROM posts WHERE parent_id = $1)`, parent.ID)
		},
		func(w, i int) error { // a follow of ann, or an unfollow
			if i%2 == 0 {
				return sql(`INSERT INTO follows (follower_id, followed_id, created_at) VALUES ($1, $2, now())
					ON CONFLICT DO NOTHING`, ms[1+w%3].id, ann.id)
			}
			return sql(`DELETE FROM follows WHERE follower_id = $1 AND followed_id = $2`, ms[1+w%3].id, ann.id)
		},
		func(w, _ int) error { // a post of ann's is liked, and a liked one goes
			if err := sql(`WITH p AS (INSERT INTO posts (author_id, body, created_at, updated_at, tags, mentions)
				VALUES ($1, 'liked', now(), now(), '{}', '{}') RETURNING id)
				INSERT INTO likes (post_id, user_id, created_at) SELECT id, $2, now() FROM p`, ann.id, ms[1+w%3].id); err != nil {
				return err
			}
			return sql(`DELETE FROM posts WHERE id = (SELECT min(id) FROM posts WHERE body = 'liked')`)
		},
		func(int, int) error { // ann marks all read
			return s.MarkRead(ctx, ann.token, 1<<62)
		},
	}
}

// lockCase is two statements that lock an inbox and another row, and the
// inbox's user.
type lockCase struct {
	what          string
	inbox         int64
	first, second string
	args1, args2  []any
}

// TestInboxLockOrder holds an inbox while two statements that lock it
// with something else queue for it, the one that would take the other
// lock second queued first. In the lock order of migration 00013 both
// finish; in another the two would deadlock once the inbox is free, and
// PostgreSQL would fail one.
func TestInboxLockOrder(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t)
	for _, c := range lockCases(t, s, pool) {
		blocker, err := pool.Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := blocker.Exec(t.Context(), `SELECT FROM inboxes WHERE user_id = $1 FOR UPDATE`, c.inbox); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, stmt := range []struct {
			sql  string
			args []any
		}{{c.first, c.args1}, {c.second, c.args2}} {
			wg.Go(func() {
				if _, err := pool.Exec(t.Context(), stmt.sql, stmt.args...); err != nil {
					t.Errorf("%s: %v", c.what, err)
				}
			})
			time.Sleep(200 * time.Millisecond)
		}
		if err := blocker.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
	}
}

// lockCases are the cases of TestInboxLockOrder, and what they need.
func lockCases(t *testing.T, s *persistence.Store, pool *pgxpool.Pool) []lockCase {
	ms := members(t, s, "ann", "bob", "cid", "dan", "eve")
	ann, bob, cid, dan, eve := ms[0], ms[1], ms[2], ms[3], ms[4]
	post := func(author int64, body string, tags string, mentions []int64) int64 {
		var id int64
		if err := pool.QueryRow(t.Context(), `INSERT INTO posts (author_id, body, created_at, updated_at, tags, mentions)
			VALUES ($1, $2, now(), now(), $3, $4) RETURNING id`, author, body, tags, mentions).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	thread := post(ann.id, "the thread", "{}", []int64{})
	gone := reply(t, pool, bob.id, thread, "a reply that goes")
	liked := post(ann.id, "liked, then gone", "{}", []int64{})
	like(t, pool, bob.id, liked)
	tagged := post(cid.id, "tagged", "{t}", []int64{bob.id})
	edited := post(dan.id, "to be edited", "{}", []int64{})
	exec(t, pool, `INSERT INTO follows (follower_id, followed_id, created_at) VALUES ($1, $2, now()), ($1, $3, now())`,
		ann.id, cid.id, eve.id)
	const mentioning = `INSERT INTO posts (author_id, body, created_at, updated_at, tags, mentions)
		VALUES ($1, 'hi', now(), now(), $2, $3)`
	const follow = `INSERT INTO follows (follower_id, followed_id, created_at) VALUES ($1, $2, now())`
	const deletePost = `DELETE FROM posts WHERE id = $1`
	return []lockCase{
		{"posts naming two users in opposite orders", cid.id, mentioning, mentioning,
			[]any{dan.id, "{}", []int64{cid.id, bob.id}}, []any{eve.id, "{}", []int64{bob.id, cid.id}}},
		{"a reply goes while another is written", ann.id, deletePost,
			`INSERT INTO posts (author_id, body, created_at, updated_at, tags, mentions, parent_id)
			VALUES ($1, 'r', now(), now(), '{}', '{}', $2)`, []any{gone}, []any{cid.id, thread}},
		{"a liked post goes while its author is followed", ann.id, deletePost, follow,
			[]any{liked}, []any{cid.id, ann.id}},
		{"a tagged post naming a user is written while another of the tag goes", bob.id, mentioning, deletePost,
			[]any{dan.id, "{t}", []int64{bob.id}}, []any{tagged}},
		{"a post is edited to name a user its author follows meanwhile", eve.id,
			`UPDATE posts SET body = 'hi eve', mentions = $2 WHERE id = $1`, follow,
			[]any{edited, []int64{eve.id}}, []any{dan.id, eve.id}},
	}
}
