package resources_test

import (
	"fmt"
	"net/http"
	"regexp"
	"testing"
	"time"
)

// page is the part of a collection page the tests look at.
type page struct {
	links map[string]string
	meta  map[string]any
	ids   []int64
}

func getPage(t *testing.T, srv *testServer, token, path string) page {
	t.Helper()
	res := srv.do(t, request{method: http.MethodGet, path: path, token: token})
	if res.code != http.StatusOK {
		t.Fatalf("GET %s: %s", path, res)
	}
	body := res.json(t)
	p := page{links: map[string]string{}, meta: body["_meta"].(map[string]any)}
	for rel, l := range body["_links"].(map[string]any) {
		if m, ok := l.(map[string]any); ok {
			p.links[rel] = m["href"].(string)
		}
	}
	users, ok := body["_embedded"].(map[string]any)["mb:users"].([]any)
	if !ok {
		t.Fatalf("GET %s: no mb:users array: %s", path, res.body)
	}
	for _, u := range users {
		p.ids = append(p.ids, int64(u.(map[string]any)["id"].(float64)))
	}
	return p
}

func TestUsersPaging(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	_, token := srv.user(t, "u00")
	for i := 1; i < 25; i++ {
		srv.register(t, fmt.Sprintf("u%02d", i), "pw-of-users")
	}
	link := func(n int) string { return fmt.Sprintf("/api/users?page=%d&per_page=10", n) }
	// cur is the link to page n by the cursor of the user it starts after.
	cur := func(n, after int) string { return fmt.Sprintf("/api/users?after=%d&page=%d&per_page=10", after, n) }
	tests := []struct {
		path                    string
		self, first, prev, next string
		last                    string
		ids                     []int64
		meta                    map[string]any
	}{
		{"/api/users", link(1), link(1), "", cur(2, 10), link(3), ids(1, 10),
			map[string]any{"page": 1.0, "per_page": 10.0, "total_pages": 3.0, "total_items": 25.0}},
		// By number, as a client may ask; next leads on by cursor.
		{link(2), link(2), link(1), link(1), cur(3, 20), link(3), ids(11, 20), nil},
		{link(3), link(3), link(1), link(2), "", link(3), ids(21, 25), nil},
		{link(4), link(4), link(1), link(3), "", link(3), nil,
			map[string]any{"page": 4.0, "per_page": 10.0, "total_pages": 3.0, "total_items": 25.0}},
		// By cursor, as next and prev lead: the same pages and _meta.
		{cur(2, 10), cur(2, 10), link(1), link(1), cur(3, 20), link(3), ids(11, 20),
			map[string]any{"page": 2.0, "per_page": 10.0, "total_pages": 3.0, "total_items": 25.0}},
		{cur(3, 20), cur(3, 20), link(1), cur(2, 10), "", link(3), ids(21, 25), nil},
		// A cursor at the end, as the next link of a full last page leads
		// once users have been added: prev is the page of ten before it.
		{cur(4, 25), cur(4, 25), link(1), cur(3, 15), "", link(3), nil, nil},
		{"/api/users?per_page=1000", "/api/users?page=1&per_page=100", "/api/users?page=1&per_page=100", "", "",
			"/api/users?page=1&per_page=100", ids(1, 25), nil},
		{"/api/users?page=9223372036854775807&per_page=100", "/api/users?page=9223372036854775807&per_page=100",
			"/api/users?page=1&per_page=100", "/api/users?page=1&per_page=100", "", "/api/users?page=1&per_page=100", nil, nil},
	}
	for _, tt := range tests {
		p := getPage(t, srv, token, tt.path)
		want := map[string]string{"self": tt.self, "first": tt.first, "prev": tt.prev, "next": tt.next, "last": tt.last}
		for rel, href := range want {
			if p.links[rel] != href {
				t.Errorf("GET %s: %s = %q, want %q", tt.path, rel, p.links[rel], href)
			}
		}
		if fmt.Sprint(p.ids) != fmt.Sprint(tt.ids) {
			t.Errorf("GET %s: ids %v, want %v", tt.path, p.ids, tt.ids)
		}
		if tt.meta != nil && fmt.Sprint(p.meta) != fmt.Sprint(tt.meta) {
			t.Errorf("GET %s: _meta %v, want %v", tt.path, p.meta, tt.meta)
		}
	}
	res := srv.do(t, request{method: http.MethodGet, path: link(2), token: token})
	golden(t, "users_page2.golden.json", res.body)
}

