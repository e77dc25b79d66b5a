package resources_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"microblog/resources"
)

// get GETs path with extra headers.
func (s *testServer) get(t *testing.T, token, path string, header map[string]string) response {
	t.Helper()
	return s.do(t, request{method: http.MethodGet, path: path, token: token, header: header})
}

func TestConditionalGet(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	bob, bobToken := srv.user(t, "bob")
	post := srv.post(t, bobToken, "hello")
	// Each path, and a change that must give it a new tag.
	tests := []struct {
		path   string
		change func()
	}{
		{userPathOf(bob), func() { srv.follow(t, susan, bob) }},
		{"/api/me", func() { srv.clock.Advance(2 * time.Minute) }},
		{postPathOf(post), func() {
			srv.do(t, request{method: http.MethodPatch, path: postPathOf(post), token: bobToken, body: `{"body": "edited"}`})
		}},
		{"/api/users", func() {
			srv.do(t, request{method: http.MethodPatch, path: userPathOf(bob), token: bobToken, body: `{"about_me": "new"}`})
		}},
		{userPathOf(bob) + "/posts", func() {
			srv.do(t, request{method: http.MethodPatch, path: postPathOf(post), token: bobToken, body: `{"body": "again"}`})
		}},
		{"/api/feed", func() { srv.post(t, token, "mine") }},
		{userPathOf(bob) + "/followers", func() {
			srv.do(t, request{method: http.MethodPatch, path: userPathOf(susan), token: token, body: `{"about_me": "hi"}`})
		}},
		{"/api", nil},
	}
	for _, tt := range tests {
		checkETag(t, srv, token, tt.path, tt.change)
	}
}

// checkETag checks that GET path gives a strong tag and the expected
// Cache-Control, that the tag sent back in any form If-None-Match allows
// gives a bodiless 304 to GET and HEAD, that another tag or another
// representation does not match, and that after change (unless it is nil)
// the tag is new.
func checkETag(t *testing.T, srv *testServer, token, path string, change func()) {
	t.Helper()
	first := srv.get(t, token, path, nil)
	tag := first.header.Get("ETag")
	if first.code != http.StatusOK || len(tag) < 3 || tag[0] != '"' {
		t.Errorf("GET %s: %d with ETag %q, want a strong tag", path, first.code, tag)
		return
	}
	wantCache := "private, no-cache"
	switch {
	case path == "/api":
		wantCache = "public, max-age=300"
	case bytes.Contains(first.body, []byte(`"email"`)):
		// Only the caller's own email is ever shown.
		wantCache = "private, no-store"
	}
	if got := first.header.Get("Cache-Control"); got != wantCache {
		t.Errorf("GET %s: Cache-Control %q, want %q", path, got, wantCache)
	}
	for _, inm := range []string{tag, "W/" + tag, `"other", ` + tag, "*"} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			res := srv.do(t, request{method: method, path: path, token: token, header: map[string]string{"If-None-Match": inm}})
			if res.code != http.StatusNotModified || len(res.body) != 0 || res.header.Get("ETag") != tag ||
				res.header.Get("Vary") != first.header.Get("Vary") || res.header.Get("Cache-Control") != wantCache {
				t.Errorf("%s %s If-None-Match %s: %d ETag %q Vary %q body %q", method, path, inm, res.code,
					res.header.Get("ETag"), res.header.Get("Vary"), res.body)
			}
		}
	}
	if res := srv.get(t, token, path, map[string]string{"If-None-Match": `"something-else"`}); res.code != http.StatusOK {
		t.Errorf("GET %s with another tag: %d", path, res.code)
	}
	// Another representation of the same resource has its own tag.
	if res := srv.get(t, token, path, map[string]string{"Accept": "application/json"}); res.header.Get("ETag") == tag {
		t.Errorf("GET %s: the same tag for HAL and plain JSON", path)
	}
	if change == nil {
		return
	}
	change()
	res := srv.get(t, token, path, map[string]string{"If-None-Match": tag})
	if res.code != http.StatusOK || res.header.Get("ETag") == tag {
		t.Errorf("GET %s after a change: %d with the same tag %v", path, res.code, res.header.Get("ETag") == tag)
	}
}

