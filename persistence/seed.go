package persistence

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// SeedOptions describes a demo data set. The same options and Seed give the
// same data.
type SeedOptions struct {
	Users          int
	FollowsPerUser int
	PostsPerUser   int
	// CelebrityFollowers is how many users follow the first seeded user,
	// on top of the random follows.
	CelebrityFollowers int
	// Seed is the random seed.
	Seed uint64
	// Password is every seeded user's password; it is hashed once.
	Password string
}

// SeedProgress is told how far each stage of Seed has come.
type SeedProgress func(stage string, done, total int64)

// ErrNotEmpty means Seed was asked to fill a database that has users.
var ErrNotEmpty = errors.New("the database already has users: seed a fresh one")

// Seed fills an empty database with users, follows and posts made from
// opts, in bulk (COPY), with one password hash shared by all users.
func (s *Store) Seed(ctx context.Context, opts SeedOptions, progress SeedProgress) error {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return wrap("seed", err)
	}
	if n > 0 {
		return ErrNotEmpty
	}
	hash, err := s.hasher.Hash(ctx, opts.Password)
	if err != nil {
		return err
	}
	// The secondary indexes are dropped for the load and built after it,
	// which is faster than keeping them up to date row by row; their
	// definitions are those of the migrations. The count triggers are off
	// during the load, and the counts are set once at the end.
	secondaryIndexes := []struct{ name, create string }{
		{"follows_followed_idx", `CREATE INDEX follows_followed_idx ON follows (followed_id, created_at DESC, follower_id DESC)`},
		{"follows_follower_idx", `CREATE INDEX follows_follower_idx ON follows (follower_id, created_at DESC, followed_id DESC)`},
		{"posts_author_idx", `CREATE INDEX posts_author_idx ON posts (author_id, created_at DESC, id DESC)`},
		{"posts_created_idx", `CREATE INDEX posts_created_idx ON posts (created_at DESC, id DESC)`},
	}
	countTriggers := []string{`ALTER TABLE follows %s TRIGGER follows_count`, `ALTER TABLE posts %s TRIGGER posts_count`,
		`ALTER TABLE users %s TRIGGER users_total_insert`, `ALTER TABLE posts %s TRIGGER posts_total_insert`}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return wrap("seed", err)
	}
	defer conn.Release()
	for _, t := range countTriggers {
		if _, err := conn.Exec(ctx, fmt.Sprintf(t, "DISABLE")); err != nil {
			return wrap("seed", err)
		}
	}
	defer func() {
		for _, t := range countTriggers {
			_, _ = conn.Exec(context.WithoutCancel(ctx), fmt.Sprintf(t, "ENABLE"))
		}
	}()
	for _, ix := range secondaryIndexes {
		if _, err := conn.Exec(ctx, `DROP INDEX IF EXISTS `+ix.name); err != nil {
			return wrap("seed", err)
		}
	}
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
	now := s.now()
	year := int64(365 * 24 * time.Hour)
	ago := func() time.Time { return now.Add(-time.Duration(rng.Int64N(year))) }

	users := int64(opts.Users)
	rows := &seedRows{total: users, stage: "users", progress: progress, next: func(i int64) []any {
		if i >= users {
			return nil
		}
		name := "seed" + strconv.FormatInt(i+1, 10)
		return []any{name, name + "@example.com", hash, "", now, now}
	}}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"users"},
		[]string{"username", "email", "password_hash", "about_me", "created_at", "updated_at"}, rows); err != nil {
		return wrap("seed users", err)
	}
	var first int64
	if err := conn.QueryRow(ctx, `SELECT min(id) FROM users`).Scan(&first); err != nil {
		return wrap("seed", err)
	}

	// Each user follows FollowsPerUser others at random, and the first
	// CelebrityFollowers users also follow the celebrity, the first user.
	perUser := min(opts.FollowsPerUser, opts.Users-1)
	celebrity := int64(opts.CelebrityFollowers)
	var follower int64
	var targets []int64
	// The total is for progress only: the last users may find fewer others
	// to follow than asked.
	rows = &seedRows{total: users*int64(perUser) + min(celebrity, users-1), stage: "follows", progress: progress}
	rows.next = func(int64) []any {
		for len(targets) == 0 {
			if follower >= users {
				return nil
			}
			targets = followTargets(rng, follower, users, perUser, follower > 0 && follower <= celebrity)
			follower++
		}
		t := targets[0]
		targets = targets[1:]
		return []any{first + follower - 1, first + t, ago()}
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"follows"}, []string{"follower_id", "followed_id", "created_at"}, rows); err != nil {
		return wrap("seed follows", err)
	}

	posts := users * int64(opts.PostsPerUser)
	rows = &seedRows{total: posts, stage: "posts", progress: progress, next: func(i int64) []any {
		if i >= posts {
			return nil
		}
		t := ago()
		return []any{first + i/int64(opts.PostsPerUser), "Post " + strconv.FormatInt(i%int64(opts.PostsPerUser)+1, 10) +
			" of seed" + strconv.FormatInt(i/int64(opts.PostsPerUser)+1, 10), t, t}
	}}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"posts"}, []string{"author_id", "body", "created_at", "updated_at"}, rows); err != nil {
		return wrap("seed posts", err)
	}

	// recount sets the counts on users from the rows, one aggregate a count:
	// users start at zero, so only those with rows are touched. The totals
	// go to one shard of each, the others at zero.
	recount := []string{
		`UPDATE totals SET n = CASE WHEN shard = 0 THEN (SELECT count(*) FROM users) ELSE 0 END WHERE name = 'users'`,
		`UPDATE totals SET n = CASE WHEN shard = 0 THEN (SELECT count(*) FROM posts) ELSE 0 END WHERE name = 'posts'`,
		`UPDATE users u SET follower_count = c.followers, following_count = c.following, post_count = c.posts
		 FROM (
			SELECT id, sum(followers) AS followers, sum(following) AS following, sum(posts) AS posts FROM (
				SELECT followed_id AS id, 1 AS followers, 0 AS following, 0 AS posts FROM follows
				UNION ALL SELECT follower_id, 0, 1, 0 FROM follows
				UNION ALL SELECT author_id, 0, 0, 1 FROM posts
			) r GROUP BY id
		 ) c WHERE u.id = c.id`,
	}
	steps := recount
	for _, ix := range secondaryIndexes {
		steps = append(steps, ix.create)
	}
	// The counts rewrote every user row once: VACUUM FULL packs the table
	// (and rebuilds its indexes) to the size a day of use would leave, not
	// twice it, so that a benchmark on the seeded data reads what a
	// server in use would. ANALYZE then covers every table.
	steps = append(steps, `VACUUM FULL users`, `ANALYZE`)
	for i, sql := range steps {
		if progress != nil {
			progress("counts and indexes", int64(i), int64(len(steps)))
		}
		if _, err := conn.Exec(ctx, sql); err != nil {
			return wrap("seed", err)
		}
	}
	if progress != nil {
		progress("counts and indexes", int64(len(steps)), int64(len(steps)))
	}
	return nil
}

