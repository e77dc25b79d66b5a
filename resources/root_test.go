package resources_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"microblog/resources"
)

func TestRoot(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)

	res := srv.do(t, request{method: http.MethodGet, path: "/api"})

	if res.code != http.StatusOK {
		t.Fatalf("GET /api: %s", res)
	}
	if got := res.header.Get("Cache-Control"); got != "public, max-age=300" {
		t.Errorf("Cache-Control = %q", got)
	}
	if got := res.header.Get("Vary"); got != "Accept" {
		t.Errorf("Vary = %q, want Accept", got)
	}
	golden(t, "root.golden.json", res.body)
}

func TestNegotiation(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	tests := []struct {
		accept      string
		status      int
		contentType string
	}{
		{"", http.StatusOK, "application/hal+json"},
		{"*/*", http.StatusOK, "application/hal+json"},
		{"application/*", http.StatusOK, "application/hal+json"},
		{"application/hal+json", http.StatusOK, "application/hal+json"},
		{"application/json", http.StatusOK, "application/json"},
		{"application/prs.hal-forms+json", http.StatusOK, "application/prs.hal-forms+json"},
		{"application/json;q=0.9, application/hal+json;q=0.1", http.StatusOK, "application/json"},
		{"application/hal+json;q=0, */*;q=0.5", http.StatusOK, "application/prs.hal-forms+json"},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", http.StatusOK, "application/hal+json"},
		{"application/xml", http.StatusNotAcceptable, "application/problem+json"},
		{"text/html", http.StatusNotAcceptable, "application/problem+json"},
		{"application/hal+json;q=0", http.StatusNotAcceptable, "application/problem+json"},
	}
	for _, tt := range tests {
		res := srv.do(t, request{method: http.MethodGet, path: "/api", header: map[string]string{"Accept": tt.accept}})
		ct := res.header.Get("Content-Type")
		if res.code != tt.status || ct != tt.contentType {
			t.Errorf("Accept %q: %d %s, want %d %s", tt.accept, res.code, ct, tt.status, tt.contentType)
		}
		if !strings.Contains(res.header.Get("Vary"), "Accept") {
			t.Errorf("Accept %q: Vary = %q, want Accept", tt.accept, res.header.Get("Vary"))
		}
	}
}

func TestJSONIsTheSameDocument(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	hal := srv.do(t, request{method: http.MethodGet, path: "/api"})
	plain := srv.do(t, request{method: http.MethodGet, path: "/api", header: map[string]string{"Accept": "application/json"}})
	if string(hal.body) != string(plain.body) {
		t.Errorf("application/json body differs from HAL:\n%s\n%s", plain.body, hal.body)
	}
}

func TestRels(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	root := srv.do(t, request{method: http.MethodGet, path: "/api"}).json(t)
	// Every curie'd rel the API uses anywhere must be documented; the root's
	// and a user's are collected here.
	id, token := srv.user(t, "susan")
	user := srv.do(t, request{method: http.MethodGet, path: userPathOf(id), token: token}).json(t)
	for _, doc := range []map[string]any{root, user} {
		for rel := range doc["_links"].(map[string]any) {
			name, ok := strings.CutPrefix(rel, "mb:")
			if !ok {
				continue
			}
			res := srv.do(t, request{method: http.MethodGet, path: "/api/rels/" + name})
			if res.code != http.StatusOK {
				t.Errorf("GET /api/rels/%s: %s", name, res)
				continue
			}
			if got := res.json(t)["rel"]; got != rel {
				t.Errorf("GET /api/rels/%s: rel = %v", name, got)
			}
			if got := res.header.Get("Cache-Control"); got != "public, max-age=300" {
				t.Errorf("GET /api/rels/%s: Cache-Control %q, want public, max-age=300 (API.md section 9)", name, got)
			}
			html := srv.do(t, request{method: http.MethodGet, path: "/api/rels/" + name,
				header: map[string]string{"Accept": "text/html"}})
			if html.code != http.StatusOK || !strings.HasPrefix(html.header.Get("Content-Type"), "text/html") ||
				!strings.Contains(string(html.body), rel) {
				t.Errorf("GET /api/rels/%s as HTML: %d %s", name, html.code, html.header.Get("Content-Type"))
			}
		}
	}
	if res := srv.do(t, request{method: http.MethodGet, path: "/api/rels/nonsense"}); res.code != http.StatusNotFound {
		t.Errorf("GET /api/rels/nonsense: %s", res)
	}
}

