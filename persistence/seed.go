package persistence

import (
	"context"
	_ "embed" // the vocabulary of seeded posts
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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
	// RepliesPercent is the share of posts, in percent, that reply to an
	// earlier post, drawn evenly from those written before.
	RepliesPercent int
	// LikesPerUser is how many posts of others each user likes, at random.
	LikesPerUser int
	// HotPostLikes is how many users, at random, like the hot post: the
	// newest post of the first seeded user (at most every other user).
	HotPostLikes int
	// Seed is the random seed.
	Seed uint64
	// Password is every seeded user's password; it is hashed once.
	Password string
}

// SeedStep is where Seed is: the step it works on and how far it has come.
type SeedStep struct {
	// Name is the step: "users", "follows", "posts" and "likes" load
	// rows with COPY; "notifications", "counts", "tags", "index <name>",
	// "foreign key <name>", "vacuum users", "vacuum posts" and "vacuum
	// and analyze" are statements.
	Name string
	// Load is set for a step that loads rows. Sent is how many rows it
	// has handed to PostgreSQL, of about Total. Once every row is sent,
	// Total is Sent, and what is left is PostgreSQL's own work.
	Load        bool
	Sent, Total int64
	// Database is what PostgreSQL's progress views last said of the
	// step's statement, such as "41000 rows stored" during a COPY or
	// "building index: loading tuples in tree: 4100/10000 tuples"; empty
	// when they say nothing.
	Database string
	// Done is set on the step's last report, when it has ended.
	Done bool
}

// SeedProgress is told how Seed gets on: when a step starts, as its rows
// are sent, about once a second with what PostgreSQL says of its work, and
// when the step ends. Calls never overlap.
type SeedProgress func(SeedStep)

// ErrNotEmpty means Seed was asked to fill a database that has users.
var ErrNotEmpty = errors.New("the database already has users: seed a fresh one")

// Seed fills an empty database with users, follows, posts and likes made
// from opts, in bulk (COPY), with one password hash shared by all users.
// Posts are sentences of common English words drawn by Zipf's law, as words
// are in real text (postWriter); some have hashtags, some mention a seeded
// user, and some reply to an earlier post. Besides the random likes, the
// hot post, the first user's newest, has HotPostLikes of them.
//
// The load runs in one transaction with the triggers that fire on INSERT
// disabled and the secondary indexes and the foreign keys dropped; then it
// does set-based what the triggers would have done row by row (the counts,
// the tags' rows and the notifications of the seeded acts), builds the
// indexes again and adds the foreign keys back, which checks every row in
// one join instead of one lookup a row. The three lists come from the
// catalog, so a migration that adds an index, a trigger or a foreign key is
// covered as it is. Being one transaction, a seed that fails or is
// interrupted leaves the database as it found it, all three included.
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
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return wrap("seed", err)
	}
	defer conn.Release()
	sd := &seeding{pool: s.pool, pid: conn.Conn().PgConn().PID(), progress: progress}
	data := &seedData{opts: opts, hash: hash, now: s.now(),
		rng:  rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		talk: rand.New(rand.NewPCG(opts.Seed^0x6a09e667f3bcc908, opts.Seed))}
	if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return sd.load(ctx, tx, data) }); err != nil {
		return wrap("seed", err)
	}
	// The counts rewrote every user row once, and every post with a like
	// or a reply: VACUUM FULL packs the tables (and rebuilds their
	// indexes) to the size a day of use would leave, not up to twice it,
	// so that a benchmark on the seeded data reads what a server in use
	// would. VACUUM (ANALYZE) then covers every table: it does now what
	// autovacuum would do to the new rows during the first minutes of a
	// benchmark (it marks the tables' pages all-visible), and gathers the
	// statistics. None of them runs in a transaction.
	for _, st := range []struct{ name, sql string }{{"vacuum users", `VACUUM FULL users`},
		{"vacuum posts", `VACUUM FULL posts`}, {"vacuum and analyze", `VACUUM (ANALYZE)`}} {
		if err := sd.step(ctx, SeedStep{Name: st.name}, func() error { _, err := conn.Exec(ctx, st.sql); return err }); err != nil {
			return wrap("seed", err)
		}
	}
	return nil
}

