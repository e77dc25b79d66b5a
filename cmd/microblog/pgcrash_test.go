package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"microblog/persistence/pglocal"
)

// TestDatabaseCrash crashes PostgreSQL (SIGQUIT to the postmaster, what
// pg_ctl -m immediate sends) under the write load of TestKillUnderWriteLoad
// with a live stream of notifications open, and starts it again on the
// same data dir and port, where it recovers from its WAL. No acknowledged
// write is lost; while it is away every answer is a 2xx or a 503 with
// Retry-After, and /readyz fails; the server serves again without a
// restart; the stream, or a client resuming it with Last-Event-ID, gets
// every notification, those of the acts just after the database came back
// included; and the job queue works again: a reset mail requested then is
// written.
func TestDatabaseCrash(t *testing.T) {
	pgOpts := pglocal.Options{DataDir: filepath.Join(t.TempDir(), "pg"), Port: freeTCPPort(t), Fsync: true}
	db, err := pglocal.Start(t.Context(), pgOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Stop() }) // db is the restarted server by then
	dbURL := db.URL("postgres")
	dataDir := t.TempDir()
	api, stopRun := startRun(t, append([]string{"--addr", "127.0.0.1:0", "--data-dir", dataDir,
		"--register-per-address", "1000000"}, cheapArgon2...), map[string]string{"DATABASE_URL": dbURL})
	defer stopRun()
	origin := strings.TrimSuffix(api, "/api")
	poster, liker := registerAndLogIn(t, api, "poster"), registerAndLogIn(t, api, "liker")
	events := followStream(t, api, poster.token)
	ready := watchReadyz(origin)
	load := startWriteLoad(api, poster, liker)
	time.Sleep(500 * time.Millisecond)

	var o outage
	o.stopCalled = time.Now()
	crashPostgres(t, pgOpts.DataDir)
	o.stopped = time.Now()
	t.Logf("PostgreSQL crashed, gone %s after SIGQUIT", o.stopped.Sub(o.stopCalled).Round(time.Millisecond))
	time.Sleep(1500 * time.Millisecond)
	db, err = o.restart(t, pgOpts)
	if err != nil {
		load.stop()
		t.Fatalf("starting PostgreSQL again: %v", err)
	}
	time.Sleep(outageBound + 500*time.Millisecond)
	load.stop()
	post(t, api+"/password-reset", `{"email": "poster@example.com"}`, http.StatusAccepted)
	ready.stop()

	conn := openDB(t, db.URL("postgres"))
	missing := load.checkDurable(t, conn)
	t.Logf("writes acknowledged: %d, missing after the crash: %d; answers: %s", load.acknowledged(), missing, load.summary())
	checkOutageAnswers(t, load)
	t.Logf("the load served again %s after PostgreSQL was back", load.firstAfter(o.restarted).Sub(o.restarted).Round(time.Millisecond))
	ready.check(t, o)
	want := notificationsOf(t, conn, "poster")
	got := events.waitFor(want, 10*time.Second)
	t.Logf("the stream got %d notifications, the database holds %d; the client reconnected %d times",
		len(got), len(want), events.reconnects())
	if !slices.Equal(got, want) {
		t.Errorf("the stream's notifications differ from the database's:\ngot  %v\nwant %v", got, want)
	}
	waitOutboxMail(t, filepath.Join(dataDir, "outbox"))
}

// crashPostgres sends SIGQUIT to the postmaster of dataDir, as pg_ctl
// stop -m immediate does, and waits for it to exit.
func crashPostgres(t *testing.T, dataDir string) {
	t.Helper()
	pidFile, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(pidFile), "\n")
	pid, err := strconv.Atoi(line)
	if err != nil {
		t.Fatalf("postmaster.pid: %q", line)
	}
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	if !poll(10*time.Second, func() bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }) {
		t.Fatal("the postmaster has not exited 10 s after SIGQUIT")
	}
}

// checkOutageAnswers checks that the load got nothing but a 2xx, or a 503
// with Retry-After.
func checkOutageAnswers(t *testing.T, load *writeLoad) {
	t.Helper()
	load.mu.Lock()
	defer load.mu.Unlock()
	for answer, n := range load.answers {
		_, status, _ := strings.Cut(answer, " ")
		if !strings.HasPrefix(status, "2") && status != "503" {
			t.Errorf("%d answers %q", n, answer)
		}
	}
}

// firstAfter returns when the load first got a 2xx after at.
func (l *writeLoad) firstAfter(at time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, _ := slices.BinarySearchFunc(l.oks, at, time.Time.Compare)
	if i == len(l.oks) {
		return time.Time{}
	}
	return l.oks[i]
}

// readyzWatch polls /readyz and records what it said when.
type readyzWatch struct {
	stopped chan struct{}
	done    chan struct{}
	seen    []readyzAnswer
}

// readyzAnswer is one GET of /readyz: when it was sent (at) and answered.
type readyzAnswer struct {
	at, end time.Time
	status  int
	body    string
}

