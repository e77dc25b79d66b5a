package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"microblog/persistence/pglocal"
	"microblog/persistence/pglocal/child"
)

// cheapArgon2 makes password hashing nearly free, so that a load measures
// the server and the database rather than argon2id.
var cheapArgon2 = []string{"--argon2-memory", "64", "--argon2-parallelism", "1"}

// outageBound is how long any request may take, and how long the API may
// take to serve again once the database is back.
const outageBound = 2 * time.Second

// attempt is one registration request of a load.
type attempt struct {
	username   string
	start, end time.Time
	status     int
	retryAfter string
	detail     string // the body of a 400
	err        error
}

func (a attempt) latency() time.Duration { return a.end.Sub(a.start) }

// overlaps reports whether a was in flight at some moment of [from, to].
func (a attempt) overlaps(from, to time.Time) bool {
	return !a.end.Before(from) && !a.start.After(to)
}

// postRegistration posts a registration of username and records what came back.
func postRegistration(client *http.Client, api, username string) attempt {
	a := attempt{username: username, start: time.Now()}
	body := fmt.Sprintf(`{"username": %q, "email": "%s@example.com", "password": "12345678"}`, username, username)
	res, err := client.Post(api+"/users", "application/json", strings.NewReader(body))
	if err != nil {
		a.end, a.err = time.Now(), err
		return a
	}
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
	res.Body.Close()
	a.end, a.status, a.retryAfter = time.Now(), res.StatusCode, res.Header.Get("Retry-After")
	if res.StatusCode == http.StatusBadRequest {
		a.detail = string(raw)
	}
	return a
}

