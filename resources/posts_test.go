package resources_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// post creates a post as the holder of token and returns its id.
func (s *testServer) post(t *testing.T, token, body string) int64 {
	t.Helper()
	res := s.do(t, request{method: http.MethodPost, path: "/api/posts", token: token, body: fmt.Sprintf(`{"body": %q}`, body)})
	if res.code != http.StatusCreated {
		t.Fatalf("post %q: %s", body, res)
	}
	return int64(res.json(t)["id"].(float64))
}

func postPathOf(id int64) string { return fmt.Sprintf("/api/posts/%d", id) }

func TestPostLifecycle(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	_, token := srv.user(t, "susan")
	_, bobToken := srv.user(t, "bob")

	res := srv.do(t, request{method: http.MethodPost, path: "/api/posts", token: token, body: `{"body": "  hello, world  "}`})
	if res.code != http.StatusCreated {
		t.Fatalf("create: %s", res)
	}
	id := int64(res.json(t)["id"].(float64))
	if got := res.header.Get("Location"); got != postPathOf(id) {
		t.Errorf("Location = %q", got)
	}
	if b := res.json(t)["body"]; b != "hello, world" {
		t.Errorf("body = %q, want it trimmed", b)
	}
	golden(t, "post.golden.json", srv.do(t, request{method: http.MethodGet, path: postPathOf(id), token: token}).body)

	// Only the author may change it.
	for _, m := range []string{http.MethodPut, http.MethodPatch} {
		res := srv.do(t, request{method: m, path: postPathOf(id), token: bobToken, body: `{"body": "mine now"}`})
		if res.code != http.StatusForbidden {
			t.Errorf("%s by another user: %s", m, res)
		}
	}
	if res := srv.do(t, request{method: http.MethodDelete, path: postPathOf(id), token: bobToken}); res.code != http.StatusForbidden {
		t.Errorf("DELETE by another user: %s", res)
	}
	other := srv.do(t, request{method: http.MethodGet, path: postPathOf(id), token: bobToken}).json(t)
	if _, ok := other["_links"].(map[string]any)["edit"]; ok {
		t.Error("another user sees an edit link")
	}

	res = srv.do(t, request{method: http.MethodPatch, path: postPathOf(id), token: token, body: `{"body": "edited"}`})
	if res.code != http.StatusOK || res.json(t)["body"] != "edited" {
		t.Errorf("PATCH by the author: %s", res)
	}
	res = srv.do(t, request{method: http.MethodPut, path: postPathOf(id), token: token, body: `{"body": "again"}`})
	if res.code != http.StatusOK || res.json(t)["body"] != "again" {
		t.Errorf("PUT by the author: %s", res)
	}
	if res := srv.do(t, request{method: http.MethodDelete, path: postPathOf(id), token: token}); res.code != http.StatusNoContent {
		t.Errorf("DELETE by the author: %s", res)
	}
	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		if res := srv.do(t, request{method: m, path: postPathOf(id), token: token}); res.code != http.StatusNotFound {
			t.Errorf("%s after delete: %s", m, res)
		}
	}
	if res := srv.do(t, request{method: http.MethodPut, path: postPathOf(id), token: token, body: `{"body": "x"}`}); res.code != http.StatusNotFound {
		t.Errorf("PUT after delete: %s", res)
	}
}

