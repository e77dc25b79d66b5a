package persistence_test

import (
	"testing"
	"time"

	"microblog/persistence"
)

// BenchmarkAuthenticate checks a live token, the work every authenticated
// request starts with. The clock stands still, so last_seen is recorded
// once and the loop measures the common case, a caller seen a moment ago.
func BenchmarkAuthenticate(b *testing.B) {
	s, _ := persistence.NewTestStore(b)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	ctx := b.Context()
	if _, err := s.CreateUser(ctx, persistence.NewUser{Username: "susan", Email: "susan@example.com", Password: "12345678"}); err != nil {
		b.Fatal(err)
	}
	tok, err := s.Login(ctx, "susan", "12345678", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Authenticate(ctx, tok.Value); err != nil {
			b.Fatal(err)
		}
	}
}