// seedTables are the tables Seed fills, in the order it fills them.
func seedTables() []string {
	return []string{"users", "follows", "posts", "likes", "notifications", "inboxes"}
}

// load runs in the seed's transaction: it takes the tables' insert
// triggers, secondary indexes and foreign keys away, loads the rows, does
// what the triggers would have done (the notifications, the counts and the
// tags' rows) and puts the rest back.
func (sd *seeding) load(ctx context.Context, tx pgx.Tx, data *seedData) error {
	held, err := suspendForLoad(ctx, tx)
	if err != nil {
		return err
	}
	if err := sd.loadRows(ctx, tx, data); err != nil {
		return err
	}
	err = sd.step(ctx, SeedStep{Name: "notifications"}, func() error {
		_, err := tx.Exec(ctx, notifySeeded, data.now)
		return err
	})
	if err != nil {
		return err
	}
	if err := sd.step(ctx, SeedStep{Name: "counts"}, func() error { return execAll(ctx, tx, recount()...) }); err != nil {
		return err
	}
	if err := sd.step(ctx, SeedStep{Name: "tags"}, func() error { return execAll(ctx, tx, retag()...) }); err != nil {
		return err
	}
	return sd.restore(ctx, tx, held)
}

// loadRows loads the users, the follows, the posts and the likes with
// COPY. The posts are loaded with their ids, so that a reply can name its
// parent: COPY writes an identity column as it is given.
func (sd *seeding) loadRows(ctx context.Context, tx pgx.Tx, data *seedData) error {
	if err := sd.copy(ctx, tx, "users", []string{"username", "email", "password_hash", "about_me", "created_at", "updated_at"},
		data.users()); err != nil {
		return err
	}
	var firstUser, firstPost int64
	if err := tx.QueryRow(ctx, `SELECT min(id) FROM users`).Scan(&firstUser); err != nil {
		return err
	}
	if err := sd.copy(ctx, tx, "follows", []string{"follower_id", "followed_id", "created_at"}, data.follows(firstUser)); err != nil {
		return err
	}
	if err := tx.QueryRow(ctx, reservePostIDs, int64(data.opts.Users)*int64(data.opts.PostsPerUser)).Scan(&firstPost); err != nil {
		return err
	}
	if err := sd.copy(ctx, tx, "posts", []string{"id", "author_id", "parent_id", "body", "created_at", "updated_at", "tags", "mentions"},
		data.posts(firstUser, firstPost)); err != nil {
		return err
	}
	return sd.copy(ctx, tx, "likes", []string{"post_id", "user_id", "created_at"}, data.likes(firstUser, firstPost))
}

// reservePostIDs takes $1 ids (at least one) from the sequence of the
// posts' ids and returns the first: the seeded posts are loaded with the
// ids that follow it, and the posts written after the seed take the next.
const reservePostIDs = `
	WITH s AS (SELECT pg_get_serial_sequence('posts', 'id') AS seq),
	     f AS (SELECT nextval(seq) AS first FROM s)
	SELECT first FROM s, f, LATERAL (SELECT setval(seq, first + greatest($1::bigint, 1) - 1)) v`

// restore builds the indexes again, adds the foreign keys back and
// enables the triggers, as held says.
func (sd *seeding) restore(ctx context.Context, tx pgx.Tx, held suspended) error {
	for _, ix := range held.indexes {
		if err := sd.step(ctx, SeedStep{Name: "index " + ix.Name}, func() error { return execAll(ctx, tx, ix.Create) }); err != nil {
			return err
		}
	}
	for _, fk := range held.foreignKeys {
		if err := sd.step(ctx, SeedStep{Name: "foreign key " + fk.Name}, func() error { return execAll(ctx, tx, fk.Add) }); err != nil {
			return err
		}
	}
	for _, t := range held.triggers {
		if err := execAll(ctx, tx, t.Enable); err != nil {
			return err
		}
	}
	return nil
}

// selectSecondaryIndexes lists the indexes of the tables $1 that the load
// can do without: not unique (so not a primary key either) and used by no
// constraint.
const selectSecondaryIndexes = `
	SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
	FROM pg_index i
	WHERE i.indrelid = ANY ($1::text[]::regclass[])
	  AND NOT i.indisunique
	  AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)
	ORDER BY i.indrelid::regclass::text, i.indexrelid::regclass::text`