func watchReadyz(origin string) *readyzWatch {
	w := &readyzWatch{stopped: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 5 * time.Second}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stopped:
				return
			case <-time.After(50 * time.Millisecond):
			}
			a := readyzAnswer{at: time.Now()}
			if res, err := client.Get(origin + "/readyz"); err == nil {
				var h struct {
					Status string
					Checks map[string][]struct{ Status string }
				}
				_ = json.NewDecoder(res.Body).Decode(&h)
				res.Body.Close()
				a.status, a.body = res.StatusCode, h.Status
				for _, name := range []string{"postgresql:connections", "notifications:listener"} {
					if c := h.Checks[name]; len(c) > 0 {
						a.body += fmt.Sprintf(" %s %s", name, c[0].Status)
					}
				}
			}
			a.end = time.Now()
			w.seen = append(w.seen, a)
		}
	}()
	return w
}

func (w *readyzWatch) stop() {
	close(w.stopped)
	<-w.done
}

// check checks that /readyz said 200 to each GET answered before the
// outage (one in flight as it began may say 503), 503 to each sent while
// the database was away, and 200 to each sent from outageBound after its
// return; and logs when what it said changed.
func (w *readyzWatch) check(t *testing.T, o outage) {
	t.Helper()
	var changes []string
	for i, a := range w.seen {
		if i == 0 || a.status != w.seen[i-1].status || a.body != w.seen[i-1].body {
			changes = append(changes, fmt.Sprintf("%+dms %d %s", a.at.Sub(o.stopCalled).Milliseconds(), a.status, a.body))
		}
		switch {
		case a.at.After(o.stopped) && a.at.Before(o.restartCalled) && a.status != http.StatusServiceUnavailable:
			t.Errorf("/readyz said %d %q with the database down", a.status, a.body)
		case a.at.After(o.restarted.Add(outageBound)) && a.status != http.StatusOK:
			t.Errorf("/readyz said %d %q %s after the database was back", a.status, a.body, a.at.Sub(o.restarted))
		case a.end.Before(o.stopCalled) && a.status != http.StatusOK:
			t.Errorf("/readyz said %d %q before the outage", a.status, a.body)
		}
	}
	t.Logf("/readyz, from the crash: %s", strings.Join(changes, "; "))
}

// eventSource follows a live stream of notifications as a browser's
// EventSource does: when the stream ends or cannot be opened, it opens it
// again with Last-Event-ID after a short wait.
type eventSource struct {
	mu      sync.Mutex
	got     []int64      // from the streams that ended
	cur     *eventReader // the stream open, if any
	opens   int
	stopped chan struct{}
	done    chan struct{}
}

func followStream(t *testing.T, api, token string) *eventSource {
	t.Helper()
	es := &eventSource{stopped: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(es.done)
		for {
			es.follow(api, token)
			select {
			case <-es.stopped:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	// The stream tells what commits after it opened: the load may start
	// once it has.
	opened := poll(10*time.Second, func() bool {
		es.mu.Lock()
		defer es.mu.Unlock()
		return es.cur != nil
	})
	if !opened {
		t.Fatal("the stream of notifications did not open in 10 s")
	}
	return es
}

// follow reads the stream once, from after the last id it got, until it
// ends or the source is stopped.
func (es *eventSource) follow(api, token string) {
	req, _ := http.NewRequest(http.MethodGet, api+"/notifications", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	if got := es.all(); len(got) > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(got[len(got)-1], 10))
	}
	es.mu.Lock()
	es.opens++
	es.mu.Unlock()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		return
	}
	r := readEvents(res)
	es.mu.Lock()
	es.cur = r
	es.mu.Unlock()
	select {
	case <-r.done:
	case <-es.stopped:
		res.Body.Close()
		<-r.done
	}
	es.mu.Lock()
	defer es.mu.Unlock()
	es.got, es.cur = append(es.got, r.ids()...), nil
}

// all returns the ids the source got.
func (es *eventSource) all() []int64 {
	es.mu.Lock()
	defer es.mu.Unlock()
	got := slices.Clone(es.got)
	if es.cur != nil {
		got = append(got, es.cur.ids()...)
	}
	return got
}

// reconnects is how many times the source opened the stream after the
// first.
func (es *eventSource) reconnects() int {
	es.mu.Lock()
	defer es.mu.Unlock()
	return es.opens - 1
}

// waitFor waits up to timeout for the source to have got want, stops it,
// and returns what it got.
func (es *eventSource) waitFor(want []int64, timeout time.Duration) []int64 {
	poll(timeout, func() bool { return len(es.all()) >= len(want) })
	close(es.stopped)
	<-es.done
	return es.all()
}

// waitOutboxMail waits up to 10 s for a mail in the outbox dir.
func waitOutboxMail(t *testing.T, dir string) {
	t.Helper()
	start := time.Now()
	if !poll(10*time.Second, func() bool {
		files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
		return len(files) > 0
	}) {
		t.Fatal("no mail in the outbox 10 s after the reset was requested: the queue did not come back")
	}
	t.Logf("the reset mail requested after the outage was written %s later", time.Since(start).Round(time.Millisecond))
}
