package resources_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// accountWorld is susan, who deletes her account, and bob and cid, whose
// counts her deletion changes: susan and bob follow each other, like each
// other's posts, reply to them and write to each other; cid keeps copies
// of bob's user and bob's post to revalidate.
type accountWorld struct {
	susan, bob, cid            int64
	susanToken, bobToken, cidT string
	susanPost, bobPost         int64
}

func newAccountWorld(t *testing.T, srv *testServer) accountWorld {
	t.Helper()
	var w accountWorld
	w.susan, w.susanToken = srv.user(t, "susan")
	w.bob, w.bobToken = srv.user(t, "bob")
	w.cid, w.cidT = srv.user(t, "cid")
	w.susanPost = srv.post(t, w.susanToken, "hello @bob #hi")
	w.bobPost = srv.post(t, w.bobToken, "hello @susan #hi")
	srv.followByAPI(t, w.susanToken, w.susan, w.bob)
	srv.followByAPI(t, w.bobToken, w.bob, w.susan)
	for _, l := range []struct {
		token      string
		post, user int64
	}{{w.susanToken, w.bobPost, w.susan}, {w.bobToken, w.susanPost, w.bob}} {
		if res := srv.do(t, request{method: http.MethodPut, path: fmt.Sprintf("%s/likes/%d", postPathOf(l.post), l.user),
			token: l.token}); res.code != http.StatusCreated {
			t.Fatalf("like: %s", res)
		}
	}
	for _, r := range []struct {
		token string
		post  int64
	}{{w.susanToken, w.bobPost}, {w.bobToken, w.susanPost}} {
		if res := srv.do(t, request{method: http.MethodPost, path: postPathOf(r.post) + "/replies", token: r.token,
			body: `{"body": "a reply"}`}); res.code != http.StatusCreated {
			t.Fatalf("reply: %s", res)
		}
	}
	srv.message(t, w.susanToken, w.bob, "hi bob")
	srv.message(t, w.bobToken, w.susan, "hi susan")
	return w
}

// TestDeleteAccount deletes susan's account through the API: only with
// If-Match naming her current user, only by her; afterwards her tokens are
// invalid, her user is gone, bob's counts and the copies cid holds are
// new, and her username and email can be registered again.
func TestDeleteAccount(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	w := newAccountWorld(t, srv)
	bobUser := srv.get(t, w.cidT, userPathOf(w.bob), nil)
	bobPost := srv.get(t, w.cidT, postPathOf(w.bobPost), nil)
	tag := srv.get(t, w.susanToken, "/api/me", nil).header.Get("ETag")
	for _, tt := range []struct {
		what, token, path, ifMatch string
		status                     int
	}{
		{"no If-Match", w.susanToken, userPathOf(w.susan), "", http.StatusPreconditionRequired},
		{"a stale If-Match", w.susanToken, userPathOf(w.susan), `"stale"`, http.StatusPreconditionFailed},
		{"someone else's", w.bobToken, userPathOf(w.susan), tag, http.StatusForbidden},
		{"no such user", w.susanToken, userPathOf(999), tag, http.StatusNotFound},
		{"not an id", w.susanToken, "/api/users/susan", tag, http.StatusNotFound},
	} {
		res := srv.do(t, request{method: http.MethodDelete, path: tt.path, token: tt.token, header: map[string]string{"If-Match": tt.ifMatch}})
		if res.code != tt.status || res.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("DELETE, %s: %s, want %d", tt.what, res, tt.status)
		}
	}
	res := srv.do(t, request{method: http.MethodDelete, path: userPathOf(w.susan), token: w.susanToken,
		header: map[string]string{"If-Match": tag}})
	if res.code != http.StatusNoContent || len(res.body) != 0 {
		t.Fatalf("DELETE with If-Match: %s, want 204 without a body", res)
	}
	if res := srv.get(t, w.susanToken, "/api/me", nil); res.code != http.StatusUnauthorized {
		t.Errorf("GET /api/me with susan's token: %s, want 401", res)
	}
	if res := srv.get(t, w.bobToken, userPathOf(w.susan), nil); res.code != http.StatusNotFound {
		t.Errorf("GET susan: %s, want 404", res)
	}
	if res := srv.do(t, request{method: http.MethodDelete, path: userPathOf(w.susan), token: w.bobToken,
		header: map[string]string{"If-Match": tag}}); res.code != http.StatusNotFound {
		t.Errorf("DELETE susan again, by bob with her old ETag: %s, want 404", res)
	}
	checkCountsAfter(t, srv, w, bobUser, bobPost)
	if id := srv.register(t, "susan", "another password"); id == w.susan {
		t.Errorf("susan registered again under her old id %d", id)
	}
}

