package resources_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/yosida95/uritemplate/v3"
	"golang.org/x/net/html"
)

func TestExplorerServesItsFiles(t *testing.T) {
	t.Parallel()
	h := newTestServer(t).handler
	tests := []struct {
		path, contentType string
	}{
		{"/explorer/", "text/html; charset=utf-8"},
		{"/explorer/explorer.js", "text/javascript; charset=utf-8"},
		{"/explorer/explorer.css", "text/css; charset=utf-8"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
		if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			t.Fatalf("GET %s = %d with %d bytes, want 200 with a body", tt.path, rec.Code, rec.Body.Len())
		}
		if got := rec.Header().Get("Content-Type"); got != tt.contentType {
			t.Errorf("GET %s: Content-Type = %q, want %q", tt.path, got, tt.contentType)
		}
		if got := rec.Header().Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control = %q, want no-cache", tt.path, got)
		}
		csp := rec.Header().Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: Content-Security-Policy %q lacks %q", tt.path, csp, want)
			}
		}
		etag := rec.Header().Get("ETag")
		req := httptest.NewRequest(http.MethodGet, tt.path, nil)
		req.Header.Set("If-None-Match", etag)
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if etag == "" || rec.Code != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match %s = %d, want 304", tt.path, etag, rec.Code)
		}
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, tt.path, nil))
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
			t.Errorf("HEAD %s = %d with %d bytes, want 200 and no body", tt.path, rec.Code, rec.Body.Len())
		}
	}

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/explorer", nil))
	if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "explorer/" {
		t.Errorf("GET /explorer = %d to %q, want 301 to explorer/", rec.Code, rec.Header().Get("Location"))
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/explorer/index.html", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET /explorer/index.html = %d, want 404", rec.Code)
	}
}

// TestExplorerPageKeepsToItsCSP checks that the page holds no code or
// style of its own, which its Content-Security-Policy would block: no
// inline script or style, no event handler attribute, no javascript: URL.
func TestExplorerPageKeepsToItsCSP(t *testing.T) {
	t.Parallel()
	page := explorerFile(t, newTestServer(t), "/explorer/")
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		if n.Data == "style" || n.Data == "script" && attr(n, "src") == "" {
			t.Errorf("the page has an inline <%s>", n.Data)
		}
		for _, a := range n.Attr {
			if a.Key == "style" || strings.HasPrefix(a.Key, "on") || strings.HasPrefix(strings.TrimSpace(a.Val), "javascript:") {
				t.Errorf("<%s> has the attribute %s=%q, which the CSP blocks", n.Data, a.Key, a.Val)
			}
		}
	}
}

// TestExplorerSearchesByTheRootsLinks checks the search box's side of the
// contract with the API: the page has a search form; its script reads
// the rels and expands them, naming no URL of the API; and the root has
// each rel, templated with the variable the script fills in.
func TestExplorerSearchesByTheRootsLinks(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	page := explorerFile(t, srv, "/explorer/")
	for _, want := range []string{`<form id="search"`, `role="search"`, `<input id="search-q" name="q" type="search"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	script := explorerFile(t, srv, "/explorer/explorer.js")
	for _, path := range []string{"/api/search", "/api/tags", "/by-name"} {
		if strings.Contains(script, path) {
			t.Errorf("explorer.js names %s: it must follow the root's links", path)
		}
	}
	links := srv.do(t, request{method: http.MethodGet, path: "/api"}).json(t)["_links"].(map[string]any)
	tests := []struct{ rel, variable string }{
		{"mb:search-users", "q"}, {"mb:search-posts", "q"}, {"mb:tag", "tag"}, {"mb:user-by-name", "username"},
	}
	for _, tt := range tests {
		if !strings.Contains(script, "'"+tt.rel+"'") {
			t.Errorf("explorer.js does not read %s", tt.rel)
		}
		link, _ := links[tt.rel].(map[string]any)
		href, _ := link["href"].(string)
		tmpl, err := uritemplate.New(href)
		if err != nil || link["templated"] != true || !slices.Contains(tmpl.Varnames(), tt.variable) {
			t.Errorf("the root's %s is %v, want a template with the variable %s the explorer fills (%v)", tt.rel, link, tt.variable, err)
		}
	}
}

// TestExplorerStreamsByTheRootsLink checks the notifications panel's side
// of the contract with the API: the page has the panel; its script reads
// mb:notifications, expands it with per_page, names none of the paths of
// replies, likes, messages and notifications, and reads the stream with
// fetch and the token (an EventSource cannot send it), sending
// Last-Event-ID back; the root's mb:notifications is templated with
// per_page; and the page's CSP lets it connect to its own origin, the
// API's.
func TestExplorerStreamsByTheRootsLink(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	page := explorerFile(t, srv, "/explorer/")
	for _, want := range []string{`<section id="notifications"`, `id="notifications-unread"`, `id="notifications-list"`,
		`id="notifications-all"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	script := explorerFile(t, srv, "/explorer/explorer.js")
	for _, path := range []string{"/api/notifications", "/likes", "/replies", "/messages", "/following"} {
		if strings.Contains(script, path) {
			t.Errorf("explorer.js names %s: it must follow links and templates", path)
		}
	}
	for _, want := range []string{"'mb:notifications'", "per_page: 1", "'text/event-stream'", "Authorization: `Bearer ${state.token}`",
		"headers['Last-Event-ID']", ".getReader()", "new AbortController()"} {
		if !strings.Contains(script, want) {
			t.Errorf("explorer.js lacks %s", want)
		}
	}
	if strings.Contains(script, "new EventSource") {
		t.Error("explorer.js opens an EventSource, which cannot send the token")
	}
	links := srv.do(t, request{method: http.MethodGet, path: "/api"}).json(t)["_links"].(map[string]any)
	link, _ := links["mb:notifications"].(map[string]any)
	href, _ := link["href"].(string)
	tmpl, err := uritemplate.New(href)
	if err != nil || link["templated"] != true || !slices.Contains(tmpl.Varnames(), "per_page") {
		t.Errorf("the root's mb:notifications is %v, want a template with the variable per_page (%v)", link, err)
	}
	rec := httptest.NewRecorder()
	srv.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/explorer/", nil))
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("the explorer's CSP %q does not let it connect to the API's origin", csp)
	}
}

// explorerFile returns the body of the explorer's file at path.
func explorerFile(t *testing.T, srv *testServer, path string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s = %d", path, rec.Code)
	}
	return rec.Body.String()
}

// attr is the value of n's attribute key, "" when it has none.
func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
