package resources_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"microblog/persistence"
	"microblog/persistence/mail"
	"microblog/persistence/mail/mailtest"
	"microblog/resources"
)

// startJobs works the test server's jobs, sending mail to srv, until the
// test ends; it returns what the jobs logged. opts may change the settings.
func (s *testServer) startJobs(t *testing.T, srv *mailtest.Server, opts ...func(*persistence.JobSettings)) *bytes.Buffer {
	t.Helper()
	m, err := mail.NewSMTP(srv.URL(), "Microblog <microblog@example.com>")
	if err != nil {
		t.Fatal(err)
	}
	var log syncBuffer
	settings := persistence.JobSettings{Mailer: m, ResetTTL: time.Hour, Logger: slog.New(slog.NewTextHandler(&log, nil))}
	for _, o := range opts {
		o(&settings)
	}
	stop, err := s.store.StartJobs(context.Background(), settings)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := stop(ctx); err != nil {
			t.Error(err)
		}
	})
	return &log.buf
}

// syncBuffer is a buffer that jobs may log to while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

var resetTokenInMail = regexp.MustCompile(`(?m)^    ([0-9a-f]{64})$`)

// resetToken is the token of a reset mail.
func resetToken(t *testing.T, m mailtest.Message) string {
	t.Helper()
	match := resetTokenInMail.FindStringSubmatch(m.Body)
	if match == nil {
		t.Fatalf("no token in the mail:\n%s", m.Body)
	}
	return match[1]
}

// requestReset asks for a reset mail to email and wants 202.
func (s *testServer) requestReset(t *testing.T, email string) response {
	t.Helper()
	res := s.do(t, request{method: http.MethodPost, path: "/api/password-reset", body: `{"email": "` + email + `"}`})
	if res.code != http.StatusAccepted {
		t.Fatalf("request reset for %s: %s", email, res)
	}
	return res
}

// mailedResetToken asks for a reset mail to email and returns the token
// of the nth mail smtp receives, which it waits for.
func (s *testServer) mailedResetToken(t *testing.T, smtp *mailtest.Server, email string, nth int) string {
	t.Helper()
	s.requestReset(t, email)
	return resetToken(t, smtp.Wait(t, nth, 20*time.Second)[nth-1])
}

// jobsDone waits until no job of kind is left to work.
func (s *testServer) jobsDone(t *testing.T, kind string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var left int
		err := s.pool.QueryRow(context.Background(),
			`SELECT count(*) FROM river_job WHERE kind = $1 AND state NOT IN ('completed', 'discarded', 'cancelled')`, kind).Scan(&left)
		if err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %s jobs still to work after 20 s", left, kind)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPasswordResetByMail(t *testing.T) {
	s := newTestServer(t)
	smtp := mailtest.Start(t, mailtest.Options{})
	log := s.startJobs(t, smtp)
	s.register(t, "susan", "old-password")
	token := s.login(t, "susan", "old-password")

	root := s.do(t, request{method: http.MethodGet, path: "/api"}).json(t)
	href := root["_links"].(map[string]any)["mb:password-reset"].(map[string]any)["href"].(string)
	forms := s.do(t, request{method: http.MethodGet, path: href, header: map[string]string{"Accept": "application/prs.hal-forms+json"}})
	templates := forms.json(t)["_templates"].(map[string]any)
	if templates["request"] == nil || templates["reset"] == nil {
		t.Fatalf("templates of %s: %s", href, forms)
	}

	s.requestReset(t, "SUSAN@Example.com")
	s.requestReset(t, "nobody@example.com")
	s.jobsDone(t, "password-reset")
	metrics := s.do(t, request{method: http.MethodGet, path: "/metrics"})
	if !strings.Contains(string(metrics.body), `microblog_jobs{kind="password-reset",state="completed"} 2`) {
		t.Errorf("/metrics does not count the two jobs completed:\n%s", metrics.body)
	}
	mails := smtp.Messages()
	if len(mails) != 1 || mails[0].To[0] != "susan@example.com" {
		t.Fatalf("mails: %+v, want one, to susan@example.com as registered", mails)
	}
	reset := resetToken(t, mails[0])
	s.mu.Lock()
	s.secrets = append(s.secrets, reset, "new-password")
	s.mu.Unlock()

	res := s.do(t, request{method: http.MethodPost, path: "/api/password-reset",
		body: `{"token": "` + strings.ToUpper(reset) + `", "password": "new-password"}`})
	if res.code != http.StatusNoContent {
		t.Fatalf("reset: %s", res)
	}
	if res := s.do(t, request{method: http.MethodGet, path: "/api/me", token: token}); res.code != http.StatusUnauthorized {
		t.Errorf("a token from before the reset: %s, want 401", res)
	}
	if res := s.do(t, request{method: http.MethodPost, path: "/api/tokens", header: map[string]string{"Authorization": basic("susan", "old-password")}}); res.code != http.StatusUnauthorized {
		t.Errorf("the old password: %s, want 401", res)
	}
	s.login(t, "susan", "new-password")
	again := s.do(t, request{method: http.MethodPost, path: "/api/password-reset", body: `{"token": "` + reset + `", "password": "newer-password"}`})
	wantResetRefused(t, again, "the token used again")
	if strings.Contains(log.String(), reset) {
		t.Errorf("the jobs' log holds the reset token:\n%s", log)
	}
}

