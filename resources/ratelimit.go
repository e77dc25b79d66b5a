package resources

import (
	"math"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimit is a number of events per Period, with bursts of Burst.
type RateLimit struct {
	Events int
	Period time.Duration
	Burst  int
}

// limiter rate-limits events by key (a username, a client address) with a
// token bucket per key (golang.org/x/time/rate). Idle keys are forgotten, so
// that a flood of distinct keys costs memory only while it lasts.
type limiter struct {
	limit RateLimit
	mu    sync.Mutex
	keys  map[string]*bucket
	swept time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(l RateLimit) *limiter {
	return &limiter{limit: l, keys: map[string]*bucket{}}
}

// idle is how long a key's bucket is kept after its last event: long
// enough for it to have refilled, so forgetting it changes nothing.
func (l *limiter) idle() time.Duration {
	return l.limit.Period * time.Duration(max(l.limit.Burst, 1)) / time.Duration(max(l.limit.Events, 1))
}

// sweep forgets the buckets idle long enough to have refilled, at most
// once per idle period. l.mu is held.
func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.swept) <= l.idle() {
		return
	}
	for k, b := range l.keys {
		if now.Sub(b.seen) > l.idle() {
			delete(l.keys, k)
		}
	}
	l.swept = now
}

// check is a limiter and the key under which it counts an event.
type check struct {
	l   *limiter
	key string
}

// reservation is one event reserved in a check's bucket. A bucket the
// limiter did not hold is made full, and kept only if the event is: a
// refused event leaves no bucket behind, so a flood of refused keys costs
// no memory.
type reservation struct {
	check
	b     *bucket
	fresh bool
	r     *rate.Reservation
}

// reserve reserves an event of c at now. c.l.mu is held.
func (c check) reserve(now time.Time) reservation {
	c.l.sweep(now)
	b, ok := c.l.keys[c.key]
	if !ok {
		every := rate.Every(c.l.limit.Period / time.Duration(max(c.l.limit.Events, 1)))
		b = &bucket{lim: rate.NewLimiter(every, c.l.limit.Burst)}
	}
	return reservation{check: c, b: b, fresh: !ok, r: b.lim.ReserveN(now, 1)}
}

// verdict is what admit decided, with the limit that tells the client
// most: the refusing one with the longest wait, or else the one with the
// fewest events left.
type verdict struct {
	limit     RateLimit
	remaining int
	retry     time.Duration
}

// admit counts an event in the bucket of every check if each has one, and
// otherwise in none: an event refused by one limiter spends nothing of the
// others. Checks of the same limiters must come in the same order, which
// is the order their locks are taken in.
func admit(now time.Time, checks ...check) verdict {
	for _, c := range checks {
		c.l.mu.Lock()
		defer c.l.mu.Unlock()
	}
	rs := make([]reservation, len(checks))
	v := verdict{remaining: -1}
	for i, c := range checks {
		rs[i] = c.reserve(now)
		if d := rs[i].r.DelayFrom(now); d > v.retry {
			v = verdict{limit: c.l.limit, retry: d}
		}
	}
	for _, r := range rs {
		if v.retry > 0 {
			// With every lock held, nothing was reserved since: the
			// cancellation gives back exactly what was taken.
			r.r.CancelAt(now)
			continue
		}
		if r.fresh {
			r.l.keys[r.key] = r.b
		}
		r.b.seen = now
		if left := int(math.Floor(r.b.lim.TokensAt(now))); v.remaining < 0 || left < v.remaining {
			v.limit, v.remaining = r.l.limit, left
		}
	}
	v.remaining = max(v.remaining, 0)
	return v
}

// rateHeaders are the RateLimit fields of the IETF draft (limit, remaining,
// seconds to reset) and, when refused, Retry-After.
func rateHeaders(l RateLimit, remaining int, retry time.Duration) map[string]string {
	h := map[string]string{
		"RateLimit-Limit":     strconv.Itoa(l.Burst),
		"RateLimit-Remaining": strconv.Itoa(remaining),
		"RateLimit-Reset":     strconv.Itoa(int(math.Ceil(retry.Seconds()))),
	}
	if retry > 0 {
		h["Retry-After"] = h["RateLimit-Reset"]
	}
	return h
}
