package persistence_test

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"microblog/migrations"
	"microblog/persistence"
	"microblog/persistence/pgtest"
)

func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m, migrations.UpURL))
}

func TestCreateUserConflicts(t *testing.T) {
	t.Parallel()
	s, _ := persistence.NewTestStore(t)
	ctx := t.Context()
	if _, err := s.CreateUser(ctx, persistence.NewUser{Username: "susan", Email: "susan@example.com", Password: "12345678"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		username, email, field string
	}{
		{"SUSAN", "other@example.com", "username"},
		{"other", "Susan@Example.COM", "email"},
		{"Susan", "SUSAN@example.com", "username"},
	}
	for _, tt := range tests {
		_, err := s.CreateUser(ctx, persistence.NewUser{Username: tt.username, Email: tt.email, Password: "12345678"})
		var ce *persistence.ConflictError
		if !errors.As(err, &ce) || ce.Field != tt.field || !errors.Is(err, persistence.ErrConflict) {
			t.Errorf("%s/%s: %v, want a conflict on %s", tt.username, tt.email, err, tt.field)
		}
	}
}

// TestCountsFollowTheRows follows and unfollows at random, concurrently and
// in both directions between the same users, and then checks that every
// user's counts equal the rows: the triggers neither lose an update nor
// deadlock.
func TestCountsFollowTheRows(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t)
	ctx := t.Context()
	var ids []int64
	for i := range 4 {
		u, err := s.CreateUser(ctx, persistence.NewUser{Username: fmt.Sprintf("u%d", i), Email: fmt.Sprintf("u%d@example.com", i), Password: "12345678"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	var wg sync.WaitGroup
	for w := range 50 {
		wg.Go(func() {
			for i := range 20 {
				a, b := ids[(w+i)%4], ids[(w+2*i+1)%4]
				if a == b {
					continue
				}
				var err error
				if (w+i)%2 == 0 {
					_, err = pool.Exec(ctx, `INSERT INTO follows (follower_id, followed_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, a, b, time.Now())
				} else {
					_, err = pool.Exec(ctx, `DELETE FROM follows WHERE follower_id = $1 AND followed_id = $2`, a, b)
				}
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		u, err := s.User(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var followers, following int64
		err = pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM follows WHERE followed_id = $1), (SELECT count(*) FROM follows WHERE follower_id = $1)`, id).
			Scan(&followers, &following)
		if err != nil {
			t.Fatal(err)
		}
		if u.FollowerCount != followers || u.FollowingCount != following {
			t.Errorf("user %d: counts %d/%d, rows %d/%d", id, u.FollowerCount, u.FollowingCount, followers, following)
		}
	}
}

func TestLoginAndRevoke(t *testing.T) {
	t.Parallel()
	s, _ := persistence.NewTestStore(t)
	ctx := t.Context()
	if _, err := s.CreateUser(ctx, persistence.NewUser{Username: "susan", Email: "s@example.com", Password: "12345678"}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ username, password string }{{"susan", "wrong-one"}, {"nobody", "12345678"}, {"", ""}} {
		if _, err := s.Login(ctx, tt.username, tt.password, time.Hour); !errors.Is(err, persistence.ErrBadCredentials) {
			t.Errorf("login %q/%q: %v, want ErrBadCredentials", tt.username, tt.password, err)
		}
	}
	tok, err := s.Login(ctx, "Susan", "12345678", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := s.Authenticate(ctx, tok.Value); err != nil || u.Username != "susan" {
		t.Fatalf("authenticate: %v %v", u, err)
	}
	if err := s.RevokeToken(ctx, tok.Value); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, tok.Value); !errors.Is(err, persistence.ErrInvalidToken) {
		t.Errorf("authenticate a revoked token: %v", err)
	}
	if err := s.RevokeToken(ctx, tok.Value); !errors.Is(err, persistence.ErrInvalidToken) {
		t.Errorf("revoke twice: %v", err)
	}
}

// TestFeedPlansAgree checks that the feed's two plans, the per-author merge
// and the scan of all posts newest first, give the same pages.
func TestFeedPlansAgree(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t)
	seedFeed(t, s, pool)
	ctx := t.Context()
	token := login(t, s, "u0")
	for _, pg := range []persistence.Page{{Offset: 0, Limit: 10}, {Offset: 10, Limit: 7}, {Offset: 35, Limit: 10}, {Offset: 100, Limit: 10}} {
		_, few, err := s.WithFeedBudget(1<<20).Feed(ctx, token, pg)
		if err != nil {
			t.Fatal(err)
		}
		_, scan, err := s.WithFeedBudget(0).Feed(ctx, token, pg)
		if err != nil {
			t.Fatal(err)
		}
		if few.Total != 40 || scan.Total != 40 || fmt.Sprint(postIDs(few.Posts)) != fmt.Sprint(postIDs(scan.Posts)) {
			t.Errorf("page %+v: merge %v (%d), scan %v (%d), want the same 40 in all", pg, postIDs(few.Posts), few.Total, postIDs(scan.Posts), scan.Total)
		}
		if pg.Offset < 40 && len(few.Posts) == 0 {
			t.Errorf("page %+v: empty", pg)
		}
	}
}

func postIDs(posts []persistence.Post) []int64 {
	ids := make([]int64, len(posts))
	for i, p := range posts {
		ids[i] = p.ID
	}
	return ids
}

// TestCallerStatements checks the statements that check a token and read
// a page or a profile at once: a token that is not live gives
// ErrInvalidToken and nothing else, an unknown user ErrNotFound with the
// caller read, and the caller's own profile shows this request's visit and
// one follow, however often it was made.
func TestCallerStatements(t *testing.T) {
	t.Parallel()
	s, _ := persistence.NewTestStore(t)
	ctx := t.Context()
	var ids []int64
	for _, name := range []string{"susan", "bob"} {
		u, err := s.CreateUser(ctx, persistence.NewUser{Username: name, Email: name + "@example.com", Password: "12345678"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	// Follow says whether it made the follow: the first time yes, again no.
	for i, want := range []bool{true, false} {
		if created, err := s.Follow(ctx, ids[0], ids[1]); err != nil || created != want {
			t.Fatalf("follow %d: created %v, %v; want %v", i+1, created, err, want)
		}
	}
	tok, err := s.Login(ctx, "susan", "12345678", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	page := persistence.Page{Limit: 10}
	dead := "00000000000000000000000000000000"
	if _, err := s.Users(ctx, dead, page); !errors.Is(err, persistence.ErrInvalidToken) {
		t.Errorf("users with a dead token: %v", err)
	}
	if _, err := s.Followers(ctx, dead, ids[1], page); !errors.Is(err, persistence.ErrInvalidToken) {
		t.Errorf("followers with a dead token: %v", err)
	}
	if _, err := s.Profile(ctx, dead, ids[1]); !errors.Is(err, persistence.ErrInvalidToken) {
		t.Errorf("profile with a dead token: %v", err)
	}
	if p, err := s.Following(ctx, tok.Value, 999999, page); !errors.Is(err, persistence.ErrNotFound) || p.Caller.ID != ids[0] {
		t.Errorf("following of nobody: caller %d, %v", p.Caller.ID, err)
	}
	if p, err := s.Profile(ctx, tok.Value, 999999); !errors.Is(err, persistence.ErrNotFound) || p.Caller.ID != ids[0] {
		t.Errorf("profile of nobody: caller %d, %v", p.Caller.ID, err)
	}
	users, err := s.Users(ctx, tok.Value, page)
	if err != nil || users.Caller.Username != "susan" || len(users.Users) != 2 || users.Total != 2 ||
		users.Users[0].IsFollowing || !users.Users[1].IsFollowing {
		t.Errorf("users: %+v, %v", users, err)
	}
	me, err := s.Profile(ctx, tok.Value, 0)
	if err != nil || me.User.ID != me.Caller.ID || me.User.LastSeen == nil || me.User.Version != me.Caller.Version ||
		me.User.FollowingCount != 1 {
		t.Errorf("own profile: %+v, %v", me, err)
	}
}

// TestPoolConfig checks what the store asks of its connections, and that a
// URL that says otherwise is obeyed.
func TestPoolConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url, planCache, jit string
		timeout             time.Duration
	}{
		{"postgres://db.example/microblog", "force_generic_plan", "off", time.Second},
		{"postgres://db.example/microblog?connect_timeout=5&plan_cache_mode=auto&jit=on", "auto", "on", 5 * time.Second},
	}
	for _, tt := range tests {
		cfg, err := persistence.PoolConfig(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		params := cfg.ConnConfig.RuntimeParams
		if params["plan_cache_mode"] != tt.planCache || params["jit"] != tt.jit || cfg.ConnConfig.ConnectTimeout != tt.timeout {
			t.Errorf("%s: plan_cache_mode %q, jit %q, connect timeout %s", tt.url, params["plan_cache_mode"], params["jit"], cfg.ConnConfig.ConnectTimeout)
		}
	}
	// And a connection of the store's pool has them.
	_, pool := persistence.NewTestStore(t)
	var planCache, jit string
	if err := pool.QueryRow(t.Context(), `SELECT current_setting('plan_cache_mode'), current_setting('jit')`).Scan(&planCache, &jit); err != nil {
		t.Fatal(err)
	}
	if planCache != "force_generic_plan" || jit != "off" {
		t.Errorf("a pool connection has plan_cache_mode %q, jit %q", planCache, jit)
	}
}
