package resources_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"microblog/resources"
)

// answering are the two ways a server answers a GET: reading the
// database each time (read), and from what it keeps while it stands (kept,
// responses.go).
var answering = []struct {
	name string
	opts []func(*resources.Config)
}{{"read", []func(*resources.Config){keepingNothing}}, {"kept", nil}}

// benchServer is a test server made with opts, with a logged-in caller and
// another user with posts, for benchmarks of the request path through the
// real router and database.
func benchServer(b *testing.B, opts ...func(*resources.Config)) (h http.Handler, token, userPath, postPath string) {
	b.Helper()
	h = newTestServer(b, opts...).handler
	var tokens []string
	for _, name := range []string{"reader", "writer"} {
		register(b, h, name)
		var t struct{ Token string }
		if err := json.Unmarshal(benchSend(b, h, http.MethodPost, "/api/tokens", basic(name, "12345678"), "").Body.Bytes(), &t); err != nil {
			b.Fatal(err)
		}
		tokens = append(tokens, "Bearer "+t.Token)
	}
	var p struct{ ID int64 }
	for i := range 10 {
		if err := json.Unmarshal(benchSend(b, h, http.MethodPost, "/api/posts", tokens[1], fmt.Sprintf(`{"body": "post number %d"}`, i)).Body.Bytes(), &p); err != nil {
			b.Fatal(err)
		}
	}
	return h, tokens[0], "/api/users/2", fmt.Sprintf("/api/posts/%d", p.ID)
}

// benchSend sends a request for setting up a benchmark, which fails unless
// it succeeds.
func benchSend(b *testing.B, h http.Handler, method, path, auth, body string) *httptest.ResponseRecorder {
	b.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code >= 300 {
		b.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
	}
	return rec
}

// register registers the user name, whose password is 12345678.
func register(b *testing.B, h http.Handler, name string) {
	b.Helper()
	benchSend(b, h, http.MethodPost, "/api/users", "",
		fmt.Sprintf(`{"username": %q, "email": "%s@example.com", "password": "12345678"}`, name, name))
}

// benchmarkGet GETs path b.N times, with the ETag of the first answer as
// If-None-Match when conditional, and checks every answer's status.
func benchmarkGet(b *testing.B, h http.Handler, token, path string, conditional bool) {
	get := func(etag string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.Header.Set("Authorization", token)
		if etag != "" {
			r.Header.Set("If-None-Match", etag)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	first := get("")
	etag, want := "", http.StatusOK
	if conditional {
		etag, want = first.Header().Get("ETag"), http.StatusNotModified
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if rec := get(etag); rec.Code != want {
			b.Fatalf("GET %s: %d, want %d", path, rec.Code, want)
		}
	}
}

// BenchmarkGetUser compares a full GET of another user (token check,
// profile with its newest posts, rendering) with a conditional GET that
// matches (token check and a read of the version), each read and kept.
func BenchmarkGetUser(b *testing.B) {
	for _, a := range answering {
		h, token, user, _ := benchServer(b, a.opts...)
		b.Run(a.name+"/full", func(b *testing.B) { benchmarkGet(b, h, token, user, false) })
		b.Run(a.name+"/conditional", func(b *testing.B) { benchmarkGet(b, h, token, user, true) })
	}
}

// BenchmarkGetPost does the same for a post.
func BenchmarkGetPost(b *testing.B) {
	for _, a := range answering {
		h, token, _, post := benchServer(b, a.opts...)
		b.Run(a.name+"/conditional", func(b *testing.B) { benchmarkGet(b, h, token, post, true) })
		b.Run(a.name+"/full", func(b *testing.B) { benchmarkGet(b, h, token, post, false) })
	}
}

// BenchmarkListUsers GETs a page of 100 users, whose rendering is
// BenchmarkRenderUserPage in hal, read and kept.
func BenchmarkListUsers(b *testing.B) {
	for _, a := range answering {
		h, token, _, _ := benchServer(b, a.opts...)
		for i := range 98 {
			register(b, h, fmt.Sprintf("user%d", i))
		}
		b.Run(a.name, func(b *testing.B) { benchmarkGet(b, h, token, "/api/users?per_page=100", false) })
	}
}

// BenchmarkCreatePost POSTs a post with a tag and a mention b.N times as
// one caller: the token check, the insert with its triggers, and the 201's
// rendering.
func BenchmarkCreatePost(b *testing.B) {
	h, token, _, _ := benchServer(b)
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/api/posts", strings.NewReader(`{"body": "a post about #go for @writer"}`))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != http.StatusCreated {
			b.Fatalf("POST /api/posts: %d %s", rec.Code, rec.Body)
		}
	}
}