// followTargets picks the zero-based users that user follower follows:
// up to n distinct ones other than itself, plus user 0, the celebrity, when
// it is one of the celebrity's followers.
func followTargets(rng *rand.Rand, follower, users int64, n int, followsCelebrity bool) []int64 {
	seen := map[int64]bool{follower: true}
	var out []int64
	if followsCelebrity && follower != 0 {
		seen[0] = true
		out = append(out, 0)
	}
	for picked := 0; picked < n && int64(len(seen)) < users; {
		t := rng.Int64N(users)
		if seen[t] {
			continue
		}
		seen[t] = true
		out = append(out, t)
		picked++
	}
	return out
}

// seedRows is a pgx.CopyFromSource that makes rows with next until it
// returns nil, and reports progress against total every 1% or so.
type seedRows struct {
	i, total int64
	stage    string
	next     func(i int64) []any
	row      []any
	progress SeedProgress
}

func (r *seedRows) Next() bool {
	if r.row = r.next(r.i); r.row == nil {
		if r.progress != nil {
			r.progress(r.stage, r.i, r.i)
		}
		return false
	}
	r.i++
	if r.progress != nil && (r.i%max(r.total/100, 1) == 0) {
		r.progress(r.stage, r.i, r.total)
	}
	return true
}

func (r *seedRows) Values() ([]any, error) { return r.row, nil }
func (r *seedRows) Err() error             { return nil }
