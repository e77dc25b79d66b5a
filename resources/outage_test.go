package resources_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"microblog/resources"
)

// TestDatabaseDown points the API at an address where no database listens:
// every request that needs the database gets a 503 with Retry-After, fast,
// and the root, which does not, still answers.
func TestDatabaseDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	h := handlerOver(t, "postgres://postgres@"+addr+"/none?sslmode=disable&connect_timeout=1", 0)
	tests := []struct {
		method, path, body, auth string
	}{
		{http.MethodGet, "/api/me", "", "Bearer 0123456789abcdef0123456789abcdef"},
		{http.MethodGet, "/api/users", "", "Bearer 0123456789abcdef0123456789abcdef"},
		{http.MethodPost, "/api/users", `{"username": "a", "email": "a@example.com", "password": "12345678"}`, ""},
		{http.MethodPost, "/api/tokens", "", basic("susan", "12345678")},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
		r.Header.Set("Content-Type", "application/json")
		if tt.auth != "" {
			r.Header.Set("Authorization", tt.auth)
		}
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, r)
		took := time.Since(start)
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" ||
			rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s with the database down: %d %v %s", tt.method, tt.path, rec.Code, rec.Header(), rec.Body)
		}
		if strings.Contains(rec.Body.String(), addr) || strings.Contains(rec.Body.String(), "refused") {
			t.Errorf("%s %s: the 503 shows internal text: %s", tt.method, tt.path, rec.Body)
		}
		if took > 2*time.Second {
			t.Errorf("%s %s took %s with the database down", tt.method, tt.path, took)
		}
	}
	for path, want := range map[string]int{"/api": http.StatusOK, "/healthz": http.StatusOK, "/readyz": http.StatusServiceUnavailable} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want {
			t.Errorf("GET %s with the database down: %d, want %d", path, rec.Code, want)
		}
	}
}

// TestDatabaseHangs points the API at a server that accepts connections
// and never answers, as a partitioned database does: RequestTimeout turns
// the wait into a 503, and a client that gives up is not a server error.
func TestDatabaseHangs(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	h := handlerOver(t, "postgres://postgres@"+ln.Addr().String()+"/none?sslmode=disable", 300*time.Millisecond)
	r := httptest.NewRequest(http.MethodGet, "/api/me", nil)
	r.Header.Set("Authorization", "Bearer 0123456789abcdef0123456789abcdef")
	rec := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(rec, r)
	if took := time.Since(start); rec.Code != http.StatusServiceUnavailable || took > 2*time.Second {
		t.Errorf("GET /api/me with a hung database: %d after %s, want 503 within the timeout", rec.Code, took)
	}
}

// handlerOver is the API over the database at url, which the outage tests
// make unreachable in one way or another, with requestTimeout.
func handlerOver(t *testing.T, url string, requestTimeout time.Duration) http.Handler {
	t.Helper()
	store, _ := storeOver(t, url, nil)
	h, err := resources.NewHandler(store, resources.Config{
		TokenTTL: time.Hour, MinPasswordLength: 8, RequestTimeout: requestTimeout})
	if err != nil {
		t.Fatal(err)
	}
	return h
}