func TestPostValidation(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	_, token := srv.user(t, "susan")
	id := srv.post(t, token, "original")
	tests := []struct {
		name, body string
		status     int
	}{
		{"141 characters", `{"body": "` + strings.Repeat("x", 141) + `"}`, 400},
		{"141 characters of é", `{"body": "` + strings.Repeat("é", 141) + `"}`, 400},
		{"only white space", `{"body": " \t\n\u00a0\u3000 "}`, 400},
		{"empty", `{"body": ""}`, 400},
		{"missing", `{}`, 400},
		{"a number", `{"body": 5}`, 400},
		{"null", `{"body": null}`, 400},
		{"null body", `null`, 400},
		{"array", `[]`, 400},
		{"malformed", `{"body": `, 400},
	}
	for _, tt := range tests {
		for _, req := range []request{
			{method: http.MethodPost, path: "/api/posts", body: tt.body},
			{method: http.MethodPut, path: postPathOf(id), body: tt.body},
		} {
			req.token = token
			res := srv.do(t, req)
			if res.code != tt.status {
				t.Errorf("%s %s %s: %s, want %d", tt.name, req.method, req.path, res, tt.status)
				continue
			}
			if tt.body != "null" && tt.body != "[]" && tt.body != `{"body": ` && !namesField(res.json(t), "body") {
				t.Errorf("%s: does not name body: %s", tt.name, res.body)
			}
		}
	}
	// 140 characters after trimming pass, however much white space is
	// around them.
	res := srv.do(t, request{method: http.MethodPost, path: "/api/posts", token: token,
		body: `{"body": "   ` + strings.Repeat("é", 140) + `   "}`})
	if res.code != http.StatusCreated {
		t.Errorf("140 characters: %s", res)
	}
	if res := srv.do(t, request{method: http.MethodPost, path: "/api/posts", body: `{"body": "x"}`}); res.code != http.StatusUnauthorized {
		t.Errorf("without a token: %s", res)
	}
	for _, bad := range []string{"abc", "0", "99999999999999999999"} {
		if res := srv.do(t, request{method: http.MethodGet, path: "/api/posts/" + bad, token: token}); res.code != http.StatusNotFound {
			t.Errorf("GET /api/posts/%s: %s", bad, res)
		}
	}
}

func TestHTMLInPostsIsText(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	_, token := srv.user(t, "susan")
	body := `<script>alert(1)</script> & <b>bold</b>`
	id := srv.post(t, token, body)
	res := srv.do(t, request{method: http.MethodGet, path: postPathOf(id), token: token})
	if got := res.json(t)["body"]; got != body {
		t.Errorf("body = %q, want it as sent", got)
	}
}

// TestPostCollections checks which posts, in which order, the feed, all
// posts and one user's posts list, their totals, and the newest posts a
// user embeds.
func TestPostCollections(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	a := seedThreeAuthors(t, srv)
	token, bob := a.token, a.bob
	feed := reversed(interleave(a.susans, a.bobs))
	got, meta := srv.listedPosts(t, token, "/api/feed?per_page=100")
	if fmt.Sprint(got) != fmt.Sprint(feed) || meta["total_items"] != 24.0 {
		t.Errorf("feed: %v (%v), want %v", got, meta, feed)
	}
	if got, _ := srv.listedPosts(t, token, "/api/feed?page=2&per_page=10"); fmt.Sprint(got) != fmt.Sprint(feed[10:20]) {
		t.Errorf("feed page 2: %v, want %v", got, feed[10:20])
	}
	all := reversed(interleave(a.susans, a.bobs, a.carols))
	if got, meta := srv.listedPosts(t, token, "/api/posts?per_page=100"); fmt.Sprint(got) != fmt.Sprint(all) || meta["total_items"] != 36.0 {
		t.Errorf("posts: %v, want %v", got, all)
	}
	if got, meta := srv.listedPosts(t, token, fmt.Sprintf("/api/users/%d/posts?per_page=100", bob)); fmt.Sprint(got) != fmt.Sprint(reversed(a.bobs)) || meta["total_items"] != 12.0 {
		t.Errorf("bob's posts: %v, want %v", got, reversed(a.bobs))
	}
	if got, _ := srv.listedPosts(t, token, "/api/feed?page=9"); len(got) != 0 {
		t.Errorf("feed past the end: %v", got)
	}
	// A user embeds their five newest posts.
	u := srv.do(t, request{method: http.MethodGet, path: userPathOf(bob), token: token}).json(t)
	if newest := embeddedPostIDs(u); fmt.Sprint(newest) != fmt.Sprint(reversed(a.bobs)[:5]) || u["post_count"] != 12.0 {
		t.Errorf("bob's newest: %v (count %v), want %v", newest, u["post_count"], reversed(a.bobs)[:5])
	}
	if res := srv.do(t, request{method: http.MethodGet, path: "/api/users/999/posts", token: token}); res.code != http.StatusNotFound {
		t.Errorf("posts of an unknown user: %s", res)
	}

	golden(t, "posts_page.golden.json", srv.do(t, request{method: http.MethodGet, path: "/api/posts?page=2&per_page=3", token: token}).body)
	golden(t, "feed.golden.json", srv.do(t, request{method: http.MethodGet, path: "/api/feed?per_page=3", token: token}).body)
	golden(t, "user_with_posts.golden.json", srv.do(t, request{method: http.MethodGet, path: userPathOf(bob), token: token}).body)
}

