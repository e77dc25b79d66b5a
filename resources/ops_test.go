package resources_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

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