func TestLastModified(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	_, token := srv.user(t, "susan")
	bob, bobToken := srv.user(t, "bob")
	post := srv.post(t, bobToken, "hello")
	for _, path := range []string{userPathOf(bob), postPathOf(post)} {
		res := srv.get(t, token, path, nil)
		lm, err := http.ParseTime(res.header.Get("Last-Modified"))
		if err != nil {
			t.Errorf("GET %s: Last-Modified %q: %v", path, res.header.Get("Last-Modified"), err)
			continue
		}
		later := lm.Add(time.Second).Format(http.TimeFormat)
		if res := srv.get(t, token, path, map[string]string{"If-Modified-Since": later}); res.code != http.StatusNotModified {
			t.Errorf("GET %s If-Modified-Since after Last-Modified: %d", path, res.code)
		}
		earlier := lm.Add(-time.Second).Format(http.TimeFormat)
		if res := srv.get(t, token, path, map[string]string{"If-Modified-Since": earlier}); res.code != http.StatusOK {
			t.Errorf("GET %s If-Modified-Since before Last-Modified: %d", path, res.code)
		}
		// If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
		if res := srv.get(t, token, path, map[string]string{"If-Modified-Since": later, "If-None-Match": `"other"`}); res.code != http.StatusOK {
			t.Errorf("GET %s with a stale If-None-Match and a fresh If-Modified-Since: %d", path, res.code)
		}
	}
}

func TestIfMatch(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	post := srv.post(t, token, "hello")
	for _, path := range []string{userPathOf(susan), postPathOf(post)} {
		tag := srv.get(t, token, path, nil).header.Get("ETag")
		formsTag := srv.get(t, token, path, formsAccept).header.Get("ETag")
		body := `{"about_me": "one"}`
		if path == postPathOf(post) {
			body = `{"body": "one"}`
		}
		for _, stale := range []string{`"stale"`, "W/" + tag} {
			res := srv.do(t, request{method: http.MethodPatch, path: path, token: token, body: body, header: map[string]string{"If-Match": stale}})
			if res.code != http.StatusPreconditionFailed {
				t.Errorf("PATCH %s If-Match %s: %s, want 412", path, stale, res)
			}
		}
		res := srv.do(t, request{method: http.MethodPatch, path: path, token: token, body: body, header: map[string]string{"If-Match": tag}})
		if res.code != http.StatusOK || res.header.Get("ETag") == "" || res.header.Get("ETag") == tag {
			t.Fatalf("PATCH %s with the current tag: %s, new ETag %q", path, res, res.header.Get("ETag"))
		}
		if got := srv.get(t, token, path, nil).header.Get("ETag"); got != res.header.Get("ETag") {
			t.Errorf("PATCH %s returned ETag %s, GET gives %s", path, res.header.Get("ETag"), got)
		}
		// The tag read before the change is stale now, whichever
		// representation it was read from.
		for _, old := range []string{tag, formsTag} {
			res = srv.do(t, request{method: http.MethodPut, path: path, token: token, body: body, header: map[string]string{"If-Match": old}})
			if res.code != http.StatusPreconditionFailed {
				t.Errorf("PUT %s with the tag before the change: %s, want 412", path, res)
			}
		}
		res = srv.do(t, request{method: http.MethodPut, path: path, token: token, body: body, header: map[string]string{"If-Match": "*"}})
		if res.code != http.StatusOK {
			t.Errorf("PUT %s If-Match *: %s", path, res)
		}
	}
	tag := srv.get(t, token, postPathOf(post), nil).header.Get("ETag")
	if res := srv.do(t, request{method: http.MethodDelete, path: postPathOf(post), token: token, header: map[string]string{"If-Match": `"stale"`}}); res.code != http.StatusPreconditionFailed {
		t.Errorf("DELETE with a stale tag: %s", res)
	}
	if res := srv.do(t, request{method: http.MethodDelete, path: postPathOf(post), token: token, header: map[string]string{"If-Match": tag}}); res.code != http.StatusNoContent {
		t.Errorf("DELETE with the current tag: %s", res)
	}
}

// TestIfMatchSurvivesLastSeen: a client's own request that records
// last_seen does not make its If-Match stale.
func TestIfMatchSurvivesLastSeen(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	tag := srv.get(t, token, userPathOf(susan), nil).header.Get("ETag")
	srv.clock.Advance(5 * time.Minute)
	res := srv.do(t, request{method: http.MethodPatch, path: userPathOf(susan), token: token,
		body: `{"about_me": "back"}`, header: map[string]string{"If-Match": tag}})
	if res.code != http.StatusOK {
		t.Errorf("PATCH with the tag read before last_seen moved: %s", res)
	}
}