// selectInsertTriggers makes the statements that disable and enable again
// the triggers of the tables $1 that fire on INSERT (tgtype bit 4): those
// the application defined (not the foreign keys' internal ones) and that
// are enabled. Each is enabled again in the mode it had.
const selectInsertTriggers = `
	SELECT format('ALTER TABLE %s DISABLE TRIGGER %I', t.tgrelid::regclass, t.tgname),
	       format('ALTER TABLE %s ENABLE %s TRIGGER %I', t.tgrelid::regclass,
	              CASE t.tgenabled WHEN 'A' THEN 'ALWAYS' WHEN 'R' THEN 'REPLICA' ELSE '' END, t.tgname)
	FROM pg_trigger t
	WHERE t.tgrelid = ANY ($1::text[]::regclass[])
	  AND NOT t.tgisinternal
	  AND t.tgenabled <> 'D'
	  AND t.tgtype & 4 <> 0
	ORDER BY t.tgrelid::regclass::text, t.tgname`

// selectForeignKeys makes the statements that drop and add again the
// foreign keys of the tables $1, each as it is defined.
const selectForeignKeys = `
	SELECT c.conname::text,
	       format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname),
	       format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid))
	FROM pg_constraint c
	WHERE c.conrelid = ANY ($1::text[]::regclass[]) AND c.contype = 'f'
	ORDER BY c.conrelid::regclass::text, c.conname`

// seedIndex is a secondary index dropped for the load: its name and the
// statement that builds it again.
type seedIndex struct{ Name, Create string }

// seedTrigger is a trigger disabled for the load: the statements that
// disable it and enable it again.
type seedTrigger struct{ Disable, Enable string }

// seedForeignKey is a foreign key dropped for the load: its name and the
// statements that drop it and add it again.
type seedForeignKey struct{ Name, Drop, Add string }

// suspended is what the load took away and gives back at its end.
type suspended struct {
	indexes     []seedIndex
	triggers    []seedTrigger
	foreignKeys []seedForeignKey
}

// suspendForLoad reads the seeded tables' secondary indexes, insert
// triggers and foreign keys from the catalog, drops the indexes and the
// foreign keys, disables the triggers, and returns them. Building an index
// once after the load is faster than keeping it up to date row by row, and
// checking a foreign key once, in one join, than a lookup per row (which
// at a million users, the 10 million follows' lookups took 6.5 of the
// seed's 10 minutes). The
// triggers keep counts and write notifications, which the seed makes once
// at the end. Disabled rather than dropped, the triggers keep their
// definitions in the catalog.
func suspendForLoad(ctx context.Context, tx pgx.Tx) (suspended, error) {
	var held suspended
	var err error
	if held.indexes, err = catalogRows[seedIndex](ctx, tx, selectSecondaryIndexes); err != nil {
		return suspended{}, err
	}
	if held.triggers, err = catalogRows[seedTrigger](ctx, tx, selectInsertTriggers); err != nil {
		return suspended{}, err
	}
	if held.foreignKeys, err = catalogRows[seedForeignKey](ctx, tx, selectForeignKeys); err != nil {
		return suspended{}, err
	}
	var suspend []string
	for _, t := range held.triggers {
		suspend = append(suspend, t.Disable)
	}
	for _, fk := range held.foreignKeys {
		suspend = append(suspend, fk.Drop)
	}
	for _, ix := range held.indexes {
		suspend = append(suspend, `DROP INDEX `+ix.Name)
	}
	return held, execAll(ctx, tx, suspend...)
}

// catalogRows runs query, one of the catalog queries above, on the seeded
// tables and returns its rows as Ts.
func catalogRows[T any](ctx context.Context, tx pgx.Tx, query string) ([]T, error) {
	rows, err := tx.Query(ctx, query, seedTables())
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[T])
}

