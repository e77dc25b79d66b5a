package persistence

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// A Topic names something a response may show, which a change announces
// when it changes it: a kind (the letters of migration 00021) and, for most
// kinds, the id of a user or a post.
type Topic struct {
	kind byte
	id   int64
}

// The topics. A response shows the topics it is made of; a change of any
// of them makes it untrue.
func UserTopic(id int64) Topic { return Topic{'u', id} } // the row of user id: profile, counts, last_seen

func PostsOf(author int64) Topic { return Topic{'p', author} } // the posts of author

func FollowsOf(follower int64) Topic { return Topic{'f', follower} } // whom follower follows

func FollowersOf(followed int64) Topic { return Topic{'F', followed} } // who follows followed

func LikesOf(user int64) Topic { return Topic{'l', user} } // what user likes

func LikersOf(post int64) Topic { return Topic{'L', post} } // who likes post

func TokensOf(user int64) Topic { return Topic{'t', user} } // the tokens of user that ended

func NotificationsOf(user int64) Topic { return Topic{'n', user} } // the notifications and inbox of user

// Topics of whole tables.
var (
	AllUsers  = Topic{kind: 'U'} // the set of users and its total
	UserNames = Topic{kind: 'N'} // the usernames and about_me of all users
	AllPosts  = Topic{kind: 'P'} // every post and the set of them
)

// String is the topic as a payload names it.
func (t Topic) String() string {
	if t.id == 0 {
		return string(t.kind)
	}
	return string(t.kind) + strconv.FormatInt(t.id, 10)
}

// parseTopic reads one topic of a payload.
func parseTopic(s string) (Topic, bool) {
	if s == "" {
		return Topic{}, false
	}
	t := Topic{kind: s[0]}
	switch t.kind {
	case 'U', 'N', 'P':
		return t, len(s) == 1
	case 'u', 'p', 'f', 'F', 'l', 'L', 't', 'n':
		id, err := strconv.ParseInt(s[1:], 10, 64)
		t.id = id
		return t, err == nil
	}
	return Topic{}, false
}

// Freshness: an instance looks for the changes that committed every
// pollEvery, and trusts what it keeps only while its last look that
// worked began less than StaleAfter ago. A look reads every change that
// committed before it began and that it had not read (migration 00022):
// nothing kept is served more than StaleAfter after a change on any
// instance made it untrue, and in practice within pollEvery.
//
// A client that wrote is served nothing kept until its instance has
// looked since the write: its next read asks for a look at once (at most
// one every minPollGap), which takes a few milliseconds.
const (
	pollEvery  = 100 * time.Millisecond
	minPollGap = 5 * time.Millisecond
	StaleAfter = time.Second
)

// Rows of changes are deleted keepChanges after their transaction ended,
// by each instance, which samples its snapshots for that six times as
// often. An instance that has not looked for half of keepChanges may have
// missed rows deleted meanwhile: it trusts nothing it read before.
const keepChanges = time.Minute

// maxTopics bounds the topics Changes remembers; past it, it forgets them
// all and, with them, the truth of everything kept before.
const maxTopics = 200_000

// Changes follows the changes that commit, on any instance: it numbers
// each announcement it reads, and remembers, for each topic, the number of
// the last one that named it. What a response was made of is true as long
// as none of its topics was named after the number taken before it was
// read (Unchanged). Run reads the announcements.
type Changes struct {
	pool   *pgxpool.Pool
	report func(error)

	mu sync.RWMutex
	// seq numbers the announcements read; floor is the first number whose
	// readings can be trusted: a gap in looking raises it past all kept.
	seq, floor uint64
	last       map[Topic]uint64
	// kick asks for a look now: a client that wrote reads.
	kick chan struct{}

	// looked is when the newest look that worked began, in nanoseconds
	// since start (the monotonic clock, which a change of the wall clock
	// does not move); 0 before the first.
	looked atomic.Int64
	start  time.Time

	// keep is keepChanges but in tests; l is Run's alone.
	keep time.Duration
	l    looker
}

// NewChanges returns the follower of the changes of pool's database, which
// reports the first error of each run of failed looks (ten a second while
// the database is away) to report, which may be nil.
func NewChanges(pool *pgxpool.Pool, report func(error)) *Changes {
	if report == nil {
		report = func(error) {}
	}
	return &Changes{pool: pool, report: report, last: map[Topic]uint64{}, kick: make(chan struct{}, 1), start: time.Now(),
		keep: keepChanges}
}

// Now is the number to read under: take it before reading, and check what
// was read against it with Unchanged.
func (ch *Changes) Now() uint64 {
	ch.mu.RLock()
	defer ch.mu.RUnlock()
	return ch.seq
}

// Unchanged reports whether what was read under number n, made of topics,
// is still true as far as this instance has read.
func (ch *Changes) Unchanged(n uint64, topics ...Topic) bool {
	ch.mu.RLock()
	defer ch.mu.RUnlock()
	if n < ch.floor {
		return false
	}
	for _, t := range topics {
		if ch.last[t] > n {
			return false
		}
	}
	return true
}

