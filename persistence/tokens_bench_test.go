package persistence_test

import (
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/jackc/pgx/v5/pgxpool"

	"microblog/persistence"
	"microblog/persistence/pgtest"
)

// BenchmarkAuthenticate checks a live token, the work every authenticated
// request starts with. The clock stands still, so last_seen is recorded
// once and the loop measures the common case, a caller seen a moment ago.
func BenchmarkAuthenticate(b *testing.B) {
	pool, err := pgxpool.New(b.Context(), pgtest.New(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	hasher, err := persistence.NewHasher(&argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, 1)
	if err != nil {
		b.Fatal(err)
	}
	s := persistence.NewStore(pool, hasher)
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