// threeAuthors is what seedThreeAuthors wrote: the ids of each author's
// posts, oldest first, bob's id, and a token of susan, who follows bob.
type threeAuthors struct {
	token                string
	bob                  int64
	susans, bobs, carols []int64
}

// seedThreeAuthors has susan, bob and carol post twelve times each, in
// turn and a second apart, and susan follow bob.
func seedThreeAuthors(t *testing.T, srv *testServer) threeAuthors {
	t.Helper()
	susan, token := srv.user(t, "susan")
	bob, bobToken := srv.user(t, "bob")
	_, carolToken := srv.user(t, "carol")
	a := threeAuthors{token: token, bob: bob}
	for i := range 12 {
		srv.clock.Advance(time.Second)
		a.susans = append(a.susans, srv.post(t, token, fmt.Sprintf("susan %d", i)))
		srv.clock.Advance(time.Second)
		a.bobs = append(a.bobs, srv.post(t, bobToken, fmt.Sprintf("bob %d", i)))
		srv.clock.Advance(time.Second)
		a.carols = append(a.carols, srv.post(t, carolToken, fmt.Sprintf("carol %d", i)))
	}
	if res := srv.do(t, request{method: http.MethodPut, path: fmt.Sprintf("/api/users/%d/following/%d", susan, bob), token: token}); res.code != http.StatusCreated {
		t.Fatalf("follow: %s", res)
	}
	return a
}

// listedPosts GETs a list of posts as the holder of token and returns the
// ids of the posts it embeds and its _meta.
func (s *testServer) listedPosts(t *testing.T, token, path string) ([]int64, map[string]any) {
	t.Helper()
	res := s.do(t, request{method: http.MethodGet, path: path, token: token})
	if res.code != http.StatusOK {
		t.Fatalf("GET %s: %s", path, res)
	}
	doc := res.json(t)
	return embeddedPostIDs(doc), doc["_meta"].(map[string]any)
}

// embeddedPostIDs returns the ids of the posts doc embeds as mb:posts.
func embeddedPostIDs(doc map[string]any) []int64 {
	var ids []int64
	for _, p := range doc["_embedded"].(map[string]any)["mb:posts"].([]any) {
		ids = append(ids, int64(p.(map[string]any)["id"].(float64)))
	}
	return ids
}

// TestWalkingByLinksWhilePostsArrive follows next through the feed and
// all posts while new posts arrive at the head: a client sees each post of
// the list once, none repeated (as page numbers would repeat them), and
// prev leads back through the same pages.
func TestWalkingByLinksWhilePostsArrive(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	bob, bobToken := srv.user(t, "bob")
	srv.follow(t, susan, bob)
	for i := range 10 {
		srv.clock.Advance(time.Second)
		srv.post(t, bobToken, fmt.Sprintf("bob %d", i))
	}
	ids := func(doc map[string]any) []int64 {
		var out []int64
		for _, p := range doc["_embedded"].(map[string]any)["mb:posts"].([]any) {
			out = append(out, int64(p.(map[string]any)["id"].(float64)))
		}
		return out
	}
	for _, list := range []string{"/api/feed", "/api/posts", fmt.Sprintf("/api/users/%d/posts", bob)} {
		want := ids(srv.do(t, request{method: http.MethodGet, path: list + "?per_page=100", token: token}).json(t))
		var seen []int64
		var pages []string
		for path := list + "?per_page=3"; path != ""; {
			res := srv.do(t, request{method: http.MethodGet, path: path, token: token})
			if res.code != http.StatusOK {
				t.Fatalf("GET %s: %s", path, res)
			}
			doc := res.json(t)
			seen = append(seen, ids(doc)...)
			pages = append(pages, doc["_links"].(map[string]any)["self"].(map[string]any)["href"].(string))
			srv.clock.Advance(time.Second)
			srv.post(t, bobToken, "arrives while a client reads")
			next, _ := doc["_links"].(map[string]any)["next"].(map[string]any)
			path, _ = next["href"].(string)
		}
		if len(want) < 10 || fmt.Sprint(seen) != fmt.Sprint(want) {
			t.Errorf("%s: walked %v, want %v", list, seen, want)
		}
		// Back by prev from the last page: the same pages, by the same hrefs.
		for i := len(pages) - 1; i > 0; i-- {
			doc := srv.do(t, request{method: http.MethodGet, path: pages[i], token: token}).json(t)
			prev := doc["_links"].(map[string]any)["prev"].(map[string]any)["href"].(string)
			if prev != pages[i-1] {
				t.Errorf("%s: prev of %s is %s, want %s", list, pages[i], prev, pages[i-1])
			}
		}
	}
}

