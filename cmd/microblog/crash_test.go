package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"microblog/persistence/mail/mailtest"
)

// TestKillUnderWriteLoad kills the server (SIGKILL) under a write load,
// with a mail job running against an SMTP server that never answers, an
// export requested, and the deletion of an account of 20,000 posts in
// flight; then starts it again. Every acknowledged write is there; every
// job completes, each once, river's rescue taking up those the dead
// process held; the account is whole or gone.
func TestKillUnderWriteLoad(t *testing.T) {
	dbURL := throwawayPostgres(t)
	db := openDB(t, dbURL)
	smtpAddr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	stopHanging := hangingSMTP(t, smtpAddr)
	defer stopHanging()
	bin := buildBinary(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	args := append([]string{"--addr", addr, "--database-url", dbURL, "--smtp-url", "smtp://" + smtpAddr,
		"--job-timeout", "2s", "--register-per-address", "1000000", "--log-format", "json"}, cheapArgon2...)
	origin, api := "http://"+addr, "http://"+addr+"/api"
	p := startProcess(t, bin, args...)
	waitReadyz(t, origin, p.exited, p.stdout, p.stderr)

	poster, liker := registerAndLogIn(t, api, "poster"), registerAndLogIn(t, api, "liker")
	leaver := registerAndLogIn(t, api, "leaver")
	// Written past the triggers, which would take a minute for these rows,
	// with the count they keep.
	sqlExec(t, db, `SET session_replication_role = replica;
		INSERT INTO posts (author_id, body, created_at, updated_at)
		SELECT `+strconv.FormatInt(leaver.id, 10)+`, 'post ' || g, now(), now() FROM generate_series(1, 20000) g;
		UPDATE users SET post_count = 20000 WHERE id = `+strconv.FormatInt(leaver.id, 10))
	load := startWriteLoad(api, poster, liker)
	time.Sleep(500 * time.Millisecond)
	post(t, api+"/password-reset", `{"email": "poster@example.com"}`, http.StatusAccepted)
	export := requestExport(t, api, poster)
	waitForJob(t, db, "password-reset", "running")
	deletion := deleteAccount(t, api, leaver)
	time.Sleep(300 * time.Millisecond)

	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	killedAt := time.Now()
	load.stop()
	acked := load.acknowledged()
	t.Logf("killed; jobs then: %s; the deletion got: %s", jobStates(t, db), <-deletion)

	stopHanging()
	l, err := net.Listen("tcp", smtpAddr)
	if err != nil {
		t.Fatal(err)
	}
	smtp := mailtest.StartOn(t, l, mailtest.Options{})
	p = startProcess(t, bin, args...)
	waitReadyz(t, origin, p.exited, p.stdout, p.stderr)
	missing := load.checkDurable(t, db)
	t.Logf("writes acknowledged before the kill: %d, missing after the restart: %d; answers: %s", acked, missing, load.summary())
	checkWholeOrGone(t, db, leaver.id)
	waitJobsDone(t, db, killedAt)
	checkMailsOnce(t, smtp)
	if state := exportState(t, api, poster, export); state != "done" {
		t.Errorf("the export is %q after the restart, want done", state)
	}
}

// writeLoad is the write load of the crash tests: registrations, posts of
// one user, likes of those posts by another, and messages between the
// two, from a worker each, with no retry. It records every write the API
// acknowledged (a 2xx), and counts the answers by kind and status.
type writeLoad struct {
	api        string
	poster     account
	liker      account
	client     *http.Client
	stopped    chan struct{}
	wg         sync.WaitGroup
	mu         sync.Mutex
	registered []string
	posts      []int64
	likes      []int64 // the posts liked
	messages   []int64
	answers    map[string]int
	oks        []time.Time // when each 2xx came, in order
}

func startWriteLoad(api string, poster, liker account) *writeLoad {
	l := &writeLoad{api: api, poster: poster, liker: liker, stopped: make(chan struct{}), answers: map[string]int{},
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}}
	for _, w := range []func(n int){l.register, l.post, l.like, l.message} {
		l.wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-l.stopped:
					return
				default:
				}
				w(n)
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	return l
}

// stop stops the load and waits for its workers.
func (l *writeLoad) stop() {
	close(l.stopped)
	l.wg.Wait()
}

