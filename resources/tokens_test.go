package resources_test

import (
	"fmt"
	"net/http"
	"regexp"
	"testing"
	"time"

	"microblog/resources"
)

var tokenPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestLogin(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	srv.register(t, "susan", "cat-in-the-hat")

	res := srv.do(t, request{method: http.MethodPost, path: "/api/tokens",
		header: map[string]string{"Authorization": basic("SUSAN", "cat-in-the-hat")}})

	if res.code != http.StatusOK {
		t.Fatalf("login: %s", res)
	}
	if got := res.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	body := res.json(t)
	if token, _ := body["token"].(string); !tokenPattern.MatchString(token) {
		t.Errorf("token = %q, want 32 hex digits", token)
	}
	if got, want := body["expires_at"], epoch.Add(time.Hour).Format(time.RFC3339Nano); got != want {
		t.Errorf("expires_at = %v, want %v", got, want)
	}
	me := body["_links"].(map[string]any)["mb:me"].(map[string]any)["href"]
	if me != "/api/me" {
		t.Errorf("mb:me = %v", me)
	}
}

func TestLoginRefused(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	srv.register(t, "susan", "cat-in-the-hat")
	tests := []struct {
		name, authorization string
	}{
		{"no credentials", ""},
		{"wrong password", basic("susan", "dog-in-the-hat")},
		{"unknown user", basic("bob", "cat-in-the-hat")},
		{"empty username", basic("", "cat-in-the-hat")},
		{"bearer instead of basic", "Bearer 0123456789abcdef0123456789abcdef"},
		{"malformed basic", "Basic !!!"},
	}
	for _, tt := range tests {
		hdr := map[string]string{}
		if tt.authorization != "" {
			hdr["Authorization"] = tt.authorization
		}
		res := srv.do(t, request{method: http.MethodPost, path: "/api/tokens", header: hdr})
		if res.code != http.StatusUnauthorized || res.header.Get("WWW-Authenticate") != `Basic realm="microblog"` {
			t.Errorf("%s: %d WWW-Authenticate %q, want 401 Basic", tt.name, res.code, res.header.Get("WWW-Authenticate"))
		}
	}
}

func TestTokensAreIndependent(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	srv.register(t, "susan", "cat-in-the-hat")
	phone := srv.login(t, "susan", "cat-in-the-hat")
	laptop := srv.login(t, "susan", "cat-in-the-hat")
	if phone == laptop {
		t.Fatal("two logins gave the same token")
	}

	res := srv.do(t, request{method: http.MethodDelete, path: "/api/tokens", token: phone})

	if res.code != http.StatusNoContent || len(res.body) != 0 {
		t.Fatalf("revoke: %s", res)
	}
	if res := srv.do(t, request{method: http.MethodGet, path: "/api/me", token: laptop}); res.code != http.StatusOK {
		t.Errorf("the other token after revoking one: %s", res)
	}
	for _, req := range []request{
		{method: http.MethodGet, path: "/api/me", token: phone},
		{method: http.MethodDelete, path: "/api/tokens", token: phone},
	} {
		res := srv.do(t, req)
		if res.code != http.StatusUnauthorized ||
			res.header.Get("WWW-Authenticate") != `Bearer realm="microblog", error="invalid_token"` {
			t.Errorf("%s %s with a revoked token: %d %q", req.method, req.path, res.code, res.header.Get("WWW-Authenticate"))
		}
	}
}

func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	_, token := srv.user(t, "susan")

	srv.clock.Advance(time.Hour - time.Second)
	if res := srv.do(t, request{method: http.MethodGet, path: "/api/me", token: token}); res.code != http.StatusOK {
		t.Fatalf("a second before expiry: %s", res)
	}
	srv.clock.Advance(time.Second)
	res := srv.do(t, request{method: http.MethodGet, path: "/api/me", token: token})
	if res.code != http.StatusUnauthorized ||
		res.header.Get("WWW-Authenticate") != `Bearer realm="microblog", error="invalid_token"` {
		t.Errorf("at expiry: %d %q", res.code, res.header.Get("WWW-Authenticate"))
	}
}

