package persistence

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// changesChannel is where the commit of a change announces its topics
// (migration 00021).
const changesChannel = "changes"

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

// Freshness: an instance pings itself through the channel every
// pingEvery, and trusts what it keeps only while it has heard one of its
// pings sent less than StaleAfter ago. PostgreSQL delivers notifications in
// the order their transactions committed, so hearing a ping means having
// heard every change that committed before it was sent: nothing kept is
// served more than StaleAfter after a change on any instance made it
// untrue, and in practice a few milliseconds.
//
// A client that wrote is served nothing kept until its instance has heard
// a ping sent after the write: its next read asks for one at once (at most
// one every minPingGap), which comes back in a few milliseconds.
const (
	pingEvery  = 100 * time.Millisecond
	minPingGap = 5 * time.Millisecond
	StaleAfter = time.Second
)

// maxTopics bounds the topics Changes remembers; past it, it forgets them
// all and, with them, the truth of everything kept before.
const maxTopics = 200_000

// Changes follows the changes that commit, on any instance: it numbers
// each announcement it hears, and remembers, for each topic, the number of
// the last one that named it. What a response was made of is true as long
// as none of its topics was named after the number taken before it was
// read (Unchanged). A Listener hears the announcements (Listener.Follow).
type Changes struct {
	pool     *pgxpool.Pool
	instance string

	mu sync.RWMutex
	// seq numbers the announcements heard; floor is the first number whose
	// readings can be trusted: a gap in listening raises it past all kept.
	seq, floor uint64
	last       map[Topic]uint64
	// sent holds when each ping still unheard was sent, by number.
	sent  map[uint64]time.Time
	pings uint64
	// kick asks for a ping now: the listener has just begun to listen,
	// or a client that wrote reads.
	kick chan struct{}

	// heard is when the newest ping heard was sent, in nanoseconds since
	// start (the monotonic clock, which a change of the wall clock does
	// not move); 0 when none was heard since the listener (re)connected.
	heard atomic.Int64
	start time.Time
}

// NewChanges returns the follower of the changes of pool's database, which
// sends its pings through pool.
func NewChanges(pool *pgxpool.Pool) *Changes {
	raw := make([]byte, 8)
	_, _ = rand.Read(raw)
	return &Changes{pool: pool, instance: hex.EncodeToString(raw), last: map[Topic]uint64{}, sent: map[uint64]time.Time{},
		kick: make(chan struct{}, 1), start: time.Now()}
}

// Now is the number to read under: take it before reading, and check what
// was read against it with Unchanged.
func (ch *Changes) Now() uint64 {
	ch.mu.RLock()
	defer ch.mu.RUnlock()
	return ch.seq
}

// Unchanged reports whether what was read under number n, made of topics,
// is still true as far as this instance has heard.
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
// instance has heard every change that committed more than StaleAfter ago,
// on any instance.
func (ch *Changes) Trusted(now time.Time) bool {
	heard := ch.heard.Load()
	return heard != 0 && int64(now.Sub(ch.start))-heard < int64(StaleAfter)
}

// AskPing asks for a ping now, which comes back in a few milliseconds: a
// client waits for the changes of its last write to be heard (HeardSince)
// before it is served anything kept.
func (ch *Changes) AskPing() {
	select {
	case ch.kick <- struct{}{}:
	default:
	}
}

// HeardSince reports whether this instance has heard every change that
// committed before t: a ping sent after t came back.
func (ch *Changes) HeardSince(t time.Time) bool {
	return ch.heard.Load() > int64(t.Sub(ch.start))
}

// HandleNotification is called by pgxlisten with each announcement.
func (ch *Changes) HandleNotification(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	if ping, ok := strings.CutPrefix(n.Payload, "!"); ok {
		ch.pinged(ping)
		return nil
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.seq++
	if n.Payload == "*" || len(ch.last) >= maxTopics {
		clear(ch.last)
		ch.floor = ch.seq
		return nil
	}
	for s := range strings.SplitSeq(n.Payload, " ") {
		t, ok := parseTopic(s)
		if !ok {
			// Unknown to this release: trust nothing read before it.
			ch.floor = ch.seq
			continue
		}
		ch.last[t] = ch.seq
	}
	return nil
}

// HandleBacklog is called by pgxlisten each time the listener is
// listening again: whatever committed while it was not was not heard, so
// nothing read before can be trusted, nor anything until a ping is heard.
func (ch *Changes) HandleBacklog(context.Context, string, *pgx.Conn) error {
	ch.heard.Store(0)
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.seq++
	ch.floor = ch.seq
	clear(ch.last)
	clear(ch.sent)
	ch.AskPing()
	return nil
}

// pinged takes a ping heard: this instance's, and the oldest pings still
// unheard are forgotten with it.
func (ch *Changes) pinged(payload string) {
	instance, num, ok := strings.Cut(payload, ":")
	if !ok || instance != ch.instance {
		return
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return
	}
	ch.mu.Lock()
	at, ok := ch.sent[n]
	for k := range ch.sent {
		if k <= n {
			delete(ch.sent, k)
		}
	}
	ch.mu.Unlock()
	if ok {
		ch.heard.Store(max(int64(at.Sub(ch.start)), 1))
	}
}

// ping sends a ping at once, then every pingEvery and when asked (the
// listener begins to listen, a writer reads), but at most one every
// minPingGap, until ctx ends. A ping that fails is not heard, and
// what is kept goes stale.
func (ch *Changes) ping(ctx context.Context) {
	tick := time.NewTicker(pingEvery)
	defer tick.Stop()
	for {
		ch.sendPing(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(minPingGap):
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-ch.kick:
		}
	}
}

// sendPing sends one ping.
func (ch *Changes) sendPing(ctx context.Context) {
	ch.mu.Lock()
	ch.pings++
	n := ch.pings
	// Pings that were never heard (a lost connection) are dropped when
	// the listener reconnects; bound them meanwhile.
	if len(ch.sent) >= 100 {
		clear(ch.sent)
	}
	ch.sent[n] = time.Now()
	ch.mu.Unlock()
	payload := "!" + ch.instance + ":" + strconv.FormatUint(n, 10)
	ctx, cancel := context.WithTimeout(ctx, StaleAfter)
	defer cancel()
	_, _ = ch.pool.Exec(ctx, "SELECT pg_notify($1, $2)", changesChannel, payload)
}