// notifySeeded makes the notifications of the seeded acts that the
// triggers would have made one by one (notify, in the migrations): of each
// follow, to the user followed; of each like, to the post's author; of
// each reply, to the parent's author; and of each mention, to the user
// mentioned, unless they wrote the parent and are told of the reply
// already; never of one's own act. They take their ids in the order of
// their times, as they would have, and those older than a week before $1,
// the seed's now, are read. Made for every seeded act, they give the
// notifications of a user in use: an ordinary user's page is full, and the
// hot post's author has one a like.
const notifySeeded = `
	INSERT INTO notifications (user_id, type, actor_id, post_id, created_at, read)
	SELECT recipient, kind, actor, post, at, at < $1::timestamptz - interval '7 days'
	FROM (
		SELECT followed_id AS recipient, 'follow' AS kind, follower_id AS actor, NULL::bigint AS post, created_at AS at
		FROM follows
		UNION ALL
		SELECT p.author_id, 'like', l.user_id, l.post_id, l.created_at FROM likes l JOIN posts p ON p.id = l.post_id
		UNION ALL
		SELECT q.author_id, 'reply', r.author_id, r.id, r.created_at FROM posts r JOIN posts q ON q.id = r.parent_id
		UNION ALL
		SELECT m.id, 'mention', p.author_id, p.id, p.updated_at
		FROM posts p CROSS JOIN LATERAL (SELECT DISTINCT id FROM unnest(p.mentions) AS u (id)) m
		LEFT JOIN posts q ON q.id = p.parent_id
		WHERE m.id IS DISTINCT FROM q.author_id
	) a
	WHERE recipient <> actor
	ORDER BY at, recipient, kind, actor, post`

// recount sets the counts from the rows, one aggregate a count: users and
// posts start at zero, so only those with rows are touched. The totals go
// to one shard of each, the others at zero. An inbox counts its user's
// notifications, each of which bumped its version.
func recount() []string {
	return []string{
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
		`UPDATE posts p SET reply_count = c.replies, like_count = c.likes
		 FROM (
			SELECT id, sum(replies) AS replies, sum(likes) AS likes FROM (
				SELECT parent_id AS id, 1 AS replies, 0 AS likes FROM posts WHERE parent_id IS NOT NULL
				UNION ALL SELECT post_id, 0, 1 FROM likes
			) r GROUP BY id
		 ) c WHERE p.id = c.id`,
		`INSERT INTO inboxes (user_id, unread, total, version)
		 SELECT user_id, count(*) FILTER (WHERE NOT read), count(*), count(*) FROM notifications GROUP BY user_id`,
	}
}

// retag makes the rows of post_tags and tags from the tags of the posts,
// which the trigger posts_tags would have made post by post: a row of
// post_tags per tag of a post, added in the order of its primary key, and
// a row of tags per tag with the number of posts that have it.
func retag() []string {
	return []string{
		`INSERT INTO post_tags (tag, created_at, post_id)
		 SELECT t.tag, p.created_at, p.id FROM posts p CROSS JOIN unnest(p.tags) AS t (tag)
		 ORDER BY 1, 2, 3`,
		`INSERT INTO tags (name, post_count) SELECT tag, count(*) FROM post_tags GROUP BY tag`,
	}
}

// execAll runs the statements one after the other.
func execAll(ctx context.Context, tx pgx.Tx, statements ...string) error {
	for _, sql := range statements {
		if _, err := tx.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%s: %w", sql, err)
		}
	}
	return nil
}

// seeding is one run of Seed: what reports its progress.
type seeding struct {
	// pool asks the progress views about pid, the backend of the seed's
	// connection, beside it.
	pool     *pgxpool.Pool
	pid      uint32
	progress SeedProgress
	mu       sync.Mutex // serializes the calls of progress
	current  SeedStep
}

// report changes the current step with f and tells progress.
func (sd *seeding) report(f func(*SeedStep)) {
	if sd.progress == nil {
		return
	}
	sd.mu.Lock()
	defer sd.mu.Unlock()
	f(&sd.current)
	sd.progress(sd.current)
}

// step runs f as the step start describes, reporting its start, what
// PostgreSQL says of it about once a second, and its end.
func (sd *seeding) step(ctx context.Context, start SeedStep, f func() error) error {
	sd.report(func(s *SeedStep) { *s = start })
	stop := sd.watch(ctx)
	err := f()
	stop()
	if err != nil {
		return fmt.Errorf("%s: %w", start.Name, err)
	}
	sd.report(func(s *SeedStep) { s.Database, s.Done = "", true })
	return nil
}