func TestBearerChallenges(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	tests := []struct {
		name, authorization, challenge string
	}{
		{"none", "", `Bearer realm="microblog"`},
		{"basic", basic("susan", "cat-in-the-hat"), `Bearer realm="microblog"`},
		{"unknown token", "Bearer 0123456789abcdef0123456789abcdef", `Bearer realm="microblog", error="invalid_token"`},
		{"malformed token", "Bearer not-a-token", `Bearer realm="microblog", error="invalid_token"`},
		{"empty token", "Bearer ", `Bearer realm="microblog", error="invalid_token"`},
	}
	for _, tt := range tests {
		for _, path := range []string{"/api/me", "/api/users", "/api/users/1", "/api/users/1/followers"} {
			hdr := map[string]string{}
			if tt.authorization != "" {
				hdr["Authorization"] = tt.authorization
			}
			res := srv.do(t, request{method: http.MethodGet, path: path, header: hdr})
			if res.code != http.StatusUnauthorized || res.header.Get("WWW-Authenticate") != tt.challenge {
				t.Errorf("%s on %s: %d %q, want 401 %q", tt.name, path, res.code, res.header.Get("WWW-Authenticate"), tt.challenge)
			}
		}
	}
	res := srv.do(t, request{method: http.MethodDelete, path: "/api/tokens"})
	if res.code != http.StatusUnauthorized || res.header.Get("WWW-Authenticate") != `Bearer realm="microblog"` {
		t.Errorf("DELETE /api/tokens without a token: %d %q", res.code, res.header.Get("WWW-Authenticate"))
	}
}

func TestTokenIsStoredHashed(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	_, token := srv.user(t, "susan")
	var n int
	err := srv.pool.QueryRow(t.Context(),
		`SELECT count(*) FROM tokens WHERE hash = sha256(convert_to($1, 'UTF8'))`, token).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("tokens stored as the SHA-256 of the token issued: %d, want 1", n)
	}
	var clear int
	if err := srv.pool.QueryRow(t.Context(), `SELECT count(*) FROM tokens WHERE encode(hash, 'hex') = $1`, token).Scan(&clear); err != nil {
		t.Fatal(err)
	}
	if clear != 0 {
		t.Error("the token is stored in clear")
	}
}

func TestLastSeen(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	_, token := srv.user(t, "susan")
	lastSeen := func() any {
		return srv.do(t, request{method: http.MethodGet, path: "/api/me", token: token}).json(t)["last_seen"]
	}
	if got, want := lastSeen(), epoch.Format(time.RFC3339Nano); got != want {
		t.Errorf("last_seen after the first request = %v, want %v", got, want)
	}
	srv.clock.Advance(59 * time.Second)
	if got, want := lastSeen(), epoch.Format(time.RFC3339Nano); got != want {
		t.Errorf("last_seen 59s later = %v, want unchanged %v", got, want)
	}
	srv.clock.Advance(time.Second)
	if got, want := lastSeen(), epoch.Add(time.Minute).Format(time.RFC3339Nano); got != want {
		t.Errorf("last_seen a minute later = %v, want %v", got, want)
	}
}

// TestLoginRateLimits: a username from one address, a username from
// anywhere and an address each have a budget; a refused attempt spends
// nothing of the others, and the RateLimit headers name the limit that
// decided.
func TestLoginRateLimits(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(c *resources.Config) {
		c.LoginPerUser = resources.RateLimit{Events: 3, Period: time.Hour, Burst: 3}
		c.LoginPerAccount = resources.RateLimit{Events: 4, Period: time.Hour, Burst: 4}
		c.LoginPerAddress = resources.RateLimit{Events: 6, Period: time.Hour, Burst: 6}
	})
	srv.register(t, "susan", "cat-in-the-hat")
	login := func(username, addr string) response {
		return srv.do(t, request{method: http.MethodPost, path: "/api/tokens", remoteAddr: addr,
			header: map[string]string{"Authorization": basic(username, "cat-in-the-hat")}})
	}
	expect := func(what string, res response, code int, limit, remaining string) {
		t.Helper()
		h := res.header
		if res.code != code || h.Get("RateLimit-Limit") != limit || h.Get("RateLimit-Remaining") != remaining ||
			(code == http.StatusTooManyRequests) != (h.Get("Retry-After") != "") {
			t.Errorf("%s: %d RateLimit-Limit %q RateLimit-Remaining %q Retry-After %q, want %d %s %s",
				what, res.code, h.Get("RateLimit-Limit"), h.Get("RateLimit-Remaining"), h.Get("Retry-After"), code, limit, remaining)
		}
	}
	for i := range 3 {
		expect(fmt.Sprintf("login %d", i), login("susan", "192.0.2.1"), http.StatusOK, "3", fmt.Sprint(2-i))
	}
	// The username's budget at that address is spent, whatever the case.
	for _, name := range []string{"susan", "SUSAN"} {
		expect(name+" from the same address", login(name, "192.0.2.1"), http.StatusTooManyRequests, "3", "0")
	}
	// From another address the username has one attempt left of the four
	// it may have from anywhere.
	expect("from a second address", login("susan", "198.51.100.7"), http.StatusOK, "4", "0")
	expect("from a third address", login("susan", "203.0.113.9"), http.StatusTooManyRequests, "4", "0")
	// The refused attempts spent nothing of their addresses: the first
	// has the 3 of 6 its logins left, the third all 6.
	for i, left := range []struct{ limit, remaining string }{{"3", "2"}, {"6", "1"}, {"6", "0"}} {
		expect(fmt.Sprintf("other user %d from the first address", i), login(fmt.Sprintf("other%d", i), "192.0.2.1"),
			http.StatusUnauthorized, left.limit, left.remaining)
	}
	expect("the first address spent", login("other9", "192.0.2.1"), http.StatusTooManyRequests, "6", "0")
	expect("another user from the third address", login("bob", "203.0.113.9"), http.StatusUnauthorized, "3", "2")
}

