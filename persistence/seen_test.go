package persistence_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"microblog/persistence"
)

// sqlRecorder keeps the text of every statement.
type sqlRecorder struct {
	mu  sync.Mutex
	sql []string
}

func (r *sqlRecorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sql = append(r.sql, d.SQL)
	return ctx
}

func (r *sqlRecorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *sqlRecorder) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sql[len(r.sql)-1]
}

// A token check records the token's use and the user's last_seen at most
// once a minute; in between it is a read-only statement.
func TestTokenChecksReadOnlyWithinTheMinute(t *testing.T) {
	rec := &sqlRecorder{}
	s, _ := persistence.NewTestStore(t, func(c *pgxpool.Config) { c.ConnConfig.Tracer = rec })
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	if _, err := s.CreateUser(t.Context(), persistence.NewUser{Username: "susan", Email: "susan@example.com", Password: "long-enough"}); err != nil {
		t.Fatal(err)
	}
	token, err := s.Login(t.Context(), "susan", "long-enough", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string, writes bool) {
		t.Helper()
		u, err := s.Authenticate(t.Context(), token.Value)
		if err != nil || u.Username != "susan" {
			t.Fatalf("%s: %v, %v", when, u, err)
		}
		if got := strings.Contains(rec.last(), "UPDATE"); got != writes {
			t.Errorf("%s: the check writes: %v, want %v", when, got, writes)
		}
	}
	check("the first check", true)
	now = now.Add(30 * time.Second)
	check("30 s later", false)
	now = now.Add(31 * time.Second)
	check("61 s after the first", true)
	u, _ := s.Authenticate(t.Context(), token.Value)
	if u.LastSeen == nil || !u.LastSeen.Equal(now) {
		t.Errorf("last_seen %v, want %v", u.LastSeen, now)
	}
}
