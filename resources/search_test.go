package resources_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestSearchByLinksAndForms finds people and posts as a generic HAL client
// does: from the root's links, expanded with their variables, and from the
// root's HAL-FORMS templates, submitted as a HAL-FORMS client submits a GET;
// and it walks the results by next links to the end.
func TestSearchByLinksAndForms(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	_, token := srv.user(t, "susan")
	for _, name := range []string{"sue", "Suez", "a-sue", "bob"} {
		srv.user(t, name)
	}
	for i := range 5 {
		srv.post(t, token, strings.Repeat("running ", i+1)+"#Go")
	}
	srv.post(t, token, "nothing to see")
	c := &halClient{t: t, srv: srv, token: token}
	root := c.get("/api")

	usersHref, _ := c.link(root, "mb:search-users", map[string]string{"q": "SUE", "per_page": "2"})
	golden(t, "search_users.golden.json", srv.do(t, request{method: http.MethodGet, path: usersHref, token: token}).body)
	if got := c.walkNames(usersHref, "mb:users", "username"); !slices.Equal(got, []string{"sue", "Suez", "a-sue"}) {
		t.Errorf("search users for SUE, 2 a page: %q, want [sue Suez a-sue]", got)
	}
	postsHref, _ := c.link(root, "mb:search-posts", map[string]string{"q": "runs", "per_page": "2"})
	want := []string{strings.Repeat("running ", 5) + "#Go"}
	if got := c.walkNames(postsHref, "mb:posts", "body"); len(got) != 5 || got[0] != want[0] {
		t.Errorf("search posts for runs: %q, want the 5 posts, the one that runs most first", got)
	}
	tagHref, _ := c.link(root, "mb:tag", map[string]string{"tag": "GO"})
	if got := c.walkNames(tagHref, "mb:posts", "body"); len(got) != 5 {
		t.Errorf("tag GO: %d posts, want 5", len(got))
	}

	forms, _ := srv.templates(t, token, "/api")
	for key, want := range map[string]string{"search-users": "Suez", "search-posts": "nothing to see"} {
		q := map[string]string{"search-users": "uez", "search-posts": "see"}[key]
		res := srv.submit(t, token, forms[key], map[string]string{"q": q})
		if res.code != http.StatusOK {
			t.Fatalf("submit %s: %s", key, res)
		}
		if !strings.Contains(string(res.body), `"`+want+`"`) {
			t.Errorf("submit %s with q=%s: %s, want %q in it", key, q, res.body, want)
		}
	}
}

// walkNames follows next links from href and returns the member name of
// every item embedded under rel.
func (c *halClient) walkNames(href, rel, name string) []string {
	c.t.Helper()
	var names []string
	for range 20 {
		doc := c.get(href)
		items, _ := doc["_embedded"].(map[string]any)[rel].([]any)
		for _, it := range items {
			names = append(names, it.(map[string]any)[name].(string))
		}
		next, ok := c.link(doc, "next", nil)
		if !ok {
			return names
		}
		href = next
	}
	c.t.Fatalf("more than 20 pages from %s", href)
	return nil
}