// registrationLoad runs workers that register users with unique names until
// stop is closed. A worker tries a name again after a 503, as a client
// honouring Retry-After would (sooner, to see more of the outage), and
// moves to a new name after any other answer.
func registrationLoad(client *http.Client, api string, workers int, stop <-chan struct{}) func() []attempt {
	results := make([][]attempt, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for n := 0; ; n++ {
				name := fmt.Sprintf("w%dn%d", w, n)
				for {
					select {
					case <-stop:
						return
					default:
					}
					a := postRegistration(client, api, name)
					results[w] = append(results[w], a)
					if a.status != http.StatusServiceUnavailable {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	return func() []attempt {
		wg.Wait()
		return slices.Concat(results...)
	}
}

// probeStatus GETs path and returns the status and how long it took.
func probeStatus(t *testing.T, client *http.Client, url string) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	res, err := client.Get(url)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return 0, time.Since(start)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, time.Since(start)
}

// TestDatabaseOutage stops PostgreSQL under a write load and starts it again
// on the same data dir and port. While it is down every request must get a
// quick 503 with Retry-After; once it is back the API must serve again
// within outageBound without a restart; and no write answered with 201 may
// be lost.
func TestDatabaseOutage(t *testing.T) {
	pgOpts := pglocal.Options{DataDir: filepath.Join(t.TempDir(), "pg"), Port: freeTCPPort(t), Fsync: true}
	db, err := pglocal.Start(t.Context(), pgOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Stop() }) // db is the restarted server by then
	// The URL is the plain one an operator would write: recovery must not
	// depend on pool settings in it.
	dbURL := db.URL("postgres")
	// The load registers from one address, far more often than people do.
	api, stopRun := startRun(t, append([]string{"--addr", "127.0.0.1:0", "--register-per-address", "1000000"}, cheapArgon2...),
		map[string]string{"DATABASE_URL": dbURL})
	origin := strings.TrimSuffix(api, "/api")
	// The timeout only keeps a hung server from hanging the test; latency
	// is checked against outageBound below.
	client := &http.Client{Timeout: 10 * time.Second}

	stopLoad := make(chan struct{})
	wait := registrationLoad(client, api, 4, stopLoad)
	time.Sleep(500 * time.Millisecond)

	var o outage
	o.stop(t, db, client, origin)
	db, err = o.restart(t, pgOpts)
	if err != nil {
		close(stopLoad)
		wait()
		t.Fatalf("starting PostgreSQL again: %v", err)
	}
	// Run on past the bound, so that a failure after it shows.
	time.Sleep(outageBound + 500*time.Millisecond)
	close(stopLoad)
	attempts := wait()
	if code, _ := probeStatus(t, client, origin+"/readyz"); code != http.StatusOK {
		t.Errorf("GET /readyz after the database came back: %d, want 200", code)
	}

	tally := newOutageTally(len(attempts))
	for _, a := range attempts {
		tally.add(t, o, a)
	}
	recovery := tally.checkRecovery(t, o)
	tally.checkDurable(t, openDB(t, db.URL("postgres")))
	tally.report(t, o, recovery)

	if err := stopRun(); err != nil {
		t.Errorf("run returned %v", err)
	}
}

// outage is the timeline of a database outage: when the test called
// Stop, when Stop returned, and likewise for the Start that ended it.
type outage struct {
	stopCalled, stopped, restartCalled, restarted time.Time
}

// stop stops PostgreSQL and probes the health endpoints through the first
// two seconds of the outage.
func (o *outage) stop(t *testing.T, db *pglocal.Server, client *http.Client, origin string) {
	o.stopCalled = time.Now()
	if err := db.Stop(); err != nil {
		t.Errorf("stopping PostgreSQL: %v", err)
	}
	o.stopped = time.Now()
	t.Logf("PostgreSQL stopped in %s", o.stopped.Sub(o.stopCalled).Round(time.Millisecond))
	// Probe the health endpoints through the outage, about 2 s.
	for range 5 {
		time.Sleep(400 * time.Millisecond)
		if code, took := probeStatus(t, client, origin+"/readyz"); code != http.StatusServiceUnavailable || took > outageBound {
			t.Errorf("GET /readyz with the database down: %d in %s, want 503 within %s", code, took, outageBound)
		}
		if code, took := probeStatus(t, client, origin+"/healthz"); code != http.StatusOK || took > outageBound {
			t.Errorf("GET /healthz with the database down: %d in %s, want 200 within %s", code, took, outageBound)
		}
	}
}

// restart starts PostgreSQL again with opts: the same data dir and port.
func (o *outage) restart(t *testing.T, opts pglocal.Options) (*pglocal.Server, error) {
	o.restartCalled = time.Now()
	db, err := pglocal.Start(t.Context(), opts)
	if err != nil {
		return nil, err
	}
	o.restarted = time.Now()
	t.Logf("PostgreSQL started again in %s; down for %s in all", o.restarted.Sub(o.restartCalled).Round(time.Millisecond),
		o.restarted.Sub(o.stopCalled).Round(time.Millisecond))
	return db, nil
}

// outageTally is what the registrations of a load got through an outage.
type outageTally struct {
	attempts                  int
	byStatus                  map[int]int
	transportErrors           int
	maxOutageLatency          time.Duration
	firstSuccess, lastFailure time.Time
	acknowledged, conflicted  []string
	unanswered                map[string]bool // names whose last answer was a 503
	// lost and ambiguousCommitted are what checkDurable finds.
	lost, ambiguousCommitted int
}

func newOutageTally(attempts int) *outageTally {
	return &outageTally{attempts: attempts, byStatus: map[int]int{}, unanswered: map[string]bool{}}
}

// add counts a and checks it against the timeline of the outage.
func (tl *outageTally) add(t *testing.T, o outage, a attempt) {
	if a.err != nil {
		tl.transportErrors++
		t.Errorf("POST /api/users %s: %v after %s", a.username, a.err, a.latency())
		return
	}
	tl.byStatus[a.status]++
	if a.overlaps(o.stopCalled, o.restarted) {
		tl.maxOutageLatency = max(tl.maxOutageLatency, a.latency())
	}
	if a.latency() > outageBound {
		t.Errorf("POST /api/users %s: %d after %s, want at most %s", a.username, a.status, a.latency(), outageBound)
	}
	tl.addAnswer(t, o, a)
	if a.status == http.StatusCreated && a.start.After(o.stopped) && a.end.Before(o.restartCalled) {
		t.Errorf("POST /api/users %s: 201 while the database was down", a.username)
	}
}

// addAnswer checks that the status of a is one a registration may get at
// its moment of the outage, and remembers what became of its username.
func (tl *outageTally) addAnswer(t *testing.T, o outage, a attempt) {
	switch a.status {
	case http.StatusCreated:
		tl.acknowledged = append(tl.acknowledged, a.username)
		delete(tl.unanswered, a.username)
		if a.start.After(o.restarted) && tl.firstSuccess.IsZero() {
			tl.firstSuccess = a.end
		}
	case http.StatusServiceUnavailable:
		tl.unanswered[a.username] = true
		if a.retryAfter == "" {
			t.Errorf("POST /api/users %s: 503 without Retry-After", a.username)
		}
		if a.start.After(o.stopped) && a.end.Before(o.restartCalled) {
			break // the outage proper: 503 is the only right answer
		}
		if a.end.Before(o.stopCalled) {
			t.Errorf("POST /api/users %s: 503 before the database was stopped", a.username)
		}
		if a.start.After(o.restarted) {
			tl.lastFailure = a.end
		}
	case http.StatusBadRequest:
		// Only right when an earlier try of the same name was committed
		// but answered 503: checked in the database by checkDurable.
		if !strings.Contains(a.detail, "please use a different username") {
			t.Errorf("POST /api/users %s: 400 %s", a.username, a.detail)
		}
		tl.conflicted = append(tl.conflicted, a.username)
		delete(tl.unanswered, a.username)
	default:
		t.Errorf("POST /api/users %s: status %d", a.username, a.status)
	}
}

// checkRecovery checks that the API served again within outageBound of
// the restart, and returns how long it took.
func (tl *outageTally) checkRecovery(t *testing.T, o outage) time.Duration {
	if tl.byStatus[http.StatusCreated] == 0 {
		t.Fatal("no registration succeeded")
	}
	if tl.firstSuccess.IsZero() {
		t.Errorf("no registration succeeded after the database came back")
	}
	recovery := tl.firstSuccess.Sub(o.restarted)
	if recovery > outageBound || tl.lastFailure.Sub(o.restarted) > outageBound {
		t.Errorf("the API served again %s after the database was back (last 503 at +%s), want within %s",
			recovery, tl.lastFailure.Sub(o.restarted), outageBound)
	}
	return recovery
}

// checkDurable checks, in the database of conn, that every registration
// answered 201, or 400 for a name taken by an earlier try, is there, and
// counts the names last answered 503 that were committed anyway.
func (tl *outageTally) checkDurable(t *testing.T, conn *pgx.Conn) {
	existing := map[string]bool{}
	rows, _ := conn.Query(t.Context(), `SELECT username FROM users`)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		existing[n] = true
	}
	for _, n := range tl.acknowledged {
		if !existing[n] {
			tl.lost++
			t.Errorf("user %s was answered 201 but is not in the database", n)
		}
	}
	for _, n := range tl.conflicted {
		if !existing[n] {
			t.Errorf("user %s was answered 400 (username taken) but is not in the database", n)
		}
	}
	for n := range tl.unanswered {
		if existing[n] {
			tl.ambiguousCommitted++
		}
	}
}

// report logs the counts, the latency during the outage and the time to
// recover.
func (tl *outageTally) report(t *testing.T, o outage, recovery time.Duration) {
	created, unavailable, bad := tl.byStatus[http.StatusCreated], tl.byStatus[http.StatusServiceUnavailable],
		tl.byStatus[http.StatusBadRequest]
	t.Logf("requests %d: 201 %d, 503 %d, 400 (retry of a committed 503) %d, other %d, transport errors %d",
		tl.attempts, created, unavailable, bad, tl.attempts-tl.transportErrors-created-unavailable-bad, tl.transportErrors)
	t.Logf("max latency of a request in flight during the outage: %s", tl.maxOutageLatency.Round(time.Microsecond))
	t.Logf("time to recover: first 201 %s after pglocal.Start returned; last 503 after it: %s",
		recovery.Round(time.Microsecond), durationSince(tl.lastFailure, o.restarted))
	t.Logf("acknowledged writes %d, lost %d; names last answered 503 that were committed anyway: %d of %d",
		len(tl.acknowledged), tl.lost, tl.ambiguousCommitted, len(tl.unanswered))
}

// durationSince formats t-from, or "none" when t is zero.
func durationSince(t, from time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return "+" + t.Sub(from).Round(time.Microsecond).String()
}

// freeTCPPort returns a 127.0.0.1 port that was free a moment ago.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	port, err := child.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// buildBinary builds this command into a temporary directory and returns
// the path of the executable.
func buildBinary(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the binary, and is not on PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "microblog")
	start := time.Now()
	out, err := exec.CommandContext(t.Context(), goBin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built %s in %s", bin, time.Since(start).Round(time.Millisecond))
	return bin
}

// loadRequest is one request of the graceful stop load.
type loadRequest struct {
	kind       string // "GET /api", "POST /api/users", "slow POST /api/users"
	id         string // its X-Request-Id
	start, end time.Time
	status     int
	err        error
}

// sendRecorded sends req with the id as X-Request-Id and records the outcome.
func sendRecorded(client *http.Client, kind, id string, req *http.Request) loadRequest {
	r := loadRequest{kind: kind, id: id, start: time.Now()}
	req.Header.Set("X-Request-Id", id)
	res, err := client.Do(req)
	return r.ended(res, err)
}

// ended records the response to r, read to its end, or the error that
// came instead.
func (r loadRequest) ended(res *http.Response, err error) loadRequest {
	if err == nil {
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		r.status = res.StatusCode
	}
	r.end, r.err = time.Now(), err
	return r
}

// slowRegistration is a registration whose body arrives in two parts, on a
// connection of its own: the server is inside the handler, reading the
// body, until finish sends the rest.
type slowRegistration struct {
	conn  net.Conn
	rest  []byte
	start time.Time
	id    string
}

// startSlowRegistration sends the headers and the first half of the body
// of a registration of username.
func startSlowRegistration(addr, id, username string) (*slowRegistration, error) {
	body := []byte(fmt.Sprintf(`{"username": %q, "email": "%s@example.com", "password": "correct horse"}`, username, username))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &slowRegistration{conn: conn, rest: body[len(body)/2:], start: time.Now(), id: id}
	head := fmt.Sprintf("POST /api/users HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\nX-Request-Id: %s\r\n\r\n", addr, len(body), id)
	if _, err := conn.Write(append([]byte(head), body[:len(body)/2]...)); err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

// finish sends the rest of the body and reads the response.
func (s *slowRegistration) finish() loadRequest {
	defer s.conn.Close()
	r := loadRequest{kind: "slow POST /api/users", id: s.id, start: s.start}
	if _, err := s.conn.Write(s.rest); err != nil {
		r.end, r.err = time.Now(), err
		return r
	}
	_ = s.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	return r.ended(http.ReadResponse(bufio.NewReader(s.conn), nil))
}

// TestGracefulStop runs the built binary with its private PostgreSQL under a
// load and sends it SIGTERM: requests already accepted finish with success,
// new connections are refused, the process exits 0 within its shutdown
// timeout, and its PostgreSQL is gone.
func TestGracefulStop(t *testing.T) {
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	addr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	const shutdownTimeout = 10 * time.Second
	// The default argon2id settings: a registration costs tens of
	// milliseconds of hashing, so some are in flight at any moment.
	p := startProcess(t, bin, "--addr", addr, "--data-dir", dataDir, "--log-format", "json",
		"--shutdown-timeout", shutdownTimeout.String(), "--register-per-address", "1000000")
	origin := "http://" + addr
	waitReadyz(t, origin, p.exited, p.stdout, p.stderr)
	pgURL := findPGURL(t, dataDir)

	load := startShutdownLoad(origin)
	time.Sleep(time.Second)
	slow := startSlowRegistrations(t, addr, 3)
	// Let the server read the headers and enter the handlers.
	time.Sleep(200 * time.Millisecond)

	signalAt := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	close(load.signaled)
	// New connections must be refused while the slow requests still hold
	// the server open.
	refusedAt, refusedErr := waitRefused(addr, signalAt.Add(2*time.Second))
	select {
	case <-p.exited:
		t.Errorf("the process exited before the slow requests finished")
	default:
	}
	if refusedErr != nil {
		t.Errorf("new connections after SIGTERM: %v", refusedErr)
	}
	for _, s := range slow {
		load.record(s.finish())
	}
	load.wg.Wait()
	exitAfter := p.waitExit(t, signalAt, shutdownTimeout)

	tally := tallyShutdown(t, load.requests, requestLog(p.stdout.String()), signalAt)
	tally.report(t, len(load.requests))
	if refusedErr == nil {
		t.Logf("new connections refused %s after SIGTERM", refusedAt.Sub(signalAt).Round(time.Microsecond))
	}
	t.Logf("exited with code %d %s after SIGTERM (shutdown timeout %s)",
		p.cmd.ProcessState.ExitCode(), exitAfter.Round(time.Millisecond), shutdownTimeout)
	if tally.unhandled > 0 {
		t.Logf("%d requests were closed without an answer and never handled", tally.unhandled)
	}
	if tally.inFlight["slow POST /api/users 201"] != len(slow) {
		t.Errorf("slow registrations answered 201: %d of %d", tally.inFlight["slow POST /api/users 201"], len(slow))
	}
	checkPostgresGone(t, dataDir, pgURL)
}

// process is a run of the built binary.
type process struct {
	cmd            *exec.Cmd
	exited         chan struct{} // closed when the process has exited
	stdout, stderr *syncBuffer
}

// startProcess runs bin with args, and kills it if it still runs when the
// test ends.
func startProcess(t *testing.T, bin string, args ...string) *process {
	p := &process{cmd: exec.Command(bin, args...), exited: make(chan struct{}), stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// waitExit waits for the process, signaled at signalAt, to exit within
// timeout of the signal with code 0, and returns how long after the signal
// it exited.
func (p *process) waitExit(t *testing.T, signalAt time.Time, timeout time.Duration) time.Duration {
	select {
	case <-p.exited:
	case <-time.After(timeout - time.Since(signalAt)):
		t.Fatalf("the process has not exited %s after SIGTERM\nstdout:\n%s\nstderr:\n%s",
			timeout, p.stdout, p.stderr)
	}
	exitAfter := time.Since(signalAt)
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d, want 0\nstderr:\n%s", code, p.stderr)
	}
	return exitAfter
}

// shutdownLoad is the load of TestGracefulStop: GET /api and registrations,
// from three workers each, with a new connection per request, so that
// each one is either refused or accepted, and an accepted one must get its
// answer.
type shutdownLoad struct {
	client   *http.Client
	origin   string
	signaled chan struct{} // closed when SIGTERM has been sent
	wg       sync.WaitGroup

	mu       sync.Mutex
	requests []loadRequest
}

func startShutdownLoad(origin string) *shutdownLoad {
	l := &shutdownLoad{
		client:   &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
		origin:   origin,
		signaled: make(chan struct{}),
	}
	for w := range 3 {
		l.wg.Go(func() { l.work(fmt.Sprintf("get%d", w), l.getAPI) })
		l.wg.Go(func() {
			l.work(fmt.Sprintf("reg%d", w), func(n int) (string, *http.Request) { return l.register(w, n) })
		})
	}
	return l
}

func (l *shutdownLoad) record(r loadRequest) {
	l.mu.Lock()
	l.requests = append(l.requests, r)
	l.mu.Unlock()
}

// work sends requests until the server refuses them, at most for a
// minute.
func (l *shutdownLoad) work(name string, newRequest func(n int) (string, *http.Request)) {
	deadline := time.Now().Add(time.Minute)
	for n := 0; time.Now().Before(deadline); n++ {
		kind, req := newRequest(n)
		r := sendRecorded(l.client, kind, fmt.Sprintf("%s-%d", name, n), req)
		l.record(r)
		if r.err != nil {
			select {
			case <-l.signaled:
				return
			default:
			}
		}
	}
}

func (l *shutdownLoad) getAPI(int) (string, *http.Request) {
	req, _ := http.NewRequest(http.MethodGet, l.origin+"/api", nil)
	return "GET /api", req
}

// register is the nth registration of worker w.
func (l *shutdownLoad) register(w, n int) (string, *http.Request) {
	body := fmt.Sprintf(`{"username": "r%dn%d", "email": "r%dn%d@example.com", "password": "correct horse"}`, w, n, w, n)
	req, _ := http.NewRequest(http.MethodPost, l.origin+"/api/users", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return "POST /api/users", req
}

// startSlowRegistrations starts n slow registrations: of users slow0,
// slow1 …, with request ids slow-0, slow-1 …
func startSlowRegistrations(t *testing.T, addr string, n int) []*slowRegistration {
	var slow []*slowRegistration
	for i := range n {
		s, err := startSlowRegistration(addr, fmt.Sprintf("slow-%d", i), fmt.Sprintf("slow%d", i))
		if err != nil {
			t.Fatalf("slow registration: %v", err)
		}
		slow = append(slow, s)
	}
	return slow
}

// requestLog is what the server answered, by request id, from its JSON
// request log.
func requestLog(stdout string) map[string]int {
	logged := map[string]int{}
	for line := range strings.Lines(stdout) {
		var entry struct {
			Msg       string `json:"msg"`
			RequestID string `json:"request_id"`
			Status    int    `json:"status"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "request" {
			logged[entry.RequestID] = entry.Status
		}
	}
	return logged
}

// shutdownOutcome is a kind of request and what became of it: its status,
// "refused", "closed unhandled" or "error".
type shutdownOutcome struct{ kind, result string }

// shutdownTally counts the requests of the load by outcome.
type shutdownTally struct {
	counts    map[shutdownOutcome]int
	inFlight  map[string]int // kind and result of the requests in flight at SIGTERM
	unhandled int
}

// tallyShutdown checks that each request succeeded, was refused, or was
// closed before it was handled, and counts them.
func tallyShutdown(t *testing.T, requests []loadRequest, logged map[string]int, signalAt time.Time) shutdownTally {
	tally := shutdownTally{counts: map[shutdownOutcome]int{}, inFlight: map[string]int{}}
	for _, r := range requests {
		result := strconv.Itoa(r.status)
		switch {
		case r.err == nil && r.status >= 200 && r.status < 300:
		case r.err == nil:
			t.Errorf("%s %s: status %d", r.kind, r.id, r.status)
		case errors.Is(r.err, syscall.ECONNREFUSED) && r.end.After(signalAt):
			result = "refused"
		case r.end.After(signalAt) && !wasLogged(logged, r.id):
			// Closed with no answer, and never handled: the connection
			// either waited in the kernel's accept queue when the listener
			// closed (a reset), or net/http read its request only after
			// Shutdown began, and then closes it unanswered (an EOF; see
			// "if c.server.shuttingDown()" in conn.serve). Either way the
			// request had no effect and may be sent again.
			result = "closed unhandled"
			tally.unhandled++
			t.Logf("%s %s, sent %s after SIGTERM, failed %s after it, not in the server's log: %v", r.kind, r.id,
				r.start.Sub(signalAt).Round(time.Microsecond), r.end.Sub(signalAt).Round(time.Microsecond), r.err)
		default:
			result = "error"
			t.Errorf("%s %s (server logged status %v): %v", r.kind, r.id, logged[r.id], r.err)
		}
		tally.counts[shutdownOutcome{r.kind, result}]++
		if r.start.Before(signalAt) && r.end.After(signalAt) {
			tally.inFlight[r.kind+" "+result]++
		}
	}
	return tally
}

// report logs the counts of the n requests, and those in flight at
// SIGTERM.
func (tally shutdownTally) report(t *testing.T, n int) {
	var summary []string
	for o, count := range tally.counts {
		summary = append(summary, fmt.Sprintf("%s %s: %d", o.kind, o.result, count))
	}
	slices.Sort(summary)
	t.Logf("requests %d:\n\t%s", n, strings.Join(summary, "\n\t"))
	t.Logf("in flight at SIGTERM: %v", tally.inFlight)
}

// checkPostgresGone checks that the private PostgreSQL in dataDir, at
// pgURL, has stopped.
func checkPostgresGone(t *testing.T, dataDir, pgURL string) {
	if _, err := os.Stat(filepath.Join(dataDir, "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postmaster.pid is still in the data dir after exit (stat: %v)", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, pgURL); err == nil {
		conn.Close(ctx)
		t.Errorf("the private PostgreSQL still accepts connections after the process exited")
	}
}

// wasLogged reports whether the server's request log has the request id.
func wasLogged(logged map[string]int, id string) bool {
	_, ok := logged[id]
	return ok
}

// waitReadyz polls /readyz until it answers 200, the process exits or a
// minute passes.
func waitReadyz(t *testing.T, origin string, exited <-chan struct{}, stdout, stderr fmt.Stringer) {
	t.Helper()
	start := time.Now()
	for deadline := start.Add(time.Minute); time.Now().Before(deadline); {
		select {
		case <-exited:
			t.Fatalf("the process exited before it was ready\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
		case <-time.After(50 * time.Millisecond):
		}
		res, err := http.Get(origin + "/readyz")
		if err != nil {
			continue
		}
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Logf("ready after %s", time.Since(start).Round(time.Millisecond))
			return
		}
	}
	t.Fatalf("/readyz not 200 after a minute\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
}

// waitRefused dials addr until a connection is refused, and returns when;
// it gives up at deadline.
func waitRefused(addr string, deadline time.Time) (time.Time, error) {
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if errors.Is(err, syscall.ECONNREFUSED) {
			return time.Now(), nil
		}
		if err == nil {
			conn.Close()
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("still accepted at %s (last dial: %v)", deadline.Format(time.TimeOnly), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
