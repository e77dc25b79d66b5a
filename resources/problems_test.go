package resources_test

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"microblog/resources"
)

// TestProblemTypes makes each problem the API reports and checks its type,
// which tells a client what happened without reading the English of detail
// (API.md section 12).
func TestProblemTypes(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	bob, _ := srv.user(t, "bob")
	register := func(username, email string) string {
		return fmt.Sprintf(`{"username": %q, "email": %q, "password": "12345678"}`, username, email)
	}
	tests := []struct {
		name string
		req  request
		want string
	}{
		{"a field breaks its rule", request{method: http.MethodPost, path: "/api/users", body: register("", "a@example.com")}, "validation"},
		{"a field is missing", request{method: http.MethodPost, path: "/api/users", body: `{}`}, "validation"},
		{"a query parameter", request{method: http.MethodGet, path: "/api/users?page=0", token: token}, "validation"},
		{"not JSON", request{method: http.MethodPost, path: "/api/users", body: `{"username":`}, "malformed-body"},
		{"not an object", request{method: http.MethodPost, path: "/api/users", body: `[]`}, "malformed-body"},
		{"username taken", request{method: http.MethodPost, path: "/api/users", body: register("SUSAN", "a@example.com")}, "username-taken"},
		{"email taken", request{method: http.MethodPost, path: "/api/users", body: register("a", "Susan@example.com")}, "email-taken"},
		{"follow yourself", request{method: http.MethodPut, path: followPathOf(susan, susan), token: token}, "cannot-follow-self"},
		{"no token", request{method: http.MethodGet, path: "/api/me"}, "unauthorized"},
		{"no credentials", request{method: http.MethodPost, path: "/api/tokens"}, "unauthorized"},
		{"wrong password", request{method: http.MethodPost, path: "/api/tokens",
			header: map[string]string{"Authorization": basic("susan", "wrong")}}, "unauthorized"},
		{"unknown token", request{method: http.MethodGet, path: "/api/me", token: strings.Repeat("0", 32)}, "invalid-token"},
		{"malformed token", request{method: http.MethodGet, path: "/api/me", token: "nope"}, "invalid-token"},
		{"someone else's follow", request{method: http.MethodPut, path: followPathOf(bob, susan), token: token}, "forbidden"},
		{"no such user", request{method: http.MethodGet, path: "/api/users/999", token: token}, "not-found"},
		{"no such path", request{method: http.MethodGet, path: "/api/nothing"}, "not-found"},
		{"method", request{method: http.MethodDelete, path: "/api"}, "method-not-allowed"},
		{"Accept", request{method: http.MethodGet, path: "/api", header: map[string]string{"Accept": "application/xml"}}, "not-acceptable"},
		{"Content-Type", request{method: http.MethodPost, path: "/api/users", body: register("a", "a@example.com"),
			header: map[string]string{"Content-Type": "text/plain"}}, "unsupported-media-type"},
		{"over 1 MiB", request{method: http.MethodPost, path: "/api/users",
			body: `{"about_me": "` + strings.Repeat("a", 1<<20) + `"}`}, "payload-too-large"},
		{"stale If-Match", request{method: http.MethodPatch, path: userPathOf(susan), token: token, body: `{"about_me": "x"}`,
			header: map[string]string{"If-Match": `"nope"`}}, "precondition-failed"},
	}
	for _, tt := range tests {
		res := srv.do(t, tt.req)
		if got := problemOf(t, res); got != tt.want {
			t.Errorf("%s: problem %q, want %q", tt.name, got, tt.want)
		}
		if tt.want == "username-taken" {
			golden(t, "problem.golden.json", res.body)
		}
	}
}

// TestProblemTypesOfSettings makes the problems that come of the server's
// settings: a required If-Match, login limits, a request timeout.
func TestProblemTypesOfSettings(t *testing.T) {
	t.Parallel()
	strict := newTestServer(t, func(c *resources.Config) {
		c.RequireIfMatch = true
		c.LoginPerUser = resources.RateLimit{Events: 1, Period: time.Hour, Burst: 1}
	})
	id, token := strict.user(t, "alice")
	for _, tt := range []struct {
		name string
		req  request
		want string
	}{
		{"no If-Match", request{method: http.MethodPatch, path: userPathOf(id), token: token, body: `{"about_me": "x"}`}, "precondition-required"},
		{"too many logins", request{method: http.MethodPost, path: "/api/tokens",
			header: map[string]string{"Authorization": basic("alice", "pw-of-alice")}}, "rate-limited"},
	} {
		if got := problemOf(t, strict.do(t, tt.req)); got != tt.want {
			t.Errorf("%s: problem %q, want %q", tt.name, got, tt.want)
		}
	}

	// A request timeout that has passed before the database is asked.
	hurried := newTestServer(t, func(c *resources.Config) { c.RequestTimeout = time.Nanosecond })
	res := hurried.do(t, request{method: http.MethodGet, path: "/api/me", token: strings.Repeat("0", 32)})
	if got := problemOf(t, res); got != "unavailable" {
		t.Errorf("out of time: problem %q, want unavailable: %s", got, res)
	}
}