// send sends a request of kind and returns the Location of a 2xx ("" for
// none) and whether it was one.
func (l *writeLoad) send(kind, method, path, token, body string) (string, bool) {
	req, _ := http.NewRequest(method, l.api+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := l.client.Do(req)
	answer := kind + " "
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		answer += "refused"
	case err != nil:
		answer += "error"
	default:
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		answer += strconv.Itoa(res.StatusCode)
		if res.StatusCode == http.StatusServiceUnavailable && res.Header.Get("Retry-After") == "" {
			answer += " without Retry-After"
		}
	}
	ok := err == nil && res.StatusCode < 300
	l.mu.Lock()
	defer l.mu.Unlock()
	l.answers[answer]++
	if !ok {
		return "", false
	}
	l.oks = append(l.oks, time.Now())
	return res.Header.Get("Location"), true
}

func (l *writeLoad) register(n int) {
	name := fmt.Sprintf("load%d", n)
	body := fmt.Sprintf(`{"username": %q, "email": "%s@example.com", "password": "12345678"}`, name, name)
	if _, ok := l.send("register", http.MethodPost, "/users", "", body); ok {
		record(l, &l.registered, name)
	}
}

func (l *writeLoad) post(n int) {
	if loc, ok := l.send("post", http.MethodPost, "/posts", l.poster.token, fmt.Sprintf(`{"body": "post %d"}`, n)); ok {
		record(l, &l.posts, lastID(loc))
	}
}

// like likes the newest post of the load not liked yet.
func (l *writeLoad) like(int) {
	l.mu.Lock()
	var post int64
	if len(l.posts) > len(l.likes) {
		post = l.posts[len(l.likes)]
	}
	l.mu.Unlock()
	if post == 0 {
		return
	}
	path := fmt.Sprintf("/posts/%d/likes/%d", post, l.liker.id)
	if _, ok := l.send("like", http.MethodPut, path, l.liker.token, ""); ok {
		record(l, &l.likes, post)
	}
}

func (l *writeLoad) message(n int) {
	path := fmt.Sprintf("/users/%d/messages", l.poster.id)
	if loc, ok := l.send("message", http.MethodPost, path, l.liker.token, fmt.Sprintf(`{"body": "message %d"}`, n)); ok {
		record(l, &l.messages, lastID(loc))
	}
}

func record[T any](l *writeLoad, list *[]T, v T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	*list = append(*list, v)
}

// lastID is the number at the end of a Location.
func lastID(location string) int64 {
	n, _ := strconv.ParseInt(location[strings.LastIndexByte(location, '/')+1:], 10, 64)
	return n
}

// acknowledged is the number of writes the API acknowledged.
func (l *writeLoad) acknowledged() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.registered) + len(l.posts) + len(l.likes) + len(l.messages)
}

// summary is the answers the load got, by kind and status.
func (l *writeLoad) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var lines []string
	for answer, n := range l.answers {
		lines = append(lines, fmt.Sprintf("%s: %d", answer, n))
	}
	slices.Sort(lines)
	return strings.Join(lines, ", ")
}

// checkDurable checks that every acknowledged write is in the database of
// conn, and returns how many were missing.
func (l *writeLoad) checkDurable(t *testing.T, conn *pgx.Conn) int {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	checks := []struct {
		what  string
		query string
		arg   any
		n     int
	}{
		{"registrations", `SELECT count(*) FROM users WHERE username = ANY($1)`, l.registered, len(l.registered)},
		{"posts", `SELECT count(*) FROM posts WHERE id = ANY($1)`, l.posts, len(l.posts)},
		{"likes", `SELECT count(*) FROM likes WHERE post_id = ANY($1) AND user_id = ` + strconv.FormatInt(l.liker.id, 10),
			l.likes, len(l.likes)},
		{"messages", `SELECT count(*) FROM messages WHERE id = ANY($1)`, l.messages, len(l.messages)},
	}
	missing := 0
	for _, c := range checks {
		found := int(sqlInt(t, conn, c.query, c.arg))
		if found != c.n {
			t.Errorf("%s acknowledged: %d, in the database: %d", c.what, c.n, found)
		}
		missing += c.n - found
	}
	return missing
}

