package resources_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"microblog/persistence/pgtest"
	"microblog/resources"
)

// TestStatementTimeout makes the feed's statement wait for a lock held
// elsewhere, on connections whose statement_timeout is short: past it the
// request is a 503 with Retry-After, like a database out of reach, never a
// 500.
func TestStatementTimeout(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("statement_timeout", "200")
	u.RawQuery = q.Encode()
	store, pool := storeOver(t, u.String(), nil)
	clk := &clock{now: epoch}
	store.Now = clk.Now
	h, err := resources.NewHandler(store, resources.Config{TokenTTL: time.Hour, MinPasswordLength: 8})
	if err != nil {
		t.Fatal(err)
	}
	srv := &testServer{handler: h, pool: pool, clock: clk}
	_, token := srv.user(t, "susan")
	tx, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(t.Context()) })
	if _, err := tx.Exec(t.Context(), `LOCK TABLE posts IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}

	res := srv.do(t, request{method: http.MethodGet, path: "/api/feed", token: token})

	if res.code != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
		t.Errorf("a statement past statement_timeout: %s, want 503 with Retry-After", res)
	}
}