func TestMethodsAndErrors(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodDelete, "/api", http.StatusMethodNotAllowed, "GET, HEAD, OPTIONS"},
		{http.MethodPost, "/api/me", http.StatusMethodNotAllowed, "GET, HEAD, OPTIONS"},
		{http.MethodPost, "/api/users/1", http.StatusMethodNotAllowed, "DELETE, GET, HEAD, OPTIONS, PATCH, PUT"},
		{http.MethodGet, "/api/tokens", http.StatusMethodNotAllowed, "DELETE, OPTIONS, POST"},
		{http.MethodOptions, "/api", http.StatusNoContent, "GET, HEAD, OPTIONS"},
		{http.MethodOptions, "/api/users", http.StatusNoContent, "GET, HEAD, OPTIONS, POST"},
		{http.MethodOptions, "/api/users/7/followers", http.StatusNoContent, "GET, HEAD, OPTIONS"},
		{http.MethodOptions, "/api/tokens", http.StatusNoContent, "DELETE, OPTIONS, POST"},
		{http.MethodGet, "/api/nothing", http.StatusNotFound, ""},
		{http.MethodGet, "/nothing", http.StatusNotFound, ""},
		{http.MethodGet, "/api/users/1/", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		res := srv.do(t, request{method: tt.method, path: tt.path})
		if res.code != tt.status || res.header.Get("Allow") != tt.allow {
			t.Errorf("%s %s: %d Allow %q, want %d Allow %q", tt.method, tt.path, res.code,
				res.header.Get("Allow"), tt.status, tt.allow)
		}
		if tt.status >= 400 && res.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s: Content-Type %q, want problem+json", tt.method, tt.path, res.header.Get("Content-Type"))
		}
	}
}

func TestHTMLErrorPageForBrowsers(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	browser := map[string]string{"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/api/nothing", http.StatusNotFound},
		{http.MethodGet, "/nothing", http.StatusNotFound},
		{http.MethodDelete, "/api", http.StatusMethodNotAllowed},
	} {
		res := srv.do(t, request{method: tt.method, path: tt.path, header: browser})
		if res.code != tt.status || !strings.HasPrefix(res.header.Get("Content-Type"), "text/html") {
			t.Errorf("%s %s as a browser: %d %s", tt.method, tt.path, res.code, res.header.Get("Content-Type"))
		}
		json := srv.do(t, request{method: tt.method, path: tt.path})
		if json.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s as curl: %s", tt.method, tt.path, json.header.Get("Content-Type"))
		}
	}
	// A 401 is not a page a browser navigates to: it stays a problem.
	res := srv.do(t, request{method: http.MethodGet, path: "/api/me", header: browser})
	if res.code != http.StatusUnauthorized || res.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("GET /api/me as a browser: %d %s", res.code, res.header.Get("Content-Type"))
	}
}