func wantResetRefused(t *testing.T, res response, what string) {
	t.Helper()
	if res.code != http.StatusBadRequest || !strings.HasSuffix(res.json(t)["type"].(string), "/api/problems/invalid-reset-token") {
		t.Errorf("%s: %s, want 400 of type invalid-reset-token", what, res)
	}
}

func TestPasswordResetTokenExpires(t *testing.T) {
	s := newTestServer(t)
	smtp := mailtest.Start(t, mailtest.Options{})
	s.startJobs(t, smtp)
	id := s.register(t, "susan", "old-password")
	first := s.mailedResetToken(t, smtp, "susan@example.com", 1)
	s.clock.Advance(time.Hour)
	res := s.do(t, request{method: http.MethodPost, path: "/api/password-reset", body: `{"token": "` + first + `", "password": "new-password"}`})
	wantResetRefused(t, res, "a token an hour old")

	// A change of password spends the reset tokens mailed before it.
	second := s.mailedResetToken(t, smtp, "susan@example.com", 2)
	token := s.login(t, "susan", "old-password")
	change := s.do(t, request{method: http.MethodPatch, path: userPathOf(id), token: token,
		body: `{"password": "changed-password", "old_password": "old-password"}`})
	if change.code != http.StatusOK {
		t.Fatalf("change password: %s", change)
	}
	res = s.do(t, request{method: http.MethodPost, path: "/api/password-reset", body: `{"token": "` + second + `", "password": "new-password"}`})
	wantResetRefused(t, res, "a token mailed before a change of password")
}

func TestPasswordResetBadInput(t *testing.T) {
	s := newTestServer(t)
	valid := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, body, field string
	}{
		{"nothing", `{}`, "email"},
		{"both", `{"email": "a@example.com", "token": "` + valid + `", "password": "long-enough"}`, "email"},
		{"not an address", `{"email": "susan"}`, "email"},
		{"email a number", `{"email": 5}`, "email"},
		{"token a number", `{"token": 5, "password": "long-enough"}`, "token"},
		{"no password", `{"token": "` + valid + `"}`, "password"},
		{"short password", `{"token": "` + valid + `", "password": "short"}`, "password"},
	} {
		res := s.do(t, request{method: http.MethodPost, path: "/api/password-reset", body: tc.body})
		if res.code != http.StatusBadRequest || !strings.Contains(string(res.body), `"name":"`+tc.field+`"`) {
			t.Errorf("%s: %s, want 400 naming %s", tc.name, res, tc.field)
		}
	}
	for _, token := range []string{"", "xyz", valid[:63], valid + "0", strings.Repeat("zz", 32), valid} {
		res := s.do(t, request{method: http.MethodPost, path: "/api/password-reset", body: `{"token": "` + token + `", "password": "long-enough"}`})
		wantResetRefused(t, res, "token "+token)
	}
	if res := s.do(t, request{method: http.MethodPost, path: "/api/password-reset", body: `[]`}); res.code != http.StatusBadRequest {
		t.Errorf("an array: %s", res)
	}
}

// A known and an unknown address get the same answer, from the same
// statements: the mail is the job's business.
func TestPasswordResetTellsNothing(t *testing.T) {
	s := newTestServer(t)
	s.register(t, "susan", "old-password")
	answer := func(email string) (response, int) {
		before := s.statements.n.Load()
		res := s.requestReset(t, email)
		return res, int(s.statements.n.Load() - before)
	}
	answer("warm@example.com") // pgx prepares its statements once per connection
	known, knownStatements := answer("susan@example.com")
	unknown, unknownStatements := answer("nobody@example.com")
	if !bytes.Equal(known.body, unknown.body) || knownStatements != unknownStatements {
		t.Errorf("known: %s in %d statements; unknown: %s in %d", known, knownStatements, unknown, unknownStatements)
	}
	for _, h := range []string{"Cache-Control", "Content-Type", "RateLimit-Remaining"} {
		if known.header.Get(h) != unknown.header.Get(h) {
			t.Errorf("%s: %q for a known address, %q for an unknown one", h, known.header.Get(h), unknown.header.Get(h))
		}
	}
}