// copy loads rows into table's columns as the step named after the table.
func (sd *seeding) copy(ctx context.Context, tx pgx.Tx, table string, columns []string, rows *seedRows) error {
	rows.seeding = sd
	return sd.step(ctx, SeedStep{Name: table, Load: true, Total: rows.total}, func() error {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{table}, columns, rows)
		return err
	})
}

// selectWork says what PostgreSQL's progress views report of the work of
// the backend $1, if anything: a COPY, an index build, a VACUUM FULL or an
// ANALYZE.
const selectWork = `
	SELECT format('%s rows stored', tuples_processed)
	FROM pg_stat_progress_copy WHERE pid = $1
	UNION ALL
	SELECT phase || CASE WHEN tuples_total > 0 THEN format(': %s/%s tuples', tuples_done, tuples_total)
	                     WHEN blocks_total > 0 THEN format(': %s/%s blocks', blocks_done, blocks_total) ELSE '' END
	FROM pg_stat_progress_create_index WHERE pid = $1
	UNION ALL
	SELECT phase || CASE phase WHEN 'seq scanning heap' THEN format(': %s/%s blocks', heap_blks_scanned, heap_blks_total)
	                           WHEN 'writing new heap' THEN format(': %s tuples written', heap_tuples_written)
	                           WHEN 'rebuilding index' THEN format(': %s indexes rebuilt', index_rebuild_count) ELSE '' END
	FROM pg_stat_progress_cluster WHERE pid = $1
	UNION ALL
	SELECT format('%s: %s', relid::regclass, phase) || CASE WHEN sample_blks_total > 0
	       THEN format(': %s/%s blocks', sample_blks_scanned, sample_blks_total) ELSE '' END
	FROM pg_stat_progress_analyze WHERE pid = $1`

// watch asks the progress views about the seed's backend once a second,
// from another connection, and reports what they say until stop is called.
func (sd *seeding) watch(ctx context.Context) (stop func()) {
	if sd.progress == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			var work string
			err := sd.pool.QueryRow(ctx, selectWork, int32(sd.pid)).Scan(&work)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				continue // the views only inform; the seed goes on without them
			}
			sd.report(func(s *SeedStep) { s.Database = work })
		}
	}()
	return func() { cancel(); <-done }
}

// seedData makes the rows of a seed from its options: the same options,
// the same rows.
type seedData struct {
	opts SeedOptions
	hash string
	now  time.Time
	// rng draws the users, the follows and the posts, and talk the
	// replies and the likes, so that these leave the others as they were
	// before there were replies and likes (and the searches find what
	// they found).
	rng, talk *rand.Rand
	// ages are how long before now each post made so far was written, by
	// its number from 0: the replies and the likes come after their post.
	ages []time.Duration
}

// age returns a random duration within the year before now.
func (d *seedData) age() time.Duration {
	return time.Duration(d.rng.Int64N(int64(365 * 24 * time.Hour)))
}

// ago returns a random time in the year before now.
func (d *seedData) ago() time.Time { return d.now.Add(-d.age()) }

// later returns a random age younger than age: a time between then and now.
func (d *seedData) later(age time.Duration) time.Duration {
	return time.Duration(d.talk.Int64N(max(int64(age), 1)))
}

// users makes the users seed1 to seedN.
func (d *seedData) users() *seedRows {
	users := int64(d.opts.Users)
	return &seedRows{total: users, next: func(i int64) []any {
		if i >= users {
			return nil
		}
		name := "seed" + strconv.FormatInt(i+1, 10)
		return []any{name, name + "@example.com", d.hash, "", d.now, d.now}
	}}
}

// follows makes the follows of the users whose ids start at first. Each
// user follows FollowsPerUser others at random, and the first
// CelebrityFollowers users after the first also follow the celebrity, the first user.
func (d *seedData) follows(first int64) *seedRows {
	users := int64(d.opts.Users)
	perUser := min(d.opts.FollowsPerUser, d.opts.Users-1)
	celebrity := int64(d.opts.CelebrityFollowers)
	var follower int64
	var targets []int64
	// The total is for progress only: the last users may find fewer others
	// to follow than asked.
	return &seedRows{total: users*int64(perUser) + min(celebrity, users-1), next: func(int64) []any {
		for len(targets) == 0 {
			if follower >= users {
				return nil
			}
			targets = followTargets(d.rng, follower, users, perUser, follower > 0 && follower <= celebrity)
			follower++
		}
		t := targets[0]
		targets = targets[1:]
		return []any{first + follower - 1, first + t, d.ago()}
	}}
}

