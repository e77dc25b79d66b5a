package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The samples are real outputs of wrk 4.1.0 (Debian 12): against the
// microblog server with a token (ms), without one (401s: the Non-2xx line),
// against /healthz with one connection (us), against a server that
// sleeps 1.1 s, answering 500 (s; wrk pads that unit with a space), or
// timing out (Socket errors, no latency at all), and with likeScript
// against a server that answers a PUT of a path not liked 201 (a
// microsecond server, whose 20 posts a thread a round took a millisecond:
// some requests were overtaken by the next of their post).
const (
	wrkMillis = `Running 3s test @ http://127.0.0.1:18080/api/users/3
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.82ms    4.81ms 123.87ms   94.69%
    Req/Sec     1.81k   446.61     2.50k    73.33%
  Latency Distribution
     50%    3.89ms
     75%    5.40ms
     90%    7.73ms
     99%   16.12ms
  10821 requests in 3.01s, 12.68MB read
Requests/sec:   3600.35
Transfer/sec:      4.22MB
`
	wrkNon2xx = `Running 3s test @ http://127.0.0.1:18080/api/users/3
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.31ms    1.74ms  25.16ms   87.55%
    Req/Sec     9.48k     2.28k   12.88k    73.33%
  Latency Distribution
     50%  677.00us
     75%    1.80ms
     90%    3.43ms
     99%    7.45ms
  56826 requests in 3.01s, 24.44MB read
  Non-2xx or 3xx responses: 56826
Requests/sec:  18873.40
Transfer/sec:      8.12MB
`
	wrkMicros = `Running 2s test @ http://127.0.0.1:18080/healthz
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   165.27us  378.40us   5.82ms   95.92%
    Req/Sec     9.27k     1.91k   11.74k    65.00%
  Latency Distribution
     50%   89.00us
     75%  132.00us
     90%  224.00us
     99%    1.83ms
  18439 requests in 2.00s, 3.34MB read
Requests/sec:   9208.72
Transfer/sec:      1.67MB
`
	wrkSeconds = `Running 4s test @ http://127.0.0.1:18099/err
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.13s    21.47ms   1.14s    66.67%
    Req/Sec     1.00      0.00     1.00    100.00%
  Latency Distribution
     50%    1.14s 
     75%    1.14s 
     90%    1.14s 
     99%    1.14s 
  6 requests in 4.01s, 792.00B read
  Non-2xx or 3xx responses: 6
Requests/sec:      1.50
Transfer/sec:     197.39B
`
	wrkTimeouts = `Running 3s test @ http://127.0.0.1:18099/
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.00us    0.00us   0.00us    -nan%
    Req/Sec     1.00      0.00     1.00    100.00%
  Latency Distribution
     50%    0.00us
     75%    0.00us
     90%    0.00us
     99%    0.00us
  4 requests in 3.01s, 452.00B read
  Socket errors: connect 0, read 0, write 0, timeout 4
Requests/sec:      1.33
Transfer/sec:     149.98B
`
	wrkLikes = `Running 2s test @ http://127.0.0.1:18099/api/posts/1/likes/2
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   191.27us  488.02us   9.81ms   95.27%
    Req/Sec    19.73k   636.99    21.29k    71.43%
  Latency Distribution
     50%   86.00us
     75%  119.00us
     90%  378.00us
     99%    2.58ms
  82425 requests in 2.10s, 5.66MB read
Requests/sec:  39256.15
Transfer/sec:      2.69MB
Like PUTs: 41228 sent, 41082 answered 201
`
)