func TestHead(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	id, token := srv.user(t, "susan")
	for _, path := range []string{"/api", "/api/me", userPathOf(id), "/api/users", userPathOf(id) + "/followers", "/api/rels/users"} {
		get := srv.do(t, request{method: http.MethodGet, path: path, token: token})
		head := srv.do(t, request{method: http.MethodHead, path: path, token: token})
		if head.code != get.code || head.header.Get("Content-Type") != get.header.Get("Content-Type") ||
			head.header.Get("Content-Length") != get.header.Get("Content-Length") {
			t.Errorf("HEAD %s: %d %q %q, GET: %d %q %q", path, head.code, head.header.Get("Content-Type"),
				head.header.Get("Content-Length"), get.code, get.header.Get("Content-Type"), get.header.Get("Content-Length"))
		}
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	res := srv.do(t, request{method: http.MethodGet, path: "/api", header: map[string]string{"X-Request-Id": "abc-123"}})
	if got := res.header.Get("X-Request-Id"); got != "abc-123" {
		t.Errorf("echoed X-Request-Id = %q", got)
	}
	res = srv.do(t, request{method: http.MethodGet, path: "/api", header: map[string]string{"X-Request-Id": "<script>"}})
	if got := res.header.Get("X-Request-Id"); got == "" || got == "<script>" {
		t.Errorf("X-Request-Id for an unsafe one = %q, want a new id", got)
	}
}

func TestForwardedPrefix(t *testing.T) {
	t.Parallel()
	trusting := newTestServer(t, func(c *resources.Config) { c.TrustForwardedPrefix = true })
	hdr := map[string]string{"X-Forwarded-Prefix": "/blog"}
	res := trusting.do(t, request{method: http.MethodGet, path: "/api", header: hdr})
	links := res.json(t)["_links"].(map[string]any)
	if got := links["self"].(map[string]any)["href"]; got != "/blog/api" {
		t.Errorf("trusted prefix: self = %v, want /blog/api", got)
	}
	if got := links["mb:users"].(map[string]any)["href"]; got != "/blog/api/users{?page,per_page}" {
		t.Errorf("trusted prefix: mb:users = %v", got)
	}
	plain := newTestServer(t)
	res = plain.do(t, request{method: http.MethodGet, path: "/api", header: hdr})
	links = res.json(t)["_links"].(map[string]any)
	if got := links["self"].(map[string]any)["href"]; got != "/api" {
		t.Errorf("untrusted prefix: self = %v, want /api", got)
	}
}

// TestInternalErrorsSayNothing breaks the database under the server and
// checks that the 500 it then gives holds no internal text.
func TestInternalErrorsSayNothing(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	_, token := srv.user(t, "susan")
	if _, err := srv.pool.Exec(t.Context(), `ALTER TABLE users RENAME COLUMN about_me TO about`); err != nil {
		t.Fatal(err)
	}
	for _, browser := range []bool{false, true} {
		hdr := map[string]string{}
		if browser {
			hdr["Accept"] = "text/html,*/*;q=0.8"
		}
		res := srv.do(t, request{method: http.MethodGet, path: "/api/users", token: token, header: hdr})
		if res.code != http.StatusInternalServerError || strings.HasPrefix(res.header.Get("Content-Type"), "text/html") != browser {
			t.Fatalf("GET /api/users on a broken schema: %s", res)
		}
		for _, leak := range []string{"about_me", "column", "does not exist", "persistence", "SQLSTATE"} {
			if strings.Contains(string(res.body), leak) {
				t.Errorf("the 500 (browser %v) shows %q: %s", browser, leak, res.body)
			}
		}
	}
}

func TestHome(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	for accept, want := range map[string]string{
		"text/html,application/xhtml+xml,*/*;q=0.8": "/explorer/",
		"*/*":                  "/api",
		"application/hal+json": "/api",
		"":                     "/api",
	} {
		res := srv.do(t, request{method: http.MethodGet, path: "/", header: map[string]string{"Accept": accept}})
		if res.code != http.StatusFound || res.header.Get("Location") != want {
			t.Errorf("GET / with Accept %q: %d to %q, want 302 to %q", accept, res.code, res.header.Get("Location"), want)
		}
	}
}

// TestEveryRoute walks the route table: on every path a method it does
// not serve is a 405 problem with the same Allow as OPTIONS, and HEAD
// answers as GET does, without a body.
func TestEveryRoute(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	bob, _ := srv.user(t, "bob")
	post := srv.post(t, token, "hello")
	message := srv.message(t, token, bob, "hello")
	engine := srv.handler.(*gin.Engine)
	allowed := map[string][]string{}
	for _, r := range engine.Routes() {
		allowed[r.Path] = append(allowed[r.Path], r.Method)
	}
	concrete := strings.NewReplacer("/users/:id/following/:target", fmt.Sprintf("/users/%d/following/%d", susan, bob),
		"/users/:id", userPathOf(susan)[len("/api"):], "/posts/:id", postPathOf(post)[len("/api"):], ":rel", "users",
		":user", fmt.Sprint(susan), "/messages/:id", messagePathOf(message)[len("/api"):],
		"/notifications/:id", "/notifications/1", "/tokens/:id", "/tokens/1", "/exports/:id", "/exports/1")
	for path, methods := range allowed {
		p := concrete.Replace(path)
		allow := srv.do(t, request{method: http.MethodOptions, path: p}).header.Get("Allow")
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if slices.Contains(methods, m) {
				continue
			}
			res := srv.do(t, request{method: m, path: p, token: token})
			if res.code != http.StatusMethodNotAllowed || res.header.Get("Allow") != allow ||
				res.header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s %s: %d Allow %q %s, want 405 Allow %q", m, p, res.code, res.header.Get("Allow"),
					res.header.Get("Content-Type"), allow)
			}
		}
		if !slices.Contains(methods, http.MethodGet) {
			continue
		}
		get := srv.do(t, request{method: http.MethodGet, path: p, token: token})
		head := srv.do(t, request{method: http.MethodHead, path: p, token: token})
		if head.code != get.code || head.header.Get("Content-Type") != get.header.Get("Content-Type") {
			t.Errorf("HEAD %s: %d %q, GET: %d %q", p, head.code, head.header.Get("Content-Type"), get.code, get.header.Get("Content-Type"))
		}
	}
}