// posts makes the posts of the users whose ids start at firstUser, with
// the ids from firstPost on, written by a postWriter, with their hashtags
// and mentions. RepliesPercent of them reply to an earlier post, written
// after it.
func (d *seedData) posts(firstUser, firstPost int64) *seedRows {
	perUser := int64(d.opts.PostsPerUser)
	posts := int64(d.opts.Users) * perUser
	w := newPostWriter(d.rng, readVocabulary(), int64(d.opts.Users))
	d.ages = make([]time.Duration, 0, posts)
	return &seedRows{total: posts, next: func(i int64) []any {
		if i >= posts {
			return nil
		}
		var parent *int64
		age := d.age()
		if i > 0 && d.talk.IntN(100) < d.opts.RepliesPercent {
			p := d.talk.Int64N(i)
			parent = new(firstPost + p)
			age = d.later(d.ages[p])
		}
		d.ages = append(d.ages, age)
		t := d.now.Add(-age)
		body, mentioned := w.write()
		mentions := []int64{}
		if mentioned >= 0 {
			mentions = append(mentions, firstUser+mentioned)
		}
		return []any{firstPost + i, firstUser + i/perUser, parent, body, t, t, tagsOf(body), mentions}
	}}
}

// likes makes the likes of the users whose ids start at firstUser, of the
// posts made by posts with ids from firstPost on: HotPostLikes users at
// random like the hot post, and each user likes LikesPerUser others'
// posts at random besides, each some time after it was written.
func (d *seedData) likes(firstUser, firstPost int64) *seedRows {
	users, perUser := int64(d.opts.Users), int64(d.opts.PostsPerUser)
	hot, hotLikers := d.hotPost()
	// A user likes at random at most the posts that are neither their own
	// nor the hot post.
	others := users*perUser - perUser
	if hot >= 0 {
		others--
	}
	perLiker := min(int64(max(d.opts.LikesPerUser, 0)), max(others, 0))
	var liker int64
	var liked []int64
	return &seedRows{total: users*perLiker + int64(len(hotLikers)), next: func(int64) []any {
		for len(liked) == 0 {
			if liker >= users {
				return nil
			}
			liked = d.likedBy(liker, perLiker, hot, hotLikers[liker])
			liker++
		}
		p := liked[0]
		liked = liked[1:]
		return []any{firstPost + p, firstUser + liker - 1, d.now.Add(-d.later(d.ages[p]))}
	}}
}

// hotPost returns the number of the hot post, the newest of the first
// user's, and who likes it: HotPostLikes users at random, never its author.
// It returns -1 and nobody when there are no posts.
func (d *seedData) hotPost() (int64, map[int64]bool) {
	perUser := d.opts.PostsPerUser
	if perUser < 1 || d.opts.Users < 1 {
		return -1, nil
	}
	hot := 0
	for i := range perUser {
		if d.ages[i] < d.ages[hot] {
			hot = i
		}
	}
	likers := map[int64]bool{}
	for _, u := range d.talk.Perm(d.opts.Users - 1)[:min(max(d.opts.HotPostLikes, 0), d.opts.Users-1)] {
		likers[int64(u)+1] = true
	}
	return int64(hot), likers
}

// likedBy picks the posts that user liker likes: the hot post when likesHot
// is set, and n distinct others at random, none of them the liker's own.
func (d *seedData) likedBy(liker, n, hot int64, likesHot bool) []int64 {
	perUser, posts := int64(d.opts.PostsPerUser), int64(len(d.ages))
	var liked []int64
	if likesHot {
		liked = append(liked, hot)
	}
	for picked := int64(0); picked < n; {
		p := d.talk.Int64N(posts)
		if p == hot || p/perUser == liker || slices.Contains(liked, p) {
			continue
		}
		liked = append(liked, p)
		picked++
	}
	return liked
}

