package resources_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"microblog/resources"
)

var hashesTotal = regexp.MustCompile(`(?m)^microblog_argon2_hashes_total (\d+)$`)

// hashesDone reads from /metrics how many password hashes the server has
// computed.
func (s *testServer) hashesDone(t *testing.T) int {
	t.Helper()
	res := s.do(t, request{method: http.MethodGet, path: "/metrics"})
	m := hashesTotal.FindSubmatch(res.body)
	if m == nil {
		t.Fatalf("/metrics has no microblog_argon2_hashes_total: %s", res.body)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// registerFrom sends n registrations at once from addr, of the names that
// name gives, and counts their statuses.
func (s *testServer) registerFrom(t *testing.T, addr string, n int, name func(i int) string) map[int]int {
	t.Helper()
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			statuses <- s.do(t, request{method: http.MethodPost, path: "/api/users", remoteAddr: addr,
				body: fmt.Sprintf(`{"username": %q, "email": "%s@example.com", "password": "a-fine-password"}`, name(i), name(i))}).code
		})
	}
	wg.Wait()
	close(statuses)
	codes := map[int]int{}
	for code := range statuses {
		codes[code]++
	}
	return codes
}

// TestRegistrationFlood: re-registering a taken name costs no hashing at
// all, and registrations from one address are limited before any hashing.
func TestRegistrationFlood(t *testing.T) {
	t.Parallel()
	t.Run("a taken name", func(t *testing.T) {
		t.Parallel()
		srv := newTestServer(t)
		srv.register(t, "taken", "a-fine-password")
		before := srv.hashesDone(t)
		codes := srv.registerFrom(t, "192.0.2.48", 48, func(int) string { return "taken" })
		hashes := srv.hashesDone(t) - before
		t.Logf("48 concurrent registrations of a taken name: %v, %d hashes", codes, hashes)
		if codes[http.StatusBadRequest] != 48 || hashes != 0 {
			t.Errorf("48 registrations of a taken name: %v and %d hashes, want 48 refused and none", codes, hashes)
		}
	})
	t.Run("new names, the default limit", func(t *testing.T) {
		t.Parallel()
		srv := newTestServer(t, func(c *resources.Config) { c.RegisterPerAddress = resources.RateLimit{} })
		before := srv.hashesDone(t)
		codes := srv.registerFrom(t, "192.0.2.48", 48, func(i int) string { return fmt.Sprintf("new%d", i) })
		hashes := srv.hashesDone(t) - before
		t.Logf("48 concurrent registrations of new names: %v, %d hashes", codes, hashes)
		// The burst is 20; one more may have refilled (one a second) if
		// the machine is slow.
		created := codes[http.StatusCreated]
		if created < 20 || created > 21 || codes[http.StatusTooManyRequests] != 48-created || hashes != created {
			t.Errorf("48 registrations from one address: %v and %d hashes, want 20 created, 28 refused, 20 hashes", codes, hashes)
		}
		// Another address has its own budget.
		if codes := srv.registerFrom(t, "198.51.100.48", 1, func(int) string { return "elsewhere" }); codes[http.StatusCreated] != 1 {
			t.Errorf("a registration from another address: %v", codes)
		}
	})
}

// TestRegistrationRateLimit: past its budget an address gets 429 with
// Retry-After and the RateLimit headers, the refused registration stores
// nothing, and refused or not, every registration counts.
func TestRegistrationRateLimit(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(c *resources.Config) {
		c.RegisterPerAddress = resources.RateLimit{Events: 2, Period: time.Hour, Burst: 2}
	})
	register := func(name string) response {
		return srv.do(t, request{method: http.MethodPost, path: "/api/users", remoteAddr: "192.0.2.5",
			body: fmt.Sprintf(`{"username": %q, "email": "%s@example.com", "password": "a-fine-password"}`, name, name)})
	}
	if res := register("susan"); res.code != http.StatusCreated || res.header.Get("RateLimit-Remaining") != "1" {
		t.Errorf("first registration: %s %v", res, res.header)
	}
	if res := register("susan"); res.code != http.StatusBadRequest {
		t.Errorf("the name again: %s", res)
	}
	res := register("bob")
	if res.code != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" || res.header.Get("RateLimit-Limit") != "2" {
		t.Errorf("third registration: %s %v", res, res.header)
	}
	if res := srv.do(t, request{method: http.MethodPost, path: "/api/tokens", remoteAddr: "192.0.2.6",
		header: map[string]string{"Authorization": basic("bob", "a-fine-password")}}); res.code != http.StatusUnauthorized {
		t.Errorf("login of the refused registration: %s", res)
	}
}

// strictLogins gives each username 3 attempts from one address.
func strictLogins(c *resources.Config) {
	c.LoginPerUser = resources.RateLimit{Events: 3, Period: time.Hour, Burst: 3}
}