// checkCountsAfter checks, after susan's deletion, the counts of bob and
// of his post, and that cid's copies of them, read before, do not
// revalidate.
func checkCountsAfter(t *testing.T, srv *testServer, w accountWorld, bobUser, bobPost response) {
	t.Helper()
	res := srv.get(t, w.cidT, userPathOf(w.bob), map[string]string{"If-None-Match": bobUser.header.Get("ETag")})
	if res.code != http.StatusOK {
		t.Fatalf("cid's copy of bob: %s, want 200 with the new counts", res)
	}
	user := res.json(t)
	if user["follower_count"] != 0.0 || user["following_count"] != 0.0 || user["post_count"] != 2.0 {
		t.Errorf("bob after susan's deletion: %s", res.body)
	}
	res = srv.get(t, w.cidT, postPathOf(w.bobPost), map[string]string{"If-None-Match": bobPost.header.Get("ETag")})
	if res.code != http.StatusOK {
		t.Fatalf("cid's copy of bob's post: %s, want 200 with the new counts", res)
	}
	post := res.json(t)
	if post["like_count"] != 0.0 || post["reply_count"] != 0.0 {
		t.Errorf("bob's post after susan's deletion: %s", res.body)
	}
	var wrong int
	if err := srv.pool.QueryRow(context.Background(), `
		SELECT (SELECT count(*) FROM mailboxes WHERE message_count <> 0)
		     + (SELECT count(*) FROM inboxes i WHERE (i.total, i.unread) <> (
		           SELECT count(*), count(*) FILTER (WHERE NOT read) FROM notifications n WHERE n.user_id = i.user_id))
		     + (SELECT count(*) FROM tags t WHERE post_count <> (SELECT count(*) FROM post_tags WHERE tag = t.name))`).
		Scan(&wrong); err != nil || wrong != 0 {
		t.Errorf("%d mailboxes, inboxes or tags count wrong (%v)", wrong, err)
	}
}

// databaseRows is every row of the tables a deletion changes, as text.
func databaseRows(t *testing.T, srv *testServer) string {
	t.Helper()
	var rows string
	if err := srv.pool.QueryRow(context.Background(), `
		SELECT string_agg(r, E'\n' ORDER BY r) FROM (
			SELECT 'users ' || x::text AS r FROM users x UNION ALL SELECT 'follows ' || x::text FROM follows x
			UNION ALL SELECT 'posts ' || x::text FROM posts x UNION ALL SELECT 'likes ' || x::text FROM likes x
			UNION ALL SELECT 'messages ' || x::text FROM messages x UNION ALL SELECT 'notifications ' || x::text FROM notifications x
			UNION ALL SELECT 'inboxes ' || x::text FROM inboxes x UNION ALL SELECT 'mailboxes ' || x::text FROM mailboxes x
			UNION ALL SELECT 'tokens ' || x::text FROM tokens x UNION ALL SELECT 'tags ' || x::text FROM tags x
			UNION ALL SELECT 'post_tags ' || x::text FROM post_tags x UNION ALL SELECT 'totals ' || x::text FROM totals x
			UNION ALL SELECT 'jobs ' || id || ' ' || state || ' ' || args::text FROM river_job
		) a`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestDeleteAccountDatabaseDropsMidway loses the deletion's connection
// while it waits, half-way, for a row that another transaction holds: the
// client gets a 503 to retry, every row is as it was, and the retry
// deletes the account.
func TestDeleteAccountDatabaseDropsMidway(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	w := newAccountWorld(t, srv)
	ctx := context.Background()
	tag := srv.get(t, w.susanToken, "/api/me", nil).header.Get("ETag")
	// The deletion takes susan's like of bob's post back after her follows
	// and her posts are gone: it waits there.
	blocker, err := srv.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Rollback(ctx) //nolint:errcheck // a no-op once rolled back
	if _, err := blocker.Exec(ctx, `SELECT FROM posts WHERE id = $1 FOR UPDATE`, w.bobPost); err != nil {
		t.Fatal(err)
	}
	before := databaseRows(t, srv)
	done := make(chan response)
	go func() {
		done <- srv.do(t, request{method: http.MethodDelete, path: userPathOf(w.susan), token: w.susanToken,
			header: map[string]string{"If-Match": tag}})
	}()
	terminateWaitingDeletion(t, srv)
	res := <-done
	if res.code != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
		t.Errorf("DELETE whose connection dropped: %s %v, want 503 with Retry-After", res, res.header)
	}
	if err := blocker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if after := databaseRows(t, srv); after != before {
		t.Errorf("the rows changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	res = srv.do(t, request{method: http.MethodDelete, path: userPathOf(w.susan), token: w.susanToken,
		header: map[string]string{"If-Match": tag}})
	if res.code != http.StatusNoContent {
		t.Errorf("DELETE again: %s, want 204", res)
	}
}

// terminateWaitingDeletion ends the backend of the deletion of a user as
// soon as it waits for a lock, as a database that goes away would.
func terminateWaitingDeletion(t *testing.T, srv *testServer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var terminated bool
		err := srv.pool.QueryRow(context.Background(), `
			SELECT coalesce(bool_or(pg_terminate_backend(pid)), false) FROM pg_stat_activity
			WHERE query LIKE 'DELETE FROM users%' AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`).Scan(&terminated)
		if err != nil {
			t.Fatal(err)
		}
		if terminated {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the deletion never waited for the row")
}
