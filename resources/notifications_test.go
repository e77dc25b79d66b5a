package resources_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// followByAPI makes the holder of token, user follower, follow followed
// through the API, which notifies followed.
func (s *testServer) followByAPI(t *testing.T, token string, follower, followed int64) {
	t.Helper()
	res := s.do(t, request{method: http.MethodPut, path: fmt.Sprintf("/api/users/%d/following/%d", follower, followed), token: token})
	if res.code != http.StatusCreated {
		t.Fatalf("follow: %s", res)
	}
}

// sql runs a statement on the test database, failing the test on an
// error: likes, replies and messages, whose API is not here yet.
func (s *testServer) sql(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := s.pool.Exec(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	s.settle(t)
}

// notifications GETs a page of notifications and returns it decoded.
func (s *testServer) notifications(t *testing.T, token, path string, header map[string]string) (map[string]any, response) {
	t.Helper()
	res := s.do(t, request{method: http.MethodGet, path: path, token: token, header: header})
	if res.code != http.StatusOK {
		t.Fatalf("GET %s: %s", path, res)
	}
	return res.json(t), res
}

// items are the notifications embedded in a page.
func items(doc map[string]any) []map[string]any {
	var out []map[string]any
	embedded, _ := doc["_embedded"].(map[string]any)
	list, _ := embedded["mb:notifications"].([]any)
	for _, n := range list {
		out = append(out, n.(map[string]any))
	}
	return out
}

// href is the href of rel in the links of doc.
func href(doc map[string]any, rel string) string {
	link, _ := doc["_links"].(map[string]any)[rel].(map[string]any)
	s, _ := link["href"].(string)
	return s
}

// TestNotificationsPage has bob follow susan, mention her, like and
// answer her post and write to her: her notifications, newest first, name
// who did it and what it is about, embed the actor, and count the unread;
// the page is a golden file, and the root links it.
func TestNotificationsPage(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	bob, bobToken := srv.user(t, "bob")
	srv.followByAPI(t, bobToken, bob, susan)
	post := srv.post(t, token, "a post by susan")
	now := srv.clock.Now()
	srv.sql(t, `INSERT INTO likes (post_id, user_id, created_at) VALUES ($1, $2, $3)`, post, bob, now)
	srv.sql(t, `INSERT INTO posts (author_id, body, created_at, updated_at, tags, mentions, parent_id)
		VALUES ($1, 'a reply', $3, $3, '{}', '{}', $2)`, bob, post, now)
	mention := srv.post(t, bobToken, "hello @susan")
	srv.sql(t, `INSERT INTO messages (sender_id, recipient_id, body, created_at) VALUES ($1, $2, 'psst', $3)`, bob, susan, now)

	doc, res := srv.notifications(t, token, "/api/notifications", nil)
	golden(t, "notifications_page.golden.json", res.body)
	var got []string
	for _, n := range items(doc) {
		got = append(got, fmt.Sprintf("%s %s %s", n["type"], href(n, "mb:actor"), href(n, "mb:subject")))
	}
	want := []string{
		fmt.Sprintf("message %s /api/messages/1", userPathOf(bob)),
		fmt.Sprintf("mention %s %s", userPathOf(bob), postPathOf(mention)),
		fmt.Sprintf("reply %s %s", userPathOf(bob), postPathOf(post+1)),
		fmt.Sprintf("like %s %s", userPathOf(bob), postPathOf(post)),
		fmt.Sprintf("follow %s %s", userPathOf(bob), userPathOf(bob)),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("susan's notifications:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if meta := doc["_meta"].(map[string]any); meta["unread"] != 5.0 || meta["total_items"] != 5.0 {
		t.Errorf("_meta %v, want 5 unread of 5", meta)
	}
	if bobs, _ := srv.notifications(t, bobToken, "/api/notifications", nil); len(items(bobs)) != 0 {
		t.Errorf("bob, who did it all, has notifications: %v", items(bobs))
	}
	root := srv.do(t, request{method: http.MethodGet, path: "/api"}).json(t)
	if got := href(root, "mb:notifications"); got != "/api/notifications{?page,per_page}" {
		t.Errorf("the root links mb:notifications %q", got)
	}
}

// TestNotificationsPaging pages 25 notifications five at a time by the
// next links: each once, newest first, with the cursor in the links.
func TestNotificationsPaging(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	bob, _ := srv.user(t, "bob")
	srv.notify(t, susan, bob, 25)
	var ids []float64
	path := "/api/notifications?per_page=5"
	for pages := 0; path != ""; pages++ {
		if pages > 5 {
			t.Fatal("more than 5 pages of 5")
		}
		doc, _ := srv.notifications(t, token, path, nil)
		for _, n := range items(doc) {
			ids = append(ids, n["id"].(float64))
		}
		path = href(doc, "next")
		if path != "" && !strings.Contains(path, "after=") {
			t.Errorf("next link %q without a cursor", path)
		}
	}
	for i := range ids {
		if i > 0 && ids[i] >= ids[i-1] || len(ids) != 25 {
			t.Fatalf("walked %v, want 25 notifications, newest first", ids)
		}
	}
}

// TestNotificationResource: one's own notification by its self link; anyone
// else's, and one that is not there, is not found.
func TestNotificationResource(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	bob, bobToken := srv.user(t, "bob")
	srv.followByAPI(t, bobToken, bob, susan)
	doc, _ := srv.notifications(t, token, "/api/notifications", nil)
	self := href(items(doc)[0], "self")
	res := srv.do(t, request{method: http.MethodGet, path: self, token: token})
	if res.code != http.StatusOK || href(res.json(t), "self") != self || res.json(t)["type"] != "follow" {
		t.Errorf("GET %s: %s", self, res)
	}
	golden(t, "notification_get.golden.json", res.body)
	for _, tt := range []struct{ path, token string }{{self, bobToken}, {"/api/notifications/999", token}} {
		if res := srv.do(t, request{method: http.MethodGet, path: tt.path, token: tt.token}); res.code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", tt.path, res.code)
		}
	}
	if res := srv.do(t, request{method: http.MethodGet, path: "/api/notifications"}); res.code != http.StatusUnauthorized {
		t.Errorf("GET /api/notifications without a token: %d, want 401", res.code)
	}
}

// TestMarkNotificationsRead marks read through the template of the page:
// the notification it names and the older ones are read, the unread count
// follows, and up_to that is not a positive integer is a 400 naming it.
func TestMarkNotificationsRead(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	for _, name := range []string{"bob", "cid", "dan"} {
		id, tok := srv.user(t, name)
		srv.followByAPI(t, tok, id, susan)
	}
	// The newest of the second page of one: the middle one of three.
	forms, _ := srv.templates(t, token, "/api/notifications?page=2&per_page=1")
	form, ok := forms["mark-read"]
	if !ok || form.Method != http.MethodPost || form.Target != "/api/notifications" {
		t.Fatalf("the page's mark-read template: %+v", forms)
	}
	res := srv.submit(t, token, form, map[string]string{"up_to": form.Properties[0].Value})
	if res.code != http.StatusNoContent || !strings.Contains(res.header.Get("Link"), `</api/notifications>; rel="invalidates"`) {
		t.Errorf("mark-read: %s, Link %q", res, res.header.Get("Link"))
	}
	doc, _ := srv.notifications(t, token, "/api/notifications", nil)
	var read []any
	for _, n := range items(doc) {
		read = append(read, n["read"])
	}
	if fmt.Sprint(read) != "[false true true]" || doc["_meta"].(map[string]any)["unread"] != 1.0 {
		t.Errorf("after marking the middle one read: read %v, _meta %v", read, doc["_meta"])
	}
	newest := items(doc)[0]["id"].(float64)
	res = srv.do(t, request{method: http.MethodPost, path: "/api/notifications", token: token,
		body: fmt.Sprintf(`{"up_to": %d}`, int64(newest))})
	if doc, _ := srv.notifications(t, token, "/api/notifications", nil); res.code != http.StatusNoContent ||
		doc["_meta"].(map[string]any)["unread"] != 0.0 {
		t.Errorf("marking the newest read as a JSON number: %s; then _meta %v", res, doc["_meta"])
	}
	for _, body := range []string{`{}`, `{"up_to": "x"}`, `{"up_to": ""}`, `{"up_to": "05"}`, `{"up_to": 0}`,
		`{"up_to": -1}`, `{"up_to": 1.5}`, `{"up_to": 1e3}`, `{"up_to": null}`, `{"up_to": true}`,
		`{"up_to": 99999999999999999999}`} {
		res := srv.do(t, request{method: http.MethodPost, path: "/api/notifications", token: token, body: body})
		if res.code != http.StatusBadRequest || !strings.Contains(string(res.body), `"name":"up_to"`) {
			t.Errorf("POST %s: %s, want a 400 naming up_to", body, res)
		}
	}
	res = srv.do(t, request{method: http.MethodPost, path: "/api/notifications", token: strings.Repeat("a", 32), body: `{"up_to": "x"}`})
	if res.code != http.StatusUnauthorized {
		t.Errorf("a bad token and a bad body: %d, want the token's 401 first", res.code)
	}
}

// TestNotificationsPolling: the page's ETag changes with a new
// notification, a marking read and a rename of an actor; a poll that
// finds nothing new is, when the page is not kept whole (responses.go), a
// 304 from one statement, which reads no notification.
func TestNotificationsPolling(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, keepingNothing)
	susan, token := srv.user(t, "susan")
	bob, bobToken := srv.user(t, "bob")
	srv.followByAPI(t, bobToken, bob, susan)
	const path = "/api/notifications"
	checkETag(t, srv, token, path, func() { srv.post(t, bobToken, "hi @susan") })
	checkETag(t, srv, token, path, func() {
		srv.do(t, request{method: http.MethodPost, path: path, token: token, body: `{"up_to": 1}`})
	})
	checkETag(t, srv, token, path, func() {
		srv.do(t, request{method: http.MethodPatch, path: userPathOf(bob), token: bobToken, body: `{"username": "robert"}`})
	})
	tag := srv.get(t, token, path, nil).header.Get("ETag")
	if other := srv.get(t, token, path+"?per_page=1", nil).header.Get("ETag"); other == tag {
		t.Errorf("two pages share the ETag %s", tag)
	}
	srv.get(t, token, path, map[string]string{"If-None-Match": tag})
	before := srv.statements.n.Load()
	res := srv.get(t, token, path, map[string]string{"If-None-Match": tag})
	if n := srv.statements.n.Load() - before; res.code != http.StatusNotModified || n != 1 {
		t.Errorf("a poll with the current tag: %d after %d statements, want 304 after 1", res.code, n)
	}
	before = srv.statements.n.Load()
	if res := srv.get(t, token, path+"?per_page=100", nil); res.code != http.StatusOK || srv.statements.n.Load()-before != 1 {
		t.Errorf("a page of notifications: %d after %d statements, want 200 after 1", res.code, srv.statements.n.Load()-before)
	}
}
