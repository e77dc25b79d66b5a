package resources_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"microblog/persistence/pgtest"
	"microblog/resources"
)

func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	_, token := srv.user(t, "susan")
	for _, path := range []string{"/healthz", "/readyz"} {
		if res := srv.do(t, request{method: http.MethodGet, path: path}); res.code != http.StatusOK {
			t.Errorf("GET %s: %s", path, res)
		}
	}
	srv.do(t, request{method: http.MethodGet, path: "/api/users/1", token: token})
	srv.do(t, request{method: http.MethodGet, path: "/api/users/999", token: token})
	res := srv.do(t, request{method: http.MethodGet, path: "/metrics"})
	if res.code != http.StatusOK {
		t.Fatalf("GET /metrics: %s", res)
	}
	for _, want := range []string{
		`microblog_http_requests_total{method="GET",route="/api/users/:id",status="200"} 1`,
		`microblog_http_requests_total{method="GET",route="/api/users/:id",status="404"} 1`,
		`microblog_http_request_duration_seconds_bucket{method="POST",route="/api/tokens"`,
		"microblog_db_pool_connections ", "microblog_argon2_queue_length 0",
		// The Go runtime's and the process's, which the soak reads.
		"\ngo_goroutines ", "\ngo_memstats_heap_inuse_bytes ", "\nprocess_resident_memory_bytes ",
		"\nprocess_open_fds ",
	} {
		if !strings.Contains(string(res.body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestReadyzWhileDraining(t *testing.T) {
	t.Parallel()
	var draining atomic.Bool
	srv := newTestServer(t, func(c *resources.Config) { c.Draining = &draining })
	if res := srv.do(t, request{method: http.MethodGet, path: "/readyz"}); res.code != http.StatusOK {
		t.Fatalf("GET /readyz: %s", res)
	}
	draining.Store(true)
	if res := srv.do(t, request{method: http.MethodGet, path: "/readyz"}); res.code != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz while draining: %s", res)
	}
	if res := srv.do(t, request{method: http.MethodGet, path: "/api"}); res.code != http.StatusOK {
		t.Errorf("GET /api while draining: %s", res)
	}
}

// TestInventedMethods sends 200 methods that no RFC defines: each gets a
// 501 before it is counted, so /metrics names none of them and does not
// grow. TRACE, a method the server knows but no route takes, is counted
// as OTHER.
func TestInventedMethods(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	scrape := func() string {
		res := srv.do(t, request{method: http.MethodGet, path: "/metrics"})
		if res.code != http.StatusOK {
			t.Fatalf("GET /metrics: %s", res)
		}
		return string(res.body)
	}
	scrape() // the series of scraping itself
	before := scrape()
	answers := map[string]int{}
	for i := range 200 {
		res := srv.do(t, request{method: fmt.Sprintf("INVENTED%03d", i), path: []string{"/api", "/api/users/1", "/nowhere"}[i%3]})
		answers[fmt.Sprintf("%d Allow %q", res.code, res.header.Get("Allow"))]++
	}
	if answers[`501 Allow ""`] != 200 {
		t.Errorf("200 invented methods answered %v, want 501 without Allow", answers)
	}
	if res := srv.do(t, request{method: http.MethodTrace, path: "/api"}); res.code != http.StatusMethodNotAllowed {
		t.Errorf("TRACE /api: %s", res)
	}
	after := scrape()
	t.Logf("/metrics: %d bytes, %d lines before; %d bytes, %d lines after",
		len(before), strings.Count(before, "\n"), len(after), strings.Count(after, "\n"))
	if strings.Contains(after, "INVENTED") {
		t.Error("/metrics names an invented method")
	}
	// TRACE's 405 adds two series: its count and its latency histogram.
	traced := strings.Count(after, `method="OTHER"`)
	if grown := strings.Count(after, "\n") - strings.Count(before, "\n"); grown != traced || len(after) > len(before)+4096 {
		t.Errorf("/metrics grew by %d lines (%d of them OTHER) and %d bytes", grown, traced, len(after)-len(before))
	}
	if !strings.Contains(after, `microblog_http_requests_total{method="OTHER",route="unmatched",status="405"} 1`) {
		t.Error("/metrics does not count TRACE as OTHER")
	}
}

// TestAdminHandlers: with NewHandlers, /metrics, /healthz and /readyz are
// on the admin handler alone, whose metrics count the API's requests.
func TestAdminHandlers(t *testing.T) {
	t.Parallel()
	store, _ := storeOver(t, pgtest.New(t), nil)
	api, admin, err := resources.NewHandlers(store, resources.Config{TokenTTL: time.Hour, MinPasswordLength: 8})
	if err != nil {
		t.Fatal(err)
	}
	onAPI, onAdmin := &testServer{handler: api}, &testServer{handler: admin}
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		if res := onAPI.do(t, request{method: http.MethodGet, path: path}); res.code != http.StatusNotFound {
			t.Errorf("GET %s of the API: %s", path, res)
		}
		if res := onAdmin.do(t, request{method: http.MethodGet, path: path}); res.code != http.StatusOK {
			t.Errorf("GET %s of the admin handler: %s", path, res)
		}
	}
	if res := onAPI.do(t, request{method: http.MethodGet, path: "/api"}); res.code != http.StatusOK {
		t.Fatalf("GET /api: %s", res)
	}
	metrics := onAdmin.do(t, request{method: http.MethodGet, path: "/metrics"})
	if want := `microblog_http_requests_total{method="GET",route="/api",status="200"} 1`; !strings.Contains(string(metrics.body), want) {
		t.Errorf("the admin handler's /metrics lacks %q", want)
	}
}