// TestSearchBadInput sends every bad q, and the characters special to LIKE
// and to tsquery: a 400 naming q for the first, a 200 for the others, and
// never a 5xx. A bad token is told before a bad q.
func TestSearchBadInput(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	_, token := srv.user(t, "susan")
	srv.post(t, token, "50% sale at a:b & c | d (really)!")
	long := strings.Repeat("é", 101)
	bad := map[string][]string{
		"/api/search/users": {"", "q=", "q=%20%20%09", "q=" + url.QueryEscape(long), "q=a%00b", "q=%ff"},
		"/api/search/posts": {"", "q=", "q=%20", "q=" + url.QueryEscape(long), "q=-", "q=or", "q=%22", "q=the", "q=-sale", "q=%21%21"},
	}
	for path, queries := range bad {
		for _, q := range queries {
			res := srv.do(t, request{method: http.MethodGet, path: path + "?" + q, token: token})
			if res.code != http.StatusBadRequest || !strings.Contains(string(res.body), `"name":"q"`) {
				t.Errorf("GET %s?%s: %s, want a 400 naming q", path, q, res)
			}
			if res := srv.do(t, request{method: http.MethodGet, path: path + "?" + q, token: "0123456789abcdef0123456789abcdef"}); res.code != http.StatusUnauthorized {
				t.Errorf("GET %s?%s with a bad token: %d, want 401 before the 400", path, q, res.code)
			}
		}
	}
	literal := map[string]int{
		"/api/search/users?q=" + url.QueryEscape("%"):              0,
		"/api/search/users?q=" + url.QueryEscape("_"):              0,
		"/api/search/users?q=" + url.QueryEscape(`\`):              0,
		"/api/search/users?q=" + url.QueryEscape(long[:100*2]):     0,
		"/api/search/posts?q=" + url.QueryEscape("50% sale"):       1,
		"/api/search/posts?q=" + url.QueryEscape("a:b & c | !d ("): 1,
		"/api/search/posts?q=" + url.QueryEscape(`\ "really`):      1,
		"/api/search/posts?q=" + url.QueryEscape("  sale  "):       1,
	}
	for path, n := range literal {
		res := srv.do(t, request{method: http.MethodGet, path: path, token: token})
		if res.code != http.StatusOK {
			t.Errorf("GET %s: %s, want 200", path, res)
			continue
		}
		if got := res.json(t)["_meta"].(map[string]any)["total_items"].(float64); int(got) != n {
			t.Errorf("GET %s: %v found, want %d", path, got, n)
		}
	}
	for _, path := range []string{"/api/search/users?q=s&after=9~x", "/api/search/posts?q=sale&after=NaN~1.1", "/api/search/posts?q=sale&after=1.5"} {
		if res := srv.do(t, request{method: http.MethodGet, path: path, token: token}); res.code != http.StatusBadRequest {
			t.Errorf("GET %s: %s, want a 400 naming after", path, res)
		}
	}
}

// TestUserByName checks that a user found by name is the user by id: the
// same body and ETag, with Content-Location naming the canonical URL.
func TestUserByName(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	_, token := srv.user(t, "susan")
	bob, _ := srv.user(t, "Bob.B")
	byID := srv.do(t, request{method: http.MethodGet, path: userPathOf(bob), token: token})
	for _, name := range []string{"Bob.B", "bob.b", "BOB.B"} {
		res := srv.do(t, request{method: http.MethodGet, path: "/api/users/by-name/" + name, token: token})
		if res.code != http.StatusOK || string(res.body) != string(byID.body) || res.header.Get("ETag") != byID.header.Get("ETag") {
			t.Errorf("by name %s: %s (ETag %s), want the user by id (ETag %s)", name, res, res.header.Get("ETag"), byID.header.Get("ETag"))
		}
		if loc := res.header.Get("Content-Location"); !strings.HasSuffix(loc, userPathOf(bob)) {
			t.Errorf("by name %s: Content-Location %q, want %s", name, loc, userPathOf(bob))
		}
	}
	for _, name := range []string{"nobody", "bad%20name", strings.Repeat("a", 65), "a%00b"} {
		if res := srv.do(t, request{method: http.MethodGet, path: "/api/users/by-name/" + name, token: token}); res.code != http.StatusNotFound {
			t.Errorf("by name %s: %s, want 404", name, res)
		}
	}
	res := srv.do(t, request{method: http.MethodGet, path: "/api/users?username=bob.b", token: token})
	if res.code != http.StatusSeeOther || !strings.HasSuffix(res.header.Get("Location"), "/api/users/by-name/bob.b") {
		t.Errorf("/api/users?username=bob.b: %d Location %q, want a 303 to mb:user-by-name", res.code, res.header.Get("Location"))
	}
}

// TestPostTagsAndMentionLinks checks the tags and the link arrays of a
// post: always present, empty when there is nothing; mentions only of
// users who exist; and each tag's page, which a malformed tag does not
// have.
func TestPostTagsAndMentionLinks(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	_, token := srv.user(t, "susan")
	bob, _ := srv.user(t, "bob")
	id := srv.post(t, token, "Hi @Bob and @nobody, #Café #cafe\u0301 #News")
	plain := srv.post(t, token, "nothing here")
	res := srv.do(t, request{method: http.MethodGet, path: postPathOf(id), token: token})
	golden(t, "post_tags_mentions.golden.json", res.body)
	doc := res.json(t)
	if got := doc["tags"]; !equalJSON(got, []any{"café", "news"}) {
		t.Errorf("tags %v, want [café news]", got)
	}
	links := doc["_links"].(map[string]any)
	if got := links["mb:tags"]; !equalJSON(got, []any{
		map[string]any{"href": "/api/tags/caf%C3%A9", "name": "café"}, map[string]any{"href": "/api/tags/news", "name": "news"}}) {
		t.Errorf("mb:tags %v", got)
	}
	if got := links["mb:mentions"]; !equalJSON(got, []any{map[string]any{"href": userPathOf(bob), "name": "bob"}}) {
		t.Errorf("mb:mentions %v, want bob alone", got)
	}
	doc = srv.do(t, request{method: http.MethodGet, path: postPathOf(plain), token: token}).json(t)
	links = doc["_links"].(map[string]any)
	if !equalJSON(doc["tags"], []any{}) || !equalJSON(links["mb:tags"], []any{}) || !equalJSON(links["mb:mentions"], []any{}) {
		t.Errorf("a post without tags or mentions: tags %v, mb:tags %v, mb:mentions %v; want three empty arrays",
			doc["tags"], links["mb:tags"], links["mb:mentions"])
	}
	for path, want := range map[string]int{"/api/tags/caf%C3%A9": http.StatusOK, "/api/tags/CAFE%CC%81": http.StatusOK,
		"/api/tags/unused": http.StatusOK, "/api/tags/two%20words": http.StatusNotFound, "/api/tags/%23news": http.StatusNotFound,
		"/api/tags/" + strings.Repeat("x", 65): http.StatusNotFound} {
		if res := srv.do(t, request{method: http.MethodGet, path: path, token: token}); res.code != want {
			t.Errorf("GET %s: %s, want %d", path, res, want)
		}
	}
}

func equalJSON(got any, want []any) bool {
	g, ok := got.([]any)
	return ok && slices.EqualFunc(g, want, func(a, b any) bool {
		am, aok := a.(map[string]any)
		bm, bok := b.(map[string]any)
		if aok && bok {
			return am["href"] == bm["href"] && am["name"] == bm["name"]
		}
		return a == b
	})
}

// TestMentionRenamed checks that a post, and its author's user, which
// shows it, change when a user the post mentions changes their username:
// a client revalidating with its ETag gets the new name, not a 304.
func TestMentionRenamed(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	bob, bobToken := srv.user(t, "bob")
	post := srv.post(t, token, "hi @bob")
	var tags []string
	for _, path := range []string{postPathOf(post), userPathOf(susan)} {
		tags = append(tags, srv.do(t, request{method: http.MethodGet, path: path, token: token}).header.Get("ETag"))
	}
	res := srv.do(t, request{method: http.MethodPatch, path: userPathOf(bob), token: bobToken, body: `{"username": "robert"}`})
	if res.code != http.StatusOK {
		t.Fatalf("rename: %s", res)
	}
	for i, path := range []string{postPathOf(post), userPathOf(susan)} {
		res := srv.do(t, request{method: http.MethodGet, path: path, token: token, header: map[string]string{"If-None-Match": tags[i]}})
		if res.code != http.StatusOK || !strings.Contains(string(res.body), `"name":"robert"`) {
			t.Errorf("GET %s after the rename, with the ETag from before: %s, want the new name", path, res)
		}
	}
}
