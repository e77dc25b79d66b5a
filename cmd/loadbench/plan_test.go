package main

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
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

// TestMain gives TestPlan its databases.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, migrations.UpURL)) }

// TestPlan makes the plan against the API on a seeded data set, as a run
// does: the search scenarios come after the feed, their URLs are the
// root's links filled in with the terms, and each term finds something;
// the conversation scenarios follow, with the posts and users they are
// meant to read, and the like scenario's script likes and unlikes posts of
// others that the login user does not like.
func TestPlan(t *testing.T) {
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
	err = store.Seed(ctx, persistence.SeedOptions{Users: users, FollowsPerUser: 2, PostsPerUser: 20, RepliesPercent: 10,
		LikesPerUser: 2, HotPostLikes: 50, Seed: 1, Password: seedPassword}, nil)
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

	b := &bench{out: io.Discard, wrk: wrkSettings{threads: 2}}
	p, err := b.logInAndPlan(ctx, srv.URL, t.TempDir(), termsFor(users))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sc := range p.after {
		got = append(got, sc.name+" "+strings.TrimPrefix(sc.url, srv.URL))
	}
	if diff := cmp.Diff(wantPlan(t, pool), got); diff != "" {
		t.Errorf("scenarios after the deep page (-want +got):\n%s", diff)
	}
	if len(p.found) != 3 || p.found[0] != `search users "seed12": 11 found` ||
		slices.ContainsFunc(p.found, func(f string) bool { return strings.HasSuffix(f, ": 0 found") }) {
		t.Errorf("the searches found %q, want 11 users and some posts for each", p.found)
	}
	if len(p.told) != 2 || !strings.Contains(p.told[0], ": 50 likes") || !strings.HasPrefix(p.told[1], "notifications of seed2: ") ||
		strings.Contains(p.told[1], ": 0") {
		t.Errorf("the conversation scenarios found %q, want the hot post with 50 likes, and notifications of both users", p.told)
	}
	checkLikeScript(t, pool, p.after[len(p.after)-2].script)
}

// wantPlan returns the scenarios after the deep page, with the paths they
// should load on the data set in pool.
func wantPlan(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	var hot, ordinary, replied, liked, seed1, seed2, seed3 int64
	err := pool.QueryRow(t.Context(), `
		WITH newest AS (SELECT p.id, u.username FROM posts p JOIN users u ON u.id = p.author_id
		                ORDER BY p.created_at DESC, p.id DESC),
		     page AS (SELECT p.id, p.reply_count, row_number() OVER (ORDER BY p.created_at DESC, p.id DESC) AS n
		              FROM posts p ORDER BY p.created_at DESC, p.id DESC LIMIT 100)
		SELECT (SELECT id FROM newest WHERE username = 'seed1' LIMIT 1),
		       (SELECT id FROM newest WHERE username = 'seed3' LIMIT 1),
		       (SELECT id FROM page WHERE reply_count > 0 ORDER BY reply_count DESC, n LIMIT 1),
		       (SELECT id FROM newest n WHERE username <> 'seed2' AND NOT EXISTS (
		            SELECT FROM likes l JOIN users u ON u.id = l.user_id WHERE l.post_id = n.id AND u.username = 'seed2') LIMIT 1),
		       (SELECT id FROM users WHERE username = 'seed1'), (SELECT id FROM users WHERE username = 'seed2'),
		       (SELECT id FROM users WHERE username = 'seed3')`).
		Scan(&hot, &ordinary, &replied, &liked, &seed1, &seed2, &seed3)
	if err != nil {
		t.Fatal(err)
	}
	post := func(id int64) string { return "/api/posts/" + strconv.FormatInt(id, 10) }
	user := func(id int64) string { return "/api/users/" + strconv.FormatInt(id, 10) }
	return []string{"GET feed /api/feed",
		"GET search users /api/search/users?q=seed12",
		"GET search posts /api/search/posts?q=" + searchWord,
		"GET tag page /api/tags/" + searchTag,
		"GET post " + post(ordinary), "GET post (hot) " + post(hot),
		"GET user (hot author) " + user(seed1),
		"GET user's posts " + user(seed3) + "/posts", "GET user's posts (hot author) " + user(seed1) + "/posts",
		"GET post's likers " + post(ordinary) + "/likes", "GET post's likers (hot) " + post(hot) + "/likes",
		"GET post with replies " + post(replied), "GET replies page " + post(replied) + "/replies",
		"GET notifications /api/notifications", "GET notifications (hot author) /api/notifications",
		"PUT/DELETE like " + post(liked) + "/likes/" + strconv.FormatInt(seed2, 10),
		"POST post /api/posts"}
}

// checkLikeScript reads the like scenario's wrk script at path: it holds
// likePosts like paths, each the login user's like of a post of another
// user that they do not like.
func checkLikeScript(t *testing.T, pool *pgxpool.Pool, path string) {
	t.Helper()
	script, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, m := range regexp.MustCompile(`"/api/posts/(\d+)/likes/(\d+)"`).FindAllStringSubmatch(string(script), -1) {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		ids = append(ids, id)
		if m[2] != strconv.FormatInt(userID(t, pool, loginUser), 10) {
			t.Errorf("like path %s is not of %s", m[0], loginUser)
		}
	}
	var wrong int
	err = pool.QueryRow(t.Context(), `
		SELECT count(*) FROM posts p, users u
		WHERE u.username = $2 AND p.id = ANY ($1)
		  AND (p.author_id = u.id OR EXISTS (SELECT FROM likes l WHERE l.post_id = p.id AND l.user_id = u.id))`,
		ids, loginUser).Scan(&wrong)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != likePosts || len(slices.Compact(slices.Sorted(slices.Values(ids)))) != likePosts || wrong != 0 {
		t.Errorf("the like script has %d like paths (want %d distinct), %d of them of posts of %s or liked by them",
			len(ids), likePosts, wrong, loginUser)
	}
}

// userID returns the id of the user named username.
func userID(t *testing.T, pool *pgxpool.Pool, username string) int64 {
	t.Helper()
	var id int64
	if err := pool.QueryRow(t.Context(), `SELECT id FROM users WHERE username = $1`, username).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}