// TestLoginLockout is the lockout an address could cause with the default
// limits: it spends its own budget with any names, then names lockme, and a
// stranger guesses lockme's password until refused. Neither keeps lockme
// from logging in from elsewhere, or from lockme's own address.
func TestLoginLockout(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(c *resources.Config) {
		c.LoginPerUser, c.LoginPerAccount, c.LoginPerAddress = resources.RateLimit{}, resources.RateLimit{}, resources.RateLimit{}
	})
	srv.register(t, "lockme", "the-right-password")
	login := func(username, password, addr string) response {
		return srv.do(t, request{method: http.MethodPost, path: "/api/tokens", remoteAddr: addr,
			header: map[string]string{"Authorization": basic(username, password)}})
	}
	codes := map[int]int{}
	for i := 0; ; i++ {
		code := login(fmt.Sprintf("anyone%d", i), "a-guess", "192.0.2.66").code
		codes[code]++
		if code != http.StatusUnauthorized || i > 100 {
			break
		}
	}
	for range 6 {
		codes[login("lockme", "a-guess", "192.0.2.66").code]++
	}
	t.Logf("from the spent address: %v", codes)
	if res := login("lockme", "the-right-password", "198.51.100.1"); res.code != http.StatusOK {
		t.Errorf("lockme from a fresh address after 6 refused attempts elsewhere: %s", res)
	}
	codes = map[int]int{}
	for range 6 {
		codes[login("lockme", "a-guess", "203.0.113.66").code]++
	}
	t.Logf("a stranger guessing lockme's password: %v", codes)
	if codes[http.StatusTooManyRequests] == 0 {
		t.Errorf("6 guesses at lockme's password from one address: %v, want the last refused", codes)
	}
	if res := login("lockme", "the-right-password", "198.51.100.2"); res.code != http.StatusOK {
		t.Errorf("lockme from their own address after a stranger's guesses: %s", res)
	}
}

// TestExpiryFollowsTheServerClock: expiry is set and checked by the
// server's clock alone, so a database clock far behind (or ahead) changes
// nothing. The test server's clock starts where the database's is not.
func TestExpiryFollowsTheServerClock(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	srv.clock.Advance(3 * 365 * 24 * time.Hour) // years ahead of the database
	_, token := srv.user(t, "susan")
	if res := srv.do(t, request{method: http.MethodGet, path: "/api/me", token: token}); res.code != http.StatusOK {
		t.Fatalf("a fresh token with the server's clock years ahead: %s", res)
	}
	srv.clock.Advance(time.Hour)
	if res := srv.do(t, request{method: http.MethodGet, path: "/api/me", token: token}); res.code != http.StatusUnauthorized {
		t.Errorf("a token an hour old by the server's clock, which the database's clock would call fresh: %s", res)
	}
}

// TestClientAddressBehindProxy logs in through a trusted proxy: only
// X-Forwarded-For names the client, with or without a port, and a client's
// X-Real-IP does not buy it a fresh login budget.
func TestClientAddressBehindProxy(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(c *resources.Config) {
		c.TrustedProxies = []string{"10.0.0.1"}
		c.LoginPerAddress = resources.RateLimit{Events: 2, Period: time.Hour, Burst: 2}
	})
	n := 0
	// Each attempt names another user and claims another X-Real-IP: only
	// the budget of the address X-Forwarded-For names may refuse it.
	login := func(forwardedFor string) int {
		n++
		header := map[string]string{"Authorization": basic(fmt.Sprintf("nobody%d", n), "a-password"),
			"X-Real-IP": fmt.Sprintf("198.51.100.%d", n)}
		if forwardedFor != "" {
			header["X-Forwarded-For"] = forwardedFor
		}
		return srv.do(t, request{method: http.MethodPost, path: "/api/tokens", remoteAddr: "10.0.0.1", header: header}).code
	}
	for _, client := range [][]string{
		{"203.0.113.9:4711", "203.0.113.9", "192.0.2.200, 203.0.113.9:80"},
		{"[2001:db8::7]:443", "2001:db8::7", "[2001:db8::7]:1"},
		{"", "", ""}, // no X-Forwarded-For: the client is the proxy
	} {
		got := []int{login(client[0]), login(client[1]), login(client[2])}
		if want := []int{401, 401, 429}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("X-Forwarded-For %q: %v, want %v (the third of one address refused)", client, got, want)
		}
	}
}