func TestPasswordResetLimits(t *testing.T) {
	s := newTestServer(t, func(cfg *resources.Config) {
		cfg.ResetPerEmail = resources.RateLimit{Events: 2, Period: time.Hour, Burst: 2}
		cfg.ResetPerAddress = resources.RateLimit{Events: 3, Period: time.Hour, Burst: 3}
	})
	post := func(email, addr string) response {
		return s.do(t, request{method: http.MethodPost, path: "/api/password-reset", body: `{"email": "` + email + `"}`, remoteAddr: addr})
	}
	for _, addr := range []string{"192.0.2.1", "192.0.2.2"} {
		if res := post("susan@example.com", addr); res.code != http.StatusAccepted {
			t.Fatalf("from %s: %s", addr, res)
		}
	}
	res := post("SUSAN@example.com", "192.0.2.3")
	if res.code != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" {
		t.Errorf("a third request for one address: %s, want 429 with Retry-After", res)
	}
	for i, email := range []string{"a@example.com", "b@example.com"} {
		if res := post(email, "192.0.2.9"); res.code != http.StatusAccepted {
			t.Fatalf("request %d from one client: %s", i, res)
		}
	}
	if res := post("c@example.com", "192.0.2.9"); res.code != http.StatusAccepted {
		t.Fatalf("third request from one client: %s", res)
	}
	if res := post("d@example.com", "192.0.2.9"); res.code != http.StatusTooManyRequests {
		t.Errorf("a fourth request from one client: %s, want 429", res)
	}
}

// An SMTP server that refuses costs nothing: the request was answered,
// and the job tries again until the mail goes.
func TestPasswordResetMailRetried(t *testing.T) {
	s := newTestServer(t)
	smtp := mailtest.Start(t, mailtest.Options{})
	smtp.Refuse(true)
	s.startJobs(t, smtp)
	s.register(t, "susan", "old-password")
	s.requestReset(t, "susan@example.com")
	deadline := time.Now().Add(20 * time.Second)
	for {
		var errs int
		if err := s.pool.QueryRow(context.Background(), `SELECT coalesce(max(cardinality(errors)), 0) FROM river_job WHERE kind = 'password-reset'`).Scan(&errs); err != nil {
			t.Fatal(err)
		}
		if errs > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job did not try to send in 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var kept int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM password_resets`).Scan(&kept); err != nil || kept != 0 {
		t.Errorf("reset tokens kept after a failed send: %d (%v), want 0", kept, err)
	}
	smtp.Refuse(false)
	reset := resetToken(t, smtp.Wait(t, 1, 30*time.Second)[0])
	res := s.do(t, request{method: http.MethodPost, path: "/api/password-reset", body: `{"token": "` + reset + `", "password": "new-password"}`})
	if res.code != http.StatusNoContent {
		t.Errorf("the token of the retried mail: %s", res)
	}
}

// Of two uses of one token at once, one resets the password.
func TestPasswordResetOnce(t *testing.T) {
	s := newTestServer(t)
	smtp := mailtest.Start(t, mailtest.Options{})
	s.startJobs(t, smtp)
	s.register(t, "susan", "old-password")
	reset := s.mailedResetToken(t, smtp, "susan@example.com", 1)
	codes := make(chan int, 4)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			body := `{"token": "` + reset + `", "password": "new-password-` + string(rune('a'+i)) + `"}`
			codes <- s.do(t, request{method: http.MethodPost, path: "/api/password-reset", body: body}).code
		})
	}
	wg.Wait()
	close(codes)
	won := 0
	for c := range codes {
		if c == http.StatusNoContent {
			won++
		} else if c != http.StatusBadRequest {
			t.Errorf("a racing reset: %d", c)
		}
	}
	if won != 1 {
		t.Errorf("%d of 4 racing resets won, want 1", won)
	}
}

// A new password is held to registration's rules, the one that needs the
// username included; a refused one leaves the token good.
func TestPasswordResetNotTheUsername(t *testing.T) {
	s := newTestServer(t)
	smtp := mailtest.Start(t, mailtest.Options{})
	s.startJobs(t, smtp)
	s.register(t, "longname", "old-password")
	reset := s.mailedResetToken(t, smtp, "longname@example.com", 1)
	res := s.do(t, request{method: http.MethodPost, path: "/api/password-reset", body: `{"token": "` + reset + `", "password": "LongName"}`})
	if res.code != http.StatusBadRequest || !strings.Contains(string(res.body), `"name":"password"`) {
		t.Errorf("the username as the new password: %s, want 400 naming password", res)
	}
	res = s.do(t, request{method: http.MethodPost, path: "/api/password-reset", body: `{"token": "` + reset + `", "password": "new-password"}`})
	if res.code != http.StatusNoContent {
		t.Errorf("the token after a refused password: %s, want 204", res)
	}
}