// TestOldPasswordChecksAreLoginAttempts: a password change checks the old
// password as a login does, from the same budget.
func TestOldPasswordChecksAreLoginAttempts(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, strictLogins)
	id, token := srv.user(t, "susan") // its login spent one attempt
	change := func(old string) response {
		return srv.do(t, request{method: http.MethodPatch, path: userPathOf(id), token: token,
			body: fmt.Sprintf(`{"password": "a-new-password", "old_password": %q}`, old)})
	}
	for i := range 2 {
		if res := change(fmt.Sprintf("guess-%d", i)); res.code != http.StatusBadRequest || !namesField(res.json(t), "old_password") {
			t.Errorf("guess %d: %s", i, res)
		}
	}
	res := change("pw-of-susan")
	if res.code != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" {
		t.Errorf("a fourth attempt at susan's password: %s", res)
	}
	login := srv.do(t, request{method: http.MethodPost, path: "/api/tokens",
		header: map[string]string{"Authorization": basic("susan", "pw-of-susan")}})
	if login.code != http.StatusTooManyRequests {
		t.Errorf("a login from the same address after three attempts: %s", login)
	}
	srv.mu.Lock()
	srv.secrets = append(srv.secrets, "a-new-password")
	srv.mu.Unlock()
	// The guesses spent nothing of another address's budget.
	login = srv.do(t, request{method: http.MethodPost, path: "/api/tokens", remoteAddr: "198.51.100.3",
		header: map[string]string{"Authorization": basic("susan", "pw-of-susan")}})
	if login.code != http.StatusOK {
		t.Errorf("a login from elsewhere: %s", login)
	}
}

// TestEmailChangesAreLimited: trying emails on one's own user tells which
// are taken, so it is limited as logins are.
func TestEmailChangesAreLimited(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, strictLogins)
	id, token := srv.user(t, "susan") // its login spent one attempt
	for _, name := range []string{"bob", "carol"} {
		srv.register(t, name, "pw-of-"+name)
	}
	codes := map[int]int{}
	for _, email := range []string{"bob@example.com", "nobody@example.com", "carol@example.com", "dave@example.com"} {
		res := srv.do(t, request{method: http.MethodPatch, path: userPathOf(id), token: token,
			body: fmt.Sprintf(`{"email": %q}`, email)})
		codes[res.code]++
	}
	if codes[http.StatusBadRequest] != 1 || codes[http.StatusOK] != 1 || codes[http.StatusTooManyRequests] != 2 {
		t.Errorf("four email changes: %v, want one taken, one made, two refused", codes)
	}
	// A change that leaves the email is not limited.
	if res := srv.do(t, request{method: http.MethodPatch, path: userPathOf(id), token: token,
		body: `{"about_me": "still here"}`}); res.code != http.StatusOK {
		t.Errorf("a change of about_me: %s", res)
	}
}

// TestPasswordChangeRevokesOtherTokens: after a password change only the
// token that made it still works.
func TestPasswordChangeRevokesOtherTokens(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	id, token := srv.user(t, "susan")
	others := []string{srv.login(t, "susan", "pw-of-susan"), srv.login(t, "susan", "pw-of-susan")}
	_, bobs := srv.user(t, "bob")
	srv.mu.Lock()
	srv.secrets = append(srv.secrets, "a-new-password")
	srv.mu.Unlock()
	if res := srv.do(t, request{method: http.MethodPatch, path: userPathOf(id), token: token,
		body: `{"password": "a-new-password", "old_password": "pw-of-susan"}`}); res.code != http.StatusOK {
		t.Fatalf("change password: %s", res)
	}
	for _, tt := range []struct {
		name, token string
		want        int
	}{
		{"the token of the change", token, http.StatusOK},
		{"another token of susan", others[0], http.StatusUnauthorized},
		{"a third token of susan", others[1], http.StatusUnauthorized},
		{"bob's token", bobs, http.StatusOK},
	} {
		if res := srv.do(t, request{method: http.MethodGet, path: "/api/me", token: tt.token}); res.code != tt.want {
			t.Errorf("%s after the change: %d, want %d", tt.name, res.code, tt.want)
		}
	}
	// A change of anything else revokes nothing.
	fresh := srv.login(t, "susan", "a-new-password")
	if res := srv.do(t, request{method: http.MethodPatch, path: userPathOf(id), token: token,
		body: `{"about_me": "new"}`}); res.code != http.StatusOK {
		t.Fatalf("change about_me: %s", res)
	}
	if res := srv.do(t, request{method: http.MethodGet, path: "/api/me", token: fresh}); res.code != http.StatusOK {
		t.Errorf("another token after a change of about_me: %s", res)
	}
}
