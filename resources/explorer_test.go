package resources_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
