package main

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"microblog/migrations"
	"microblog/persistence"
	"microblog/persistence/pgtest"
	"microblog/resources"
)

// TestMain gives TestPlanSearches its databases.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, migrations.UpURL)) }

// TestPlanSearches makes the plan against the API on a seeded data set, as
// a run does: the search scenarios come after the feed, their URLs are the
// root's links filled in with the terms, and each term finds something.
func TestPlanSearches(t *testing.T) {
	gin.SetMode(gin.TestMode)
	ctx := t.Context()
	cfg, err := persistence.PoolConfig(pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	hasher, err := persistence.NewHasher(&argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, 2)
	if err != nil {
		t.Fatal(err)
	}
	store := persistence.NewStore(pool, hasher)
	const users = 300
	err = store.Seed(ctx, persistence.SeedOptions{Users: users, FollowsPerUser: 2, PostsPerUser: 20, Seed: 1, Password: seedPassword}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := resources.NewHandler(store, resources.Config{TokenTTL: time.Hour, MinPasswordLength: 8,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	b := &bench{out: io.Discard}
	p, err := b.logInAndPlan(ctx, srv.URL, t.TempDir(), termsFor(users))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sc := range p.after {
		got = append(got, sc.name+" "+sc.url)
	}
	want := []string{"GET feed " + srv.URL + "/api/feed",
		"GET search users " + srv.URL + "/api/search/users?q=seed12",
		"GET search posts " + srv.URL + "/api/search/posts?q=" + searchWord,
		"GET tag page " + srv.URL + "/api/tags/" + searchTag,
		"POST post " + srv.URL + "/api/posts"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("scenarios after the deep page (-want +got):\n%s", diff)
	}
	if len(p.found) != 3 || p.found[0] != `search users "seed12": 11 found` ||
		slices.ContainsFunc(p.found, func(f string) bool { return strings.HasSuffix(f, ": 0 found") }) {
		t.Errorf("the searches found %q, want 11 users and some posts for each", p.found)
	}
}