func TestRequireIfMatch(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(c *resources.Config) { c.RequireIfMatch = true })
	susan, token := srv.user(t, "susan")
	post := srv.post(t, token, "hello")
	for _, req := range []request{
		{method: http.MethodPut, path: userPathOf(susan), body: `{"about_me": "x"}`},
		{method: http.MethodPatch, path: postPathOf(post), body: `{"body": "x"}`},
		{method: http.MethodDelete, path: postPathOf(post)},
	} {
		req.token = token
		if res := srv.do(t, req); res.code != http.StatusPreconditionRequired {
			t.Errorf("%s %s without If-Match: %s, want 428", req.method, req.path, res)
		}
		req.header = map[string]string{"If-Match": srv.get(t, token, req.path, nil).header.Get("ETag")}
		if res := srv.do(t, req); res.code >= 300 {
			t.Errorf("%s %s with If-Match: %s", req.method, req.path, res)
		}
	}
}

// TestConcurrentWriters: 20 clients read a post and write it back with the
// tag they read, at once: exactly one wins, the others get 412.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	post := srv.post(t, token, "start")
	// Of 20 writers holding one tag, of a post and of a user, exactly one
	// wins: the others get 412 from the check of the tag or, having passed
	// it together, from the write conditional on the version.
	for _, tt := range []struct{ method, path, body string }{
		{http.MethodPut, postPathOf(post), `{"body": "writer %d"}`},
		{http.MethodPatch, userPathOf(susan), `{"about_me": "writer %d"}`},
	} {
		tag := srv.get(t, token, tt.path, nil).header.Get("ETag")
		codes := make([]int, 20)
		var wg sync.WaitGroup
		for i := range codes {
			wg.Go(func() {
				res := srv.do(t, request{method: tt.method, path: tt.path, token: token,
					body: fmt.Sprintf(tt.body, i), header: map[string]string{"If-Match": tag}})
				codes[i] = res.code
			})
		}
		wg.Wait()
		won := 0
		for i, code := range codes {
			switch code {
			case http.StatusOK:
				won++
			case http.StatusPreconditionFailed:
			default:
				t.Errorf("%s %s, writer %d: %d", tt.method, tt.path, i, code)
			}
		}
		if won != 1 {
			t.Errorf("%s %s: %d writers won with the same tag, want exactly 1 (codes %v)", tt.method, tt.path, won, codes)
		}
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(c *resources.Config) { c.CORSOrigins = []string{"https://app.example"} })
	pre := srv.do(t, request{method: http.MethodOptions, path: "/api/users", header: map[string]string{
		"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
		"Access-Control-Request-Headers": "authorization,content-type", // as browsers send it: sorted, lower case
	}})
	if pre.code != http.StatusNoContent || pre.header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		pre.header.Get("Access-Control-Allow-Methods") == "" {
		t.Errorf("preflight: %d %v", pre.code, pre.header)
	}
	res := srv.get(t, "", "/api", map[string]string{"Origin": "https://app.example"})
	if res.header.Get("Access-Control-Allow-Origin") != "https://app.example" || res.header.Get("Access-Control-Expose-Headers") == "" {
		t.Errorf("GET from an allowed origin: %v", res.header)
	}
	// A cache must not hand one origin's answer to another.
	if vary := res.header.Get("Vary"); !strings.Contains(vary, "Origin") || !strings.Contains(vary, "Accept") {
		t.Errorf("GET from an allowed origin: Vary %q, want Origin and Accept", vary)
	}
	res = srv.get(t, "", "/api", map[string]string{"Origin": "https://evil.example"})
	if res.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET from another origin: %v", res.header)
	}
	// Without CORS settings a plain OPTIONS still lists what is allowed.
	plain := newTestServer(t)
	if res := plain.do(t, request{method: http.MethodOptions, path: "/api/users", header: map[string]string{"Origin": "https://app.example"}}); res.code != http.StatusNoContent || res.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("OPTIONS without CORS: %d %v", res.code, res.header)
	}
}

// TestTagsFollowSettings: a representation that shows a setting (the
// shortest password, in the edit form) gets another tag when the setting
// changes, though the data did not.
func TestTagsFollowSettings(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	tag := srv.get(t, token, userPathOf(susan), formsAccept).header.Get("ETag")
	other := newTestServer(t, func(c *resources.Config) { c.MinPasswordLength = 12 })
	other.register(t, "susan", "a-long-enough-password")
	otherToken := other.login(t, "susan", "a-long-enough-password")
	if got := other.get(t, otherToken, userPathOf(susan), formsAccept).header.Get("ETag"); got == tag {
		t.Errorf("the same tag %s for forms with different password lengths", tag)
	}
}