// seedWords is the vocabulary of seeded posts: a word a line, then the
// hashtags, each line starting with '#'; each list most common first. The
// words are about 3,500 common English words, the thousand commonest
// first, in about their order of frequency.
//
//go:embed seedwords.txt
var seedWords string

// vocabulary is what seeded posts are written with: words and hashtags
// (without their '#'), each most common first.
type vocabulary struct{ words, tags []string }

// readVocabulary reads seedWords.
func readVocabulary() vocabulary {
	var v vocabulary
	for _, line := range strings.Fields(seedWords) {
		if tag, ok := strings.CutPrefix(line, "#"); ok {
			v.tags = append(v.tags, tag)
		} else {
			v.words = append(v.words, line)
		}
	}
	return v
}

// The shape of seeded posts.
const (
	// Words are drawn by a Zipf-Mandelbrot law: the word of rank k (from
	// 0) in proportion to (wordOffset+k)^-wordSkew, close to what English
	// text shows. Hashtags are drawn the same way, more skewed.
	wordSkew, wordOffset = 1.1, 2.7
	tagSkew, tagOffset   = 1.2, 2.7
	// A post has from 0 to maxTags hashtags, evenly.
	maxTags = 2
	// One post in mentionEvery mentions a seeded user.
	mentionEvery = 10
	// A post is as long as it can be within a length drawn evenly from
	// minBody to maxBody characters.
	minBody, maxBody = 20, 140
)

// postWriter writes the bodies of seeded posts.
type postWriter struct {
	rng       *rand.Rand
	vocab     vocabulary
	word, tag *rand.Zipf
	users     int64
	b         strings.Builder
}

// newPostWriter returns a postWriter drawing from rng, whose posts mention
// the users seed1 to seed<users>.
func newPostWriter(rng *rand.Rand, vocab vocabulary, users int64) *postWriter {
	return &postWriter{rng: rng, vocab: vocab, users: users,
		word: rand.NewZipf(rng, wordSkew, wordOffset, uint64(len(vocab.words)-1)),
		tag:  rand.NewZipf(rng, tagSkew, tagOffset, uint64(len(vocab.tags)-1))}
}

// write returns the body of a post and the zero-based number of the
// seeded user it mentions, or -1 if none. The body is a sentence of words,
// its hashtags after it; a mention opens it, as in a reply.
func (w *postWriter) write() (string, int64) {
	w.b.Reset()
	mentioned := int64(-1)
	if w.rng.IntN(mentionEvery) == 0 {
		mentioned = w.rng.Int64N(w.users)
		w.b.WriteString("@seed" + strconv.FormatInt(mentioned+1, 10) + " ")
	}
	var tags string
	for range w.rng.IntN(maxTags + 1) {
		if t := " #" + w.vocab.tags[w.tag.Uint64()]; !strings.Contains(tags+" ", t+" ") {
			tags += t
		}
	}
	// The first word is always written; the rest while the sentence, its
	// full stop and the hashtags fit the length drawn.
	limit := minBody + w.rng.IntN(maxBody-minBody+1) - len(tags) - 1
	first := w.vocab.words[w.word.Uint64()]
	w.b.WriteString(strings.ToUpper(first[:1]) + first[1:])
	for {
		word := w.vocab.words[w.word.Uint64()]
		if w.b.Len()+1+len(word) > limit {
			break
		}
		w.b.WriteString(" " + word)
	}
	w.b.WriteString("." + tags)
	return w.b.String(), mentioned
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
// returns nil, and reports the rows sent every 1% or so of total.
type seedRows struct {
	i, total int64
	next     func(i int64) []any
	row      []any
	*seeding
}

func (r *seedRows) Next() bool {
	if r.row = r.next(r.i); r.row == nil {
		r.report(func(s *SeedStep) { s.Sent, s.Total = r.i, r.i })
		return false
	}
	r.i++
	if r.i%max(r.total/100, 1) == 0 {
		r.report(func(s *SeedStep) { s.Sent = r.i })
	}
	return true
}

func (r *seedRows) Values() ([]any, error) { return r.row, nil }
func (r *seedRows) Err() error             { return nil }