func TestParseWrk(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		out  string
		want wrkResult
	}{
		{"milliseconds, no non-2xx line", wrkMillis, wrkResult{requests: 10821, perSecond: 3600.35,
			p50: 3890 * time.Microsecond, p99: 16120 * time.Microsecond}},
		{"microseconds and milliseconds, non-2xx", wrkNon2xx, wrkResult{requests: 56826, perSecond: 18873.40,
			p50: 677 * time.Microsecond, p99: 7450 * time.Microsecond, non2xx: 56826}},
		{"microseconds", wrkMicros, wrkResult{requests: 18439, perSecond: 9208.72,
			p50: 89 * time.Microsecond, p99: 1830 * time.Microsecond}},
		{"seconds, non-2xx", wrkSeconds, wrkResult{requests: 6, perSecond: 1.50,
			p50: 1140 * time.Millisecond, p99: 1140 * time.Millisecond, non2xx: 6}},
		{"socket errors", wrkTimeouts, wrkResult{requests: 4, perSecond: 1.33, socketErrors: 4}},
		{"like script", wrkLikes, wrkResult{requests: 82425, perSecond: 39256.15, p50: 86 * time.Microsecond,
			p99: 2580 * time.Microsecond, likePUTs: 41228, likesMade: 41082}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseWrk(tt.out)
			if err != nil {
				t.Fatalf("parseWrk: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(wrkResult{})); diff != "" {
				t.Errorf("parseWrk (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseWrkErrors(t *testing.T) {
	t.Parallel()
	// Without --latency there is no distribution to read.
	var noLatency strings.Builder
	inDistribution := false
	for line := range strings.Lines(wrkMillis) {
		switch {
		case strings.TrimSpace(line) == "Latency Distribution":
			inDistribution = true
			continue
		case inDistribution && strings.Contains(line, "%"):
			continue
		}
		noLatency.WriteString(line)
	}
	tests := map[string]string{
		"empty":         "",
		"no --latency":  noLatency.String(),
		"bad latency":   strings.Replace(wrkMillis, "3.89ms", "3.89xs", 1),
		"bad non-2xx":   strings.Replace(wrkNon2xx, "responses: 56826", "responses: many", 1),
		"no throughput": strings.Replace(wrkMillis, "Requests/sec", "Requests/min", 1),
		"bad like line": strings.Replace(wrkLikes, "41082 answered", "many answered", 1),
	}
	for name, out := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got, err := parseWrk(out); err == nil {
				t.Errorf("parseWrk = %+v, want an error", got)
			}
		})
	}
}

func TestTable(t *testing.T) {
	t.Parallel()
	r := &report{rows: []row{
		{name: "floor", res: wrkResult{perSecond: 10000, p50: 1500 * time.Microsecond, p99: 4 * time.Millisecond}},
		{name: "GET user", res: wrkResult{perSecond: 2500.4, p50: 6 * time.Millisecond, p99: 1200 * time.Millisecond, non2xx: 3}},
	}}
	want := `| scenario | req/s |     p50 |        p99 | errors | ratio to floor |
| -------- | ----: | ------: | ---------: | -----: | -------------: |
| floor    | 10000 | 1.50 ms |    4.00 ms |      0 |           1.00 |
| GET user |  2500 | 6.00 ms | 1200.00 ms |      3 |           0.25 |
`
	if diff := cmp.Diff(want, r.table()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}

func TestPage10Ratios(t *testing.T) {
	t.Parallel()
	r := &report{rows: []row{
		{name: "floor", res: wrkResult{perSecond: 10000}},
		{name: usersPage10, res: wrkResult{perSecond: 3000}},
		{name: "GET search users", res: wrkResult{perSecond: 2400}, compared: true},
		{name: "GET feed", res: wrkResult{perSecond: 2000}},
		{name: "GET tag page", res: wrkResult{perSecond: 1200}, compared: true},
	}}
	want := "req/s as a fraction of GET users page of 10's: GET search users 0.80, GET tag page 0.40 (within 2x: at least 0.50)"
	if got := r.page10Ratios(); got != want {
		t.Errorf("page10Ratios = %q, want %q", got, want)
	}
	r.rows = r.rows[:2]
	if got := r.page10Ratios(); got != "" {
		t.Errorf("page10Ratios without pages compared = %q, want none", got)
	}
}

func TestHotRatios(t *testing.T) {
	t.Parallel()
	r := &report{rows: []row{
		{name: getPost, res: wrkResult{perSecond: 3000}},
		{name: getPost + " (hot)", res: wrkResult{perSecond: 2400}, ordinary: getPost},
		{name: getLikers, res: wrkResult{perSecond: 2000}},
		{name: getLikers + " (hot)", res: wrkResult{perSecond: 1000}, ordinary: getLikers},
		{name: getUser + " (hot author)", res: wrkResult{perSecond: 1000}, ordinary: getUser},
	}}
	want := "req/s of the hot post's and its author's scenarios as a fraction of the ordinary ones': " +
		"GET post (hot) 0.80, GET post's likers (hot) 0.50 (within 1.5x: at least 0.67)"
	if got := r.hotRatios(); got != want {
		t.Errorf("hotRatios = %q, want %q", got, want)
	}
	r.rows = r.rows[4:]
	if got := r.hotRatios(); got != "" {
		t.Errorf("hotRatios without the ordinary scenario = %q, want none", got)
	}
}

// TestTermsFor counts the seeded usernames, seed1 to seedN, that the
// search users scenario finds: the fragment is one of them, and from 129
// users on it begins ten others and is inside no other.
func TestTermsFor(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		users int
		want  string
	}{{3, "seed1"}, {128, "seed1"}, {129, "seed12"}, {999, "seed12"}, {1000, "seed12"}, {2000, "seed123"},
		{100000, "seed1234"}, {1000000, "seed12345"}} {
		q := termsFor(tt.users).user
		var exact, prefix, others int
		for i := 1; i <= tt.users; i++ {
			name := "seed" + strconv.Itoa(i)
			switch {
			case name == q:
				exact++
			case strings.HasPrefix(name, q):
				prefix++
			case strings.Contains(name, q):
				others++
			}
		}
		if q != tt.want || exact != 1 || (tt.users >= 129 && prefix != 10) || others != 0 {
			t.Errorf("%d users: %q is %d names, begins %d and is inside %d, want %q", tt.users, q, exact, prefix, others, tt.want)
		}
	}
}