// interleave returns a[0], b[0], c[0], a[1], ...
func interleave(lists ...[]int64) []int64 {
	var out []int64
	for i := range lists[0] {
		for _, l := range lists {
			out = append(out, l[i])
		}
	}
	return out
}

func TestFollowing(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	bob, bobToken := srv.user(t, "bob")
	path := fmt.Sprintf("/api/users/%d/following/%d", susan, bob)
	check := func(step string, want int, following bool) {
		t.Helper()
		if res := srv.do(t, request{method: http.MethodGet, path: path, token: bobToken}); res.code != want {
			t.Errorf("%s: GET %s: %s, want %d", step, path, res, want)
		}
		u := srv.do(t, request{method: http.MethodGet, path: userPathOf(bob), token: token}).json(t)
		links := u["_links"].(map[string]any)
		_, hasFollow := links["mb:follow"]
		_, hasUnfollow := links["mb:unfollow"]
		if u["is_following"] != following || hasFollow == following || hasUnfollow != following {
			t.Errorf("%s: is_following %v, follow link %v, unfollow link %v", step, u["is_following"], hasFollow, hasUnfollow)
		}
	}
	check("before", http.StatusNotFound, false)
	for _, want := range []int{http.StatusCreated, http.StatusNoContent} {
		if res := srv.do(t, request{method: http.MethodPut, path: path, token: token}); res.code != want {
			t.Errorf("PUT: %s, want %d", res, want)
		}
	}
	check("after following twice", http.StatusNoContent, true)
	if c := srv.do(t, request{method: http.MethodGet, path: userPathOf(bob), token: token}).json(t)["follower_count"]; c != 1.0 {
		t.Errorf("follower_count after following twice = %v", c)
	}
	for range 2 {
		if res := srv.do(t, request{method: http.MethodDelete, path: path, token: token}); res.code != http.StatusNoContent {
			t.Errorf("DELETE: %s", res)
		}
	}
	check("after unfollowing twice", http.StatusNotFound, false)

	tests := []struct {
		name, method, path string
		status             int
	}{
		{"someone else's following", http.MethodPut, fmt.Sprintf("/api/users/%d/following/%d", bob, susan), http.StatusForbidden},
		{"someone else's unfollowing", http.MethodDelete, fmt.Sprintf("/api/users/%d/following/%d", bob, susan), http.StatusForbidden},
		{"yourself", http.MethodPut, fmt.Sprintf("/api/users/%d/following/%d", susan, susan), http.StatusBadRequest},
		{"unknown user", http.MethodPut, fmt.Sprintf("/api/users/%d/following/999", susan), http.StatusNotFound},
		{"unfollow unknown user", http.MethodDelete, fmt.Sprintf("/api/users/%d/following/999", susan), http.StatusNotFound},
		{"bad id", http.MethodPut, fmt.Sprintf("/api/users/%d/following/abc", susan), http.StatusNotFound},
		{"huge id", http.MethodDelete, fmt.Sprintf("/api/users/%d/following/99999999999999999999", susan), http.StatusNotFound},
		{"get unknown", http.MethodGet, fmt.Sprintf("/api/users/%d/following/999", susan), http.StatusNotFound},
	}
	for _, tt := range tests {
		if res := srv.do(t, request{method: tt.method, path: tt.path, token: token}); res.code != tt.status {
			t.Errorf("%s: %s, want %d", tt.name, res, tt.status)
		}
	}
}