func ids(from, to int64) []int64 {
	var s []int64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func TestPageParameters(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	id, token := srv.user(t, "susan")
	for _, base := range []string{"/api/users", userPathOf(id) + "/followers", userPathOf(id) + "/following"} {
		for _, q := range []string{"per_page=0", "per_page=-1", "per_page=abc", "per_page=", "page=0", "page=-1",
			"page=abc", "page=1.5", "page=99999999999999999999", "after=x", "after=1.2.3", "after=99999999999999999999.1"} {
			res := srv.do(t, request{method: http.MethodGet, path: base + "?" + q, token: token})
			if res.code != http.StatusBadRequest || res.json(t)["invalid_params"] == nil {
				t.Errorf("GET %s?%s: %s, want 400 naming the parameter", base, q, res)
			}
		}
	}
}

func TestFollowersAndFollowing(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	var others []int64
	for i := range 12 {
		others = append(others, srv.register(t, fmt.Sprintf("f%02d", i), "pw-of-followers"))
	}
	// Each follows susan, and susan follows each, a second apart.
	for _, o := range others {
		srv.clock.Advance(time.Second)
		srv.follow(t, o, susan)
		srv.follow(t, susan, o)
	}
	for _, suffix := range []string{"/followers", "/following"} {
		base := userPathOf(susan) + suffix
		first := getPage(t, srv, token, base)
		// Newest follow first.
		if want := reversed(others)[:10]; fmt.Sprint(first.ids) != fmt.Sprint(want) {
			t.Errorf("GET %s: ids %v, want %v", base, first.ids, want)
		}
		if first.meta["total_items"] != 12.0 || !regexp.MustCompile(`^`+base+`\?after=[0-9]+\.[0-9]+&page=2&per_page=10$`).MatchString(first.links["next"]) {
			t.Errorf("GET %s: _meta %v next %q", base, first.meta, first.links["next"])
		}
		second := getPage(t, srv, token, first.links["next"])
		if want := reversed(others)[10:]; fmt.Sprint(second.ids) != fmt.Sprint(want) {
			t.Errorf("GET %s: ids %v, want %v", first.links["next"], second.ids, want)
		}
		empty := getPage(t, srv, token, userPathOf(others[0])+suffix+"?page=3")
		if len(empty.ids) != 0 || empty.meta["total_items"] != 1.0 {
			t.Errorf("a page past the end of a short list: %v %v", empty.ids, empty.meta)
		}
	}
	u := srv.do(t, request{method: http.MethodGet, path: userPathOf(susan), token: token}).json(t)
	if u["follower_count"] != 12.0 || u["following_count"] != 12.0 {
		t.Errorf("counts: %v followers, %v following", u["follower_count"], u["following_count"])
	}
	res := srv.do(t, request{method: http.MethodGet, path: userPathOf(999) + "/followers", token: token})
	if res.code != http.StatusNotFound {
		t.Errorf("followers of an unknown user: %s", res)
	}
}

func reversed(s []int64) []int64 {
	r := make([]int64, len(s))
	for i, v := range s {
		r[len(s)-1-i] = v
	}
	return r
}

// TestStatementCounts pins the cost of the hot reads in SQL statements, the
// token check included: a user, and a page of users with all their counts,
// or of posts with the caller's likes, whatever its size.
func TestStatementCounts(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	for i := range 120 {
		id := srv.register(t, fmt.Sprintf("n%03d", i), "pw-of-counted")
		srv.follow(t, id, susan)
		srv.follow(t, susan, id)
	}
	for i := range 30 {
		srv.post(t, token, fmt.Sprintf("post %d", i))
	}
	tests := []struct {
		path string
		max  int64
	}{
		{"/api/me", 1},
		{userPathOf(susan), 1},
		{userPathOf(susan + 1), 1},
		{"/api/users?per_page=10", 1},
		{"/api/users?per_page=100", 1},
		{"/api/users?page=99&per_page=100", 1},
		{userPathOf(susan) + "/followers?per_page=100", 1},
		{userPathOf(susan) + "/following?per_page=100", 1},
		{userPathOf(susan) + "/posts?per_page=100", 1},
		{"/api/posts?per_page=100", 1},
		{"/api/feed?per_page=100", 1},
		{postPathOf(1), 1},
		{postPathOf(1) + "/replies?per_page=100", 1},
		{postPathOf(1) + "/likes?per_page=100", 1},
		{"/api/search/users?q=n0&per_page=100", 1},
		{"/api/search/posts?q=post&per_page=100", 1},
		{"/api/tags/none?per_page=100", 1},
		{userPathOf(susan) + "/sessions?per_page=100", 1},
		{"/api/tokens/1", 1},
	}
	for _, tt := range tests {
		// The first request may also prepare statements; count the second.
		srv.do(t, request{method: http.MethodGet, path: tt.path, token: token})
		before := srv.statements.n.Load()
		res := srv.do(t, request{method: http.MethodGet, path: tt.path, token: token})
		n := srv.statements.n.Load() - before
		if res.code != http.StatusOK {
			t.Errorf("GET %s: %s", tt.path, res)
		}
		if n > tt.max {
			t.Errorf("GET %s: %d SQL statements, want at most %d", tt.path, n, tt.max)
		}
		t.Logf("GET %s: %d SQL statements", tt.path, n)
	}
}