// problemOf returns the name of the problem type of a problem response,
// checking that its type is the URL of that name, which documents it.
func problemOf(t *testing.T, res response) string {
	t.Helper()
	typ, _ := res.json(t)["type"].(string)
	name, ok := strings.CutPrefix(typ, "/api/problems/")
	if !ok {
		t.Errorf("problem type %q: %s", typ, res)
	}
	return name
}

func followPathOf(follower, followed int64) string {
	return fmt.Sprintf("/api/users/%d/following/%d", follower, followed)
}

// TestProblemDocuments checks that every problem type is documented at its
// URL: HAL for a program, HTML for a browser, cacheable by anyone.
func TestProblemDocuments(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	docs, err := problemDocs()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"validation", "malformed-body", "username-taken", "email-taken", "cannot-follow-self",
		"unauthorized", "invalid-token", "forbidden", "not-found", "method-not-allowed", "not-acceptable",
		"unsupported-media-type", "payload-too-large", "precondition-failed", "precondition-required",
		"rate-limited", "unavailable", "request-timeout", "conflict", "header-fields-too-large",
		"client-closed-request", "internal-error", "not-implemented"} {
		if _, ok := docs[name]; !ok {
			t.Errorf("problems.json does not document %s", name)
		}
	}
	for name, status := range docs {
		path := "/api/problems/" + name
		res := srv.do(t, request{method: http.MethodGet, path: path})
		if res.code != http.StatusOK || res.header.Get("Cache-Control") != "public, max-age=300" {
			t.Errorf("GET %s: %s, Cache-Control %q", path, res, res.header.Get("Cache-Control"))
			continue
		}
		if name == "username-taken" {
			golden(t, "problem_type.golden.json", res.body)
		}
		doc := res.json(t)
		if doc["name"] != name || doc["status"] != float64(status) || doc["title"] == "" || doc["description"] == "" {
			t.Errorf("GET %s: %s", path, res.body)
		}
		html := srv.do(t, request{method: http.MethodGet, path: path, header: map[string]string{"Accept": "text/html"}})
		if html.code != http.StatusOK || !strings.Contains(string(html.body), "<code>"+path+"</code>") {
			t.Errorf("GET %s as HTML: %s", path, html)
		}
	}
	if res := srv.do(t, request{method: http.MethodGet, path: "/api/problems/nonsense"}); res.code != http.StatusNotFound {
		t.Errorf("GET /api/problems/nonsense: %s", res)
	}
}

// TestProblemTypeBehindProxy: a problem's type starts with a trusted
// proxy's prefix, like every href.
func TestProblemTypeBehindProxy(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(c *resources.Config) { c.TrustForwardedPrefix = true })
	res := srv.do(t, request{method: http.MethodGet, path: "/api/me", header: map[string]string{"X-Forwarded-Prefix": "/mb"}})
	if got := res.json(t)["type"]; got != "/mb/api/problems/unauthorized" {
		t.Errorf("type behind /mb: %v, want /mb/api/problems/unauthorized", got)
	}
}

// TestRelsIndex checks /api/rels, where the curie leads without a rel:
// every rel and every problem type, embedded, and linked from the root
// with the explorer.
func TestRelsIndex(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	root := srv.do(t, request{method: http.MethodGet, path: "/api"}).json(t)
	links := root["_links"].(map[string]any)
	if l, _ := links["mb:rels"].(map[string]any); l["href"] != "/api/rels" {
		t.Errorf("root mb:rels: %v", links["mb:rels"])
	}
	if l, _ := links["mb:explorer"].(map[string]any); l["href"] != "/explorer/" || l["type"] != "text/html" {
		t.Errorf("root mb:explorer: %v", links["mb:explorer"])
	}

	res := srv.do(t, request{method: http.MethodGet, path: "/api/rels"})
	if res.code != http.StatusOK || res.header.Get("Cache-Control") != "public, max-age=300" {
		t.Fatalf("GET /api/rels: %s, Cache-Control %q", res, res.header.Get("Cache-Control"))
	}
	embedded := res.json(t)["_embedded"].(map[string]any)
	var rels, problems []string
	for _, r := range embedded["mb:rels"].([]any) {
		rels = append(rels, strings.TrimPrefix(r.(map[string]any)["rel"].(string), "mb:"))
	}
	for _, p := range embedded["mb:problems"].([]any) {
		doc := p.(map[string]any)
		self := doc["_links"].(map[string]any)["self"].(map[string]any)["href"]
		if self != "/api/problems/"+doc["name"].(string) {
			t.Errorf("embedded problem %v: self %v", doc["name"], self)
		}
		problems = append(problems, doc["name"].(string))
	}
	slices.Sort(rels)
	if want := documentedRels(t); !slices.Equal(rels, want) {
		t.Errorf("/api/rels embeds the rels %v, want %v", rels, want)
	}
	docs, err := problemDocs()
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != len(docs) {
		t.Errorf("/api/rels embeds %d problem types, want %d", len(problems), len(docs))
	}
}