// TestConcurrentFollowToggles follows and unfollows one pair from 50
// goroutines at once: nothing fails, and the counts end equal to the rows.
func TestConcurrentFollowToggles(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	bob, _ := srv.user(t, "bob")
	path := fmt.Sprintf("/api/users/%d/following/%d", susan, bob)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			method := http.MethodPut
			if i%2 == 1 {
				method = http.MethodDelete
			}
			// A PUT that creates the follow is a 201.
			if res := srv.do(t, request{method: method, path: path, token: token}); res.code != http.StatusNoContent &&
				(method != http.MethodPut || res.code != http.StatusCreated) {
				t.Errorf("%s: %s", method, res)
			}
		})
	}
	wg.Wait()
	var rows int64
	if err := srv.pool.QueryRow(t.Context(), `SELECT count(*) FROM follows WHERE follower_id = $1 AND followed_id = $2`, susan, bob).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	s := srv.do(t, request{method: http.MethodGet, path: userPathOf(susan), token: token}).json(t)
	b := srv.do(t, request{method: http.MethodGet, path: userPathOf(bob), token: token}).json(t)
	if s["following_count"] != float64(rows) || b["follower_count"] != float64(rows) || b["is_following"] != (rows == 1) {
		t.Errorf("rows %d, susan following %v, bob followers %v, is_following %v", rows, s["following_count"], b["follower_count"], b["is_following"])
	}
}

// TestNewPostIsOneStatement: a post or a reply is written in the
// statement that checks its token, also when the check records the token's
// use and its user's last_seen; a bad token is still told before a bad
// body.
func TestNewPostIsOneStatement(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	var parent int64
	for i, req := range []request{
		{method: http.MethodPost, path: "/api/posts", token: token, body: `{"body": "first, recording last_seen"}`},
		{method: http.MethodPost, path: "/api/posts", token: token, body: `{"body": "second"}`},
		{method: http.MethodPost, path: "/api/posts/%d/replies", token: token, body: `{"body": "a reply"}`},
	} {
		if strings.Contains(req.path, "%d") {
			req.path = fmt.Sprintf(req.path, parent)
		}
		before := srv.statements.n.Load()
		res := srv.do(t, req)
		if n := srv.statements.n.Load() - before; res.code != http.StatusCreated || n != 1 {
			t.Fatalf("POST %d: %s in %d statements, want 201 in 1", i, res, n)
		}
		if author := res.json(t)["_links"].(map[string]any)["author"].(map[string]any)["href"]; author != userPathOf(susan) {
			t.Errorf("POST %d: author %v, want %s", i, author, userPathOf(susan))
		}
		parent = int64(res.json(t)["id"].(float64))
	}
	if got := srv.get(t, token, userPathOf(susan), nil).json(t); got["post_count"] != 3.0 || got["last_seen"] == nil {
		t.Errorf("susan after three posts: post_count %v, last_seen %v", got["post_count"], got["last_seen"])
	}
	for _, tt := range []struct {
		name, path, token, body string
		want                    int
	}{
		{"an unknown token", "/api/posts", "0123456789abcdef0123456789abcdef", `{"body": "x"}`, http.StatusUnauthorized},
		{"an unknown token and no body", "/api/posts", "0123456789abcdef0123456789abcdef", `{}`, http.StatusUnauthorized},
		{"a reply with an unknown token", postPathOf(parent) + "/replies", "0123456789abcdef0123456789abcdef", `{}`,
			http.StatusUnauthorized},
		{"no body", "/api/posts", token, `{}`, http.StatusBadRequest},
		{"a reply to no post", postPathOf(1<<40) + "/replies", token, `{"body": "x"}`, http.StatusNotFound},
	} {
		if res := srv.do(t, request{method: http.MethodPost, path: tt.path, token: tt.token, body: tt.body}); res.code != tt.want {
			t.Errorf("%s: %s, want %d", tt.name, res, tt.want)
		}
	}
}