// Trusted reports whether what was kept may be served at now: this
// instance has read every change that committed more than StaleAfter ago,
// on any instance.
func (ch *Changes) Trusted(now time.Time) bool {
	looked := ch.looked.Load()
	return looked != 0 && int64(now.Sub(ch.start))-looked < int64(StaleAfter)
}

// AskLook asks for a look now, which takes a few milliseconds: a client
// waits for a look after its last write (LookedSince) before
// it is served anything kept.
func (ch *Changes) AskLook() {
	select {
	case ch.kick <- struct{}{}:
	default:
	}
}

// LookedSince reports whether this instance has read every change that
// committed before t: a look that began after t worked.
func (ch *Changes) LookedSince(t time.Time) bool {
	return ch.looked.Load() > int64(t.Sub(ch.start))
}

// Run looks at once, then every pollEvery and when asked (a writer reads),
// but at most once every minPollGap, until ctx ends. A look that fails
// reads nothing, and what is kept goes stale. Run may run again after it
// returned, but not twice at once.
func (ch *Changes) Run(ctx context.Context) {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	failing := false
	for {
		err := ch.l.look(ctx, ch)
		if err != nil && !failing && ctx.Err() == nil {
			ch.report(err)
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return
		case <-time.After(minPollGap):
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-ch.kick:
		}
	}
}

// selectChanges takes a snapshot and reads the changes it sees that the
// snapshot before it did not: those of the transactions that were running
// then ($2) or began after ($1); none on the first look ($1 and $2 NULL).
// pg_postmaster_start_time tells a restarted or another server, whose
// transaction ids may not follow those of the snapshot before.
const selectChanges = `
	WITH s AS (SELECT pg_current_snapshot() AS snap)
	SELECT pg_snapshot_xmin(snap)::text, pg_snapshot_xmax(snap)::text,
	       ARRAY(SELECT pg_snapshot_xip(snap)::text), pg_postmaster_start_time(),
	       ARRAY(SELECT topics FROM changes WHERE xid >= $1::xid8 OR xid = ANY ($2::xid8[]))
	FROM s`

// looker is what Run's goroutine knows of its last look that worked.
type looker struct {
	// xmax and xip are of its snapshot: rows of transactions from xmax on,
	// or in xip, are the ones it could not see.
	xmax   *string
	xip    []string
	server time.Time // when the database's server started
	at     time.Time // when the look began
	// samples are the xmin of snapshots, six every keepChanges: rows of
	// transactions below the xmin of a snapshot taken keepChanges ago
	// ended before it, and every instance has read them.
	samples []xminSample
}

type xminSample struct {
	at   time.Time
	xmin string
}

// look reads the changes that committed since the last look, and deletes
// those that every instance has read.
func (l *looker) look(ctx context.Context, ch *Changes) error {
	ctx, cancel := context.WithTimeout(ctx, StaleAfter)
	defer cancel()
	began := time.Now()
	var xmin, xmax string
	var xip, payloads []string
	var server time.Time
	if err := ch.pool.QueryRow(ctx, selectChanges, l.xmax, l.xip).Scan(&xmin, &xmax, &xip, &server, &payloads); err != nil {
		return err
	}
	continued := l.xmax != nil && server.Equal(l.server) && began.Sub(l.at) < ch.keep/2
	ch.read(payloads, continued)
	l.xmax, l.xip, l.server, l.at = &xmax, xip, server, began
	ch.looked.Store(max(int64(began.Sub(ch.start)), 1))
	if !continued {
		l.samples = nil
	}
	if n := len(l.samples); n == 0 || began.Sub(l.samples[n-1].at) >= ch.keep/6 {
		l.samples = append(l.samples, xminSample{at: began, xmin: xmin})
	}
	return l.deleteRead(ctx, ch.pool, began, ch.keep)
}

// deleteRead deletes the changes of transactions that ended before the
// newest sample at least keep old, and forgets the samples up to it.
func (l *looker) deleteRead(ctx context.Context, pool *pgxpool.Pool, now time.Time, keep time.Duration) error {
	i := -1
	for j, s := range l.samples {
		if now.Sub(s.at) >= keep {
			i = j
		}
	}
	if i < 0 {
		return nil
	}
	xmin := l.samples[i].xmin
	l.samples = l.samples[i+1:]
	_, err := pool.Exec(ctx, "DELETE FROM changes WHERE xid < $1::xid8", xmin)
	return err
}

// read takes the payloads of a look. Unless the look continued the one
// before (the same server, not too long after), changes may have gone
// unread: nothing read before can be trusted.
func (ch *Changes) read(payloads []string, continued bool) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if !continued {
		ch.forget()
		return
	}
	for _, p := range payloads {
		ch.seq++
		if p == "*" || len(ch.last) >= maxTopics {
			ch.forget()
			continue
		}
		for s := range strings.SplitSeq(p, " ") {
			t, ok := parseTopic(s)
			if !ok {
				// Unknown to this release: trust nothing read before it.
				ch.floor = ch.seq
				continue
			}
			ch.last[t] = ch.seq
		}
	}
}

// forget makes everything read before untrusted; ch.mu is held.
func (ch *Changes) forget() {
	ch.seq++
	ch.floor = ch.seq
	clear(ch.last)
}
