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

// allow takes one event for key if the bucket has one, and otherwise says
// how long until it will. remaining is what the bucket holds afterwards.
func (l *limiter) allow(key string, now time.Time) (ok bool, retry time.Duration, remaining int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > l.idle() {
		for k, b := range l.keys {
			if now.Sub(b.seen) > l.idle() {
				delete(l.keys, k)
			}
		}
		l.swept = now
	}
	b, ok := l.keys[key]
	if !ok {
		every := rate.Every(l.limit.Period / time.Duration(max(l.limit.Events, 1)))
		b = &bucket{lim: rate.NewLimiter(every, l.limit.Burst)}
		l.keys[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d, 0
	}
	return true, 0, int(math.Floor(b.lim.TokensAt(now)))
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