// hangingSMTP accepts connections on addr and never answers them: a mail
// job that reaches it runs until its timeout.
func hangingSMTP(t *testing.T, addr string) (stop func()) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return sync.OnceFunc(func() {
		l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
}

// openDB connects to the database at dbURL for a test's checks; the
// connection closes when the test ends.
func openDB(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// sqlExec runs query on conn.
func sqlExec(t *testing.T, conn *pgx.Conn, query string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(t.Context(), query, args...); err != nil {
		t.Fatal(err)
	}
}

// sqlInt reads one integer with query on conn.
func sqlInt(t *testing.T, conn *pgx.Conn, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := conn.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// authorized sends a request with a's token and returns the response and
// its body.
func authorized(t *testing.T, a account, method, url string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", "Bearer "+a.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return res, body
}

// requestExport asks for an export of a's posts and returns its URL.
func requestExport(t *testing.T, api string, a account) string {
	t.Helper()
	res, _ := authorized(t, a, http.MethodPost, fmt.Sprintf("%s/users/%d/exports", api, a.id))
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("requesting an export: %d", res.StatusCode)
	}
	return res.Header.Get("Location")
}

// exportState returns the state of the export at url, as a sees it.
func exportState(t *testing.T, api string, a account, url string) string {
	t.Helper()
	if strings.HasPrefix(url, "/") {
		url = strings.TrimSuffix(api, "/api") + url
	}
	res, body := authorized(t, a, http.MethodGet, url)
	var job struct{ State string }
	if err := json.Unmarshal(body, &job); err != nil {
		t.Fatalf("GET %s: %d, %v", url, res.StatusCode, err)
	}
	return job.State
}

// deleteAccount deletes a's account, with If-Match, in the background:
// the channel gets what came back.
func deleteAccount(t *testing.T, api string, a account) <-chan string {
	url := fmt.Sprintf("%s/users/%d", api, a.id)
	res, _ := authorized(t, a, http.MethodGet, url)
	etag := res.Header.Get("ETag")
	done := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodDelete, url, nil)
		req.Header.Set("Authorization", "Bearer "+a.token)
		req.Header.Set("If-Match", etag)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- "no answer (" + err.Error() + ")"
			return
		}
		res.Body.Close()
		done <- res.Status
	}()
	return done
}

// waitForJob waits up to 10 s for a job of kind in state.
func waitForJob(t *testing.T, conn *pgx.Conn, kind, state string) {
	t.Helper()
	if !poll(10*time.Second, func() bool {
		return sqlInt(t, conn, `SELECT count(*) FROM river_job WHERE kind = $1 AND state::text = $2`, kind, state) > 0
	}) {
		t.Fatalf("no %s job %s after 10 s: %s", kind, state, jobStates(t, conn))
	}
}

// jobStates is the queue's jobs: the kind, state and attempts of each.
func jobStates(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	rows, _ := conn.Query(t.Context(), `SELECT format('%s %s (attempt %s)', kind, state, attempt) FROM river_job ORDER BY id`)
	jobs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(jobs, ", ")
}

// waitJobsDone waits up to 90 s for every job of the queue to complete.
func waitJobsDone(t *testing.T, conn *pgx.Conn, killedAt time.Time) {
	t.Helper()
	if !poll(90*time.Second, func() bool {
		return sqlInt(t, conn, `SELECT count(*) FROM river_job WHERE state <> 'completed'`) == 0
	}) {
		t.Fatalf("jobs not completed 90 s after the kill: %s", jobStates(t, conn))
	}
	t.Logf("every job completed %s after the kill: %s", time.Since(killedAt).Round(time.Millisecond), jobStates(t, conn))
}

// poll calls done every 20 ms until it reports true, for at most timeout,
// and returns its last report.
func poll(timeout time.Duration, done func() bool) bool {
	for deadline := time.Now().Add(timeout); !done(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// checkMailsOnce checks that the reset mail and the export's mail each
// arrived once.
func checkMailsOnce(t *testing.T, smtp *mailtest.Server) {
	t.Helper()
	smtp.Wait(t, 2, 10*time.Second)
	time.Sleep(500 * time.Millisecond) // for a second copy to show
	bySubject := map[string]int{}
	for _, m := range smtp.Messages() {
		bySubject[m.Subject]++
	}
	t.Logf("mails received: %v", bySubject)
	for subject, n := range bySubject {
		if n != 1 {
			t.Errorf("%q arrived %d times", subject, n)
		}
	}
}

// checkWholeOrGone checks that user id is either whole, with every post
// it had and a count to match, or gone with all of them.
func checkWholeOrGone(t *testing.T, conn *pgx.Conn, id int64) {
	t.Helper()
	posts := sqlInt(t, conn, `SELECT count(*) FROM posts WHERE author_id = $1`, id)
	counted := sqlInt(t, conn, `SELECT coalesce((SELECT post_count FROM users WHERE id = $1), -1)`, id)
	switch {
	case counted == -1 && posts == 0:
		t.Logf("the account being deleted is gone, with its %d posts", 20000)
	case counted == posts && posts == 20000:
		t.Logf("the account being deleted is whole: %d posts", posts)
	default:
		t.Errorf("half an account: post_count %d (-1: no user), %d posts in the table", counted, posts)
	}
}