// TestNonCanonicalIDs: an id written otherwise than the server writes it
// names no resource, so that a resource has one URL.
func TestNonCanonicalIDs(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	bob, _ := srv.user(t, "bob")
	post := srv.post(t, token, "hello")
	for _, path := range []string{
		"/api/users/0" + fmt.Sprint(susan), "/api/users/%2B" + fmt.Sprint(susan), "/api/users/+" + fmt.Sprint(susan),
		"/api/users/0" + fmt.Sprint(susan) + "/followers", "/api/users/0" + fmt.Sprint(susan) + "/posts",
		fmt.Sprintf("/api/users/%d/following/0%d", susan, bob), fmt.Sprintf("/api/posts/0%d", post),
		fmt.Sprintf("/api/posts/%%2B%d", post),
	} {
		if res := srv.do(t, request{method: http.MethodGet, path: path, token: token}); res.code != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", path, res)
		}
	}
	if res := srv.do(t, request{method: http.MethodPut, path: fmt.Sprintf("/api/users/%d/following/0%d", susan, bob), token: token}); res.code != http.StatusNotFound {
		t.Errorf("PUT a follow of 0%d: %s, want 404", bob, res)
	}
	if res := srv.do(t, request{method: http.MethodGet, path: userPathOf(susan), token: token}); res.code != http.StatusOK {
		t.Errorf("GET %s: %s", userPathOf(susan), res)
	}
}

// TestFollowCreates: the follow PUT that creates the follow is a 201 with
// its Location; a PUT of a follow that exists is a 204.
func TestFollowCreates(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(c *resources.Config) { c.TrustForwardedPrefix = true })
	susan, token := srv.user(t, "susan")
	bob, _ := srv.user(t, "bob")
	path := followPathOf(susan, bob)
	res := srv.do(t, request{method: http.MethodPut, path: path, token: token})
	if res.code != http.StatusCreated || res.header.Get("Location") != path || len(res.body) != 0 {
		t.Errorf("PUT %s: %s, Location %q; want 201 with Location %s", path, res, res.header.Get("Location"), path)
	}
	res = srv.do(t, request{method: http.MethodPut, path: path, token: token})
	if res.code != http.StatusNoContent || res.header.Get("Location") != "" {
		t.Errorf("PUT %s again: %s, Location %q; want 204", path, res, res.header.Get("Location"))
	}
	if res := srv.do(t, request{method: http.MethodGet, path: path, token: token}); res.code != http.StatusNoContent {
		t.Errorf("GET %s: %s", path, res)
	}
	srv.do(t, request{method: http.MethodDelete, path: path, token: token})
	res = srv.do(t, request{method: http.MethodPut, path: path, token: token, header: map[string]string{"X-Forwarded-Prefix": "/mb"}})
	if res.code != http.StatusCreated || res.header.Get("Location") != "/mb"+path {
		t.Errorf("PUT %s behind /mb: %s, Location %q", path, res, res.header.Get("Location"))
	}
}

// TestHTMLIsLockedDown checks every kind of HTML page the server sends,
// outside the explorer, for a policy that lets it load nothing it does not
// need and be framed by no one, and for nosniff (API.md section 12).
// checkResponse checks the same of every response of every test.
func TestHTMLIsLockedDown(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	browser := map[string]string{"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/api/docs", http.StatusOK},
		{http.MethodGet, "/api/rels/users", http.StatusOK},
		{http.MethodGet, "/api/problems/not-found", http.StatusOK},
		{http.MethodGet, "/api/nothing", http.StatusNotFound},
		{http.MethodGet, "/nothing", http.StatusNotFound},
		{http.MethodDelete, "/api", http.StatusMethodNotAllowed},
		{http.MethodGet, "/", http.StatusFound},
	} {
		res := srv.do(t, request{method: tt.method, path: tt.path, header: browser})
		csp := res.header.Get("Content-Security-Policy")
		if res.code != tt.status || !strings.HasPrefix(res.header.Get("Content-Type"), "text/html") ||
			!strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") ||
			res.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s as a browser: %d, Content-Type %q, Content-Security-Policy %q, X-Content-Type-Options %q",
				tt.method, tt.path, res.code, res.header.Get("Content-Type"), csp, res.header.Get("X-Content-Type-Options"))
		}
		if tt.path != "/api/docs" {
			continue
		}
		// The page's one style sheet is allowed by its hash, and nothing
		// else is styled inline.
		m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindAllStringSubmatch(string(res.body), -1)
		if len(m) != 1 || strings.Contains(string(res.body), " style=") {
			t.Fatalf("/api/docs has %d style elements, or a style attribute", len(m))
		}
		sum := sha256.Sum256([]byte(m[0][1]))
		if hash := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, hash) {
			t.Errorf("/api/docs: Content-Security-Policy %q does not allow its style sheet (%s)", csp, hash)
		}
	}
}