// TestConditionalUserGet pins the short path of a conditional GET of a
// user or a post that is not kept whole (responses.go): one statement when
// it matches, and the usual answers when the user, the post or the token is
// not there.
func TestConditionalUserGet(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, keepingNothing)
	_, token := srv.user(t, "susan")
	bob, _ := srv.user(t, "bob")
	post := srv.post(t, token, "hello")
	for _, path := range []string{userPathOf(bob), postPathOf(post)} {
		tag := srv.get(t, token, path, nil).header.Get("ETag")
		before := srv.statements.n.Load()
		if res := srv.get(t, token, path, map[string]string{"If-None-Match": tag}); res.code != http.StatusNotModified {
			t.Fatalf("matching conditional GET %s: %s", path, res)
		}
		if n := srv.statements.n.Load() - before; n != 1 {
			t.Errorf("a matching conditional GET of %s took %d statements, want 1", path, n)
		}
	}
	inm := map[string]string{"If-None-Match": `"some-tag"`}
	for _, tt := range []struct {
		path, token string
		want        int
	}{
		{userPathOf(999), token, http.StatusNotFound},
		{postPathOf(999), token, http.StatusNotFound},
		{postPathOf(post), "", http.StatusUnauthorized},
		{"/api/users/abc", token, http.StatusNotFound},
		{userPathOf(bob), "", http.StatusUnauthorized},
		{"/api/users/abc", "", http.StatusUnauthorized},
		{userPathOf(bob), "0123456789abcdef0123456789abcdef", http.StatusUnauthorized},
	} {
		if res := srv.get(t, tt.token, tt.path, inm); res.code != tt.want {
			t.Errorf("conditional GET %s (token %q): %s, want %d", tt.path, tt.token, res, tt.want)
		}
	}
}

// TestAPostMovesItsAuthor: a post written or deleted changes its author's
// representation (post_count), so it moves the author's ETag, the version
// that If-Match checks and Last-Modified, also when the post is not one of
// the five the author shows; a page that lists the author shows the count.
func TestAPostMovesItsAuthor(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	_, bobToken := srv.user(t, "bob")
	oldest := srv.post(t, token, "the oldest")
	for i := range 5 {
		srv.post(t, token, fmt.Sprintf("post %d", i))
	}
	path := userPathOf(susan)
	read := func() (tag string, modified time.Time, count any) {
		res := srv.get(t, bobToken, path, nil)
		lm, err := http.ParseTime(res.header.Get("Last-Modified"))
		if err != nil {
			t.Fatal(err)
		}
		return res.header.Get("ETag"), lm, res.json(t)["post_count"]
	}
	tag, modified, count := read()
	ownTag := srv.get(t, token, path, nil).header.Get("ETag")
	if count != 6.0 {
		t.Fatalf("post_count %v, want 6", count)
	}
	time.Sleep(1100 * time.Millisecond) // Last-Modified counts seconds
	if res := srv.do(t, request{method: http.MethodDelete, path: postPathOf(oldest), token: token}); res.code != http.StatusNoContent {
		t.Fatalf("DELETE the oldest post: %s", res)
	}
	newTag, newModified, count := read()
	if count != 5.0 || newTag == tag || !newModified.After(modified) {
		t.Errorf("after the oldest post went: post_count %v, ETag %s (%s before), Last-Modified %v (%v before)",
			count, newTag, tag, newModified, modified)
	}
	if res := srv.get(t, bobToken, path, map[string]string{"If-None-Match": tag}); res.code != http.StatusOK {
		t.Errorf("If-None-Match with the tag before the deletion: %s, want 200", res)
	}
	if res := srv.get(t, bobToken, path, map[string]string{"If-Modified-Since": modified.Format(http.TimeFormat)}); res.code != http.StatusOK {
		t.Errorf("If-Modified-Since the time before the deletion: %s, want 200", res)
	}
	res := srv.do(t, request{method: http.MethodPatch, path: path, token: token, body: `{"about_me": "hi"}`,
		header: map[string]string{"If-Match": ownTag}})
	if res.code != http.StatusPreconditionFailed {
		t.Errorf("PATCH with the tag before the deletion: %s, want 412", res)
	}
	page := srv.get(t, bobToken, "/api/users?per_page=100", nil).json(t)
	listed := false
	for _, u := range page["_embedded"].(map[string]any)["mb:users"].([]any) {
		if u := u.(map[string]any); u["username"] == "susan" {
			listed = true
			if u["post_count"] != 5.0 {
				t.Errorf("the page of users shows susan's post_count %v, want 5", u["post_count"])
			}
		}
	}
	if !listed {
		t.Error("the page of users does not list susan")
	}
}
