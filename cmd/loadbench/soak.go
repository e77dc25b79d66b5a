package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/procfs"
)

// The soak (--soak, make soak): the benchmark's scenarios as one mixed
// load, with logins and live streams of notifications, for a long time,
// with a row of the server's figures every --soak-row and a verdict on
// whether its memory and goroutines stayed flat. The load is made here, by
// goroutines with keep-alive clients, rather than by wrk: each request's
// latency lands in the row it ended in, so each row's p99 is exact, and
// the streams and the logins, which wrk cannot hold open or pace, are part
// of the same load.

const (
	// loginEvery paces the logins, each followed by a logout: one every 2 s
	// from a rotation of loginUsers users stays within the server's default
	// limits (60 a minute from an address, 10 for one username), and costs
	// an argon2 hash at a time.
	loginEvery = 2 * time.Second
	loginUsers = 10
	// streamsPerUser streams are held open at a time for each of the login
	// user and the celebrity, within the server's cap of 4 a user: each is
	// opened, read for a random time below streamHoldMax (past the
	// server's 15 s heartbeat, now and then) and closed.
	streamsPerUser = 2
	streamHoldMax  = 20 * time.Second
	// soakPostBody is the body of the posts the soak makes, deleted at the
	// end: each mentions the celebrity, whose streams get the mention.
	soakPostBody = postBody + " @" + celebrity
	// samplesPerRow is how many times a row reads the server's figures.
	samplesPerRow = 12
)

// soakSettings are the soak's flags.
type soakSettings struct {
	duration time.Duration // 0: no soak, the benchmark
	row      time.Duration
	workers  int
}

// flags adds the soak's flags to fs.
func (s *soakSettings) flags(fs *flag.FlagSet) {
	fs.DurationVar(&s.duration, "soak", 0, "instead of the benchmark, run the soak for this long: a mixed load, a row of the "+
		"server's figures every --soak-row, and a verdict on leaks (make soak)")
	fs.DurationVar(&s.row, "soak-row", time.Minute, "the time a row of the soak's table covers")
	fs.IntVar(&s.workers, "soak-workers", 8, "goroutines sending the soak's requests, each waiting for its answer")
}

// check says what is wrong with the soak's settings, for a data set of
// users users.
func (s soakSettings) check(users int) error {
	if s.duration == 0 {
		return nil
	}
	if s.row < time.Second || s.duration < 3*s.row || s.workers < 1 || users < loginUsers+2 {
		return fmt.Errorf("--soak must cover at least three rows of --soak-row, itself at least 1s; --soak-workers must be "+
			"at least 1 and --users at least %d (the soak logs in as seed3 to seed%d)", loginUsers+2, loginUsers+2)
	}
	return nil
}

// rows returns the number of rows of the soak: whole rows only.
func (s soakSettings) rows() int { return int(s.duration / s.row) }

// soakDatabase runs the soak against the seeded database at dbURL and
// leaves the data set as it was seeded. It fails when the server's RSS or
// goroutines grew.
func (e *env) soakDatabase(ctx context.Context, dbURL string) error {
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	if _, err := undoSoak(ctx, pool); err != nil { // those of a run that ended early
		return err
	}
	srv, err := startServer(ctx, e.bin, dbURL, filepath.Join(e.tmp, "server.log"))
	if err != nil {
		return err
	}
	defer func() { _ = srv.Stop(stopTimeout) }() // on errors; stopping twice is harmless
	e.say("server on %s (pid %d)", srv.base, srv.Cmd.Process.Pid)
	s, err := newSoak(ctx, e.opts, srv.base, srv.Cmd.Process.Pid, e.stdout)
	if err != nil {
		return err
	}
	rows, err := s.run(ctx)
	if err != nil {
		return err
	}
	if err := srv.Stop(stopTimeout); err != nil {
		return fmt.Errorf("stopping the server: %w", err)
	}
	undone, err := undoSoak(context.WithoutCancel(ctx), pool)
	if err != nil {
		return err
	}
	log, err := summarizeLog(srv.LogPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\n%s\nserver log: %d requests: %d 2xx, %d 4xx, %d 5xx; %d lines at WARN or ERROR\n",
		undone, log.requests, log.byClass[2], log.byClass[4], log.byClass[5], log.problems)
	for _, k := range slices.Sorted(maps.Keys(log.failed)) {
		fmt.Fprintf(e.stdout, "  %s: %d\n", k, log.failed[k])
	}
	for _, line := range log.first {
		fmt.Fprintln(e.stdout, "  ", line)
	}
	return printVerdict(e.stdout, rows)
}

// undoSoak deletes the posts and likes the soak made, and their
// notifications, and says how many.
func undoSoak(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	likes, err := undoLikes(ctx, pool)
	if err != nil {
		return "", err
	}
	posts, err := deletePostsOf(ctx, pool, soakPostBody)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("deleted what the soak made: %d posts (and the mentions of %s in them), %d likes",
		posts, celebrity, likes), nil
}

// soakOp is one kind of request of the load's mix.
type soakOp struct {
	name   string
	weight int
	// send sends one request and returns its status; errBusy says it sent
	// none.
	send func(ctx context.Context) (int, error)
}

// errBusy says that an op sent nothing: every post it likes was being
// liked or unliked by another worker, or there was no post to delete.
var errBusy = errors.New("busy")

// soak is a running soak.
type soak struct {
	set          soakSettings
	out          io.Writer
	pid          int
	addr         netip.AddrPort // the server's listening address
	client       *client        // logged in as loginUser; requests time out
	streams      *http.Client   // no time-out: a stream's context ends it
	ops          []soakOp
	weights      int // the sum of the ops' weights
	streamTokens []string
	streamHref   string
	tokensHref   string
	users        int // of the data set
	rec          *recorder
	procFS       procfs.FS
}

// newSoak logs in and plans the load against the server at base, whose
// process is pid, as the benchmark does.
func newSoak(ctx context.Context, opts options, base string, pid int, out io.Writer) (*soak, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("server URL: %w", err)
	}
	addr, err := netip.ParseAddrPort(u.Host)
	if err != nil {
		return nil, fmt.Errorf("server address: %w", err)
	}
	procFS, err := procfs.NewDefaultFS()
	if err != nil {
		return nil, fmt.Errorf("/proc: %w", err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// Every worker and stream keeps its connection between requests.
	transport.MaxIdleConnsPerHost = opts.soak.workers + 2*streamsPerUser + 2
	s := &soak{set: opts.soak, out: out, pid: pid, addr: addr, users: opts.set.users, procFS: procFS,
		streams: &http.Client{Transport: transport}}
	if err := s.plan(ctx, base, &http.Client{Transport: transport, Timeout: 30 * time.Second}); err != nil {
		return nil, err
	}
	return s, nil
}

// plan logs in as the benchmark does and makes the ops from its scenarios.
func (s *soak) plan(ctx context.Context, base string, hc *http.Client) error {
	b := &bench{out: io.Discard}
	root, hotToken, err := b.logIn(ctx, base)
	if err != nil {
		return err
	}
	b.client.http = hc
	s.client = b.client
	var likePaths []string
	in := planInput{terms: termsFor(s.users), hotToken: hotToken, likeScript: func(paths []string) (string, error) {
		likePaths = paths
		return "", nil
	}}
	p, err := makePlan(ctx, b.client, root, in)
	if err != nil {
		return err
	}
	if s.streamHref, err = root.expandLink("mb:notifications"); err != nil {
		return err
	}
	if s.tokensHref, err = root.expandLink("mb:tokens"); err != nil {
		return err
	}
	for range streamsPerUser {
		s.streamTokens = append(s.streamTokens, b.client.token, hotToken)
	}
	s.addOps(append(p.before, p.after...), likePaths)
	return nil
}

// addOps makes the ops of the scenarios: a GET as the scenario says; for
// the POST, posts made with soakPostBody and deleted again (postAndDelete);
// for the like scenario, the likes of likePaths given and taken back in
// turn. Reads, the POST and the DELETE weigh 1 each, the likes 3.
func (s *soak) addOps(scenarios []scenario, likePaths []string) {
	for _, sc := range scenarios {
		c := *s.client
		if sc.token != "" {
			c.token = sc.token
		}
		ops := []soakOp{{name: sc.name, weight: 1, send: func(ctx context.Context) (int, error) {
			status, _, err := c.send(ctx, sc.method, sc.url, sc.body, nil)
			return status, err
		}}}
		switch sc.method {
		case http.MethodPut:
			ops[0].weight, ops[0].send = 3, likeToggler(&c, likePaths)
		case http.MethodPost:
			ops = postAndDelete(&c, sc)
		}
		for _, op := range ops {
			s.ops = append(s.ops, op)
			s.weights += op.weight
		}
	}
}

// postAndDelete returns the ops of the POST scenario sc: one posts
// soakPostBody, the other deletes a post the first made, through its self
// link, so that the soak's posts do not pile up; those made last are
// deleted at the end with the others (undoSoak).
func postAndDelete(c *client, sc scenario) []soakOp {
	made := make(chan string, 1024)
	body := `{"body":"` + soakPostBody + `"}`
	post := func(ctx context.Context) (int, error) {
		status, raw, err := c.send(ctx, http.MethodPost, sc.url, body, nil)
		var d doc
		if errorKind(status, err) == "" && json.Unmarshal(raw, &d) == nil && d.self() != "" {
			select {
			case made <- d.self():
			default: // full: deleted at the end
			}
		}
		return status, err
	}
	del := func(ctx context.Context) (int, error) {
		select {
		case href := <-made:
			status, _, err := c.send(ctx, http.MethodDelete, href, "", nil)
			return status, err
		default:
			return 0, errBusy
		}
	}
	return []soakOp{{name: sc.name, weight: 1, send: post}, {name: "DELETE post", weight: 1, send: del}}
}

// likeToggler returns the send of likes of paths, each a like link: each
// request takes a path no other request is on, and likes it (PUT) or takes
// its like back (DELETE).
func likeToggler(c *client, paths []string) func(ctx context.Context) (int, error) {
	type slot struct {
		path  string
		liked bool
	}
	free := make(chan slot, len(paths))
	for _, p := range paths {
		free <- slot{path: p}
	}
	return func(ctx context.Context) (int, error) {
		var sl slot
		select {
		case sl = <-free:
		default:
			return 0, errBusy
		}
		defer func() { free <- sl }()
		method := http.MethodPut
		if sl.liked {
			method = http.MethodDelete
		}
		status, _, err := c.send(ctx, method, sl.path, "", nil)
		if errorKind(status, err) == "" {
			sl.liked = method == http.MethodPut
		}
		return status, err
	}
}

// run runs the load and prints a row every s.set.row, and returns the rows.
func (s *soak) run(ctx context.Context) ([]soakRow, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	s.rec = newRecorder(start, s.set.row, s.set.rows())
	fmt.Fprintf(s.out, "soak: %d rows of %s; %d workers sending a mix of %d kinds of requests (%s); %d live streams of "+
		"notifications, each held up to %s; a login and a logout every %s\n",
		s.set.rows(), s.set.row, s.set.workers, len(s.ops), s.mix(), len(s.streamTokens), streamHoldMax, loginEvery)
	fmt.Fprintf(s.out, "a row: the requests that ended within it, their errors by kind, the p50 and p99 of the others "+
		"(streams and their events aside), and the server's figures, each the median of %d samples (VmHWM at the end)\n\n",
		samplesPerRow)
	var wg sync.WaitGroup
	for range s.set.workers {
		wg.Go(func() { s.work(ctx) })
	}
	for _, token := range s.streamTokens {
		wg.Go(func() { s.streamLoop(ctx, token) })
	}
	wg.Go(func() { s.logins(ctx) })
	samplerErr := make(chan error, 1)
	wg.Go(func() { samplerErr <- s.sample(ctx, start) })
	rows, err := s.printRows(ctx, start, samplerErr)
	cancel()
	wg.Wait()
	return rows, err
}

// mix describes the weights of the ops.
func (s *soak) mix() string {
	var reads, parts []string
	for _, op := range s.ops {
		if strings.HasPrefix(op.name, "GET ") {
			reads = append(reads, op.name)
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %d", op.name, op.weight))
	}
	return fmt.Sprintf("%d reads 1 each, %s, of %d", len(reads), strings.Join(parts, ", "), s.weights)
}

// printRows prints the table's header, then each row as it ends, and
// returns the rows; it stops early when ctx ends or the sampler fails.
func (s *soak) printRows(ctx context.Context, start time.Time, samplerErr <-chan error) ([]soakRow, error) {
	fmt.Fprint(s.out, tableHeader())
	var rows []soakRow
	for i := range s.set.rows() {
		timer := time.NewTimer(time.Until(start.Add(time.Duration(i+1) * s.set.row)))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case err := <-samplerErr:
			timer.Stop()
			return nil, err
		case <-timer.C:
		}
		hwm, err := procStatusKiB(s.pid, "VmHWM")
		if err != nil {
			return nil, err
		}
		rows = append(rows, s.rec.row(i, hwm))
		fmt.Fprint(s.out, rows[i].line())
	}
	return rows, nil
}

// work sends requests of the ops, picked at random by weight, one after
// the other, until ctx ends.
func (s *soak) work(ctx context.Context) {
	for ctx.Err() == nil {
		op := s.pick(rand.IntN(s.weights))
		start := time.Now()
		status, err := op.send(ctx)
		if errors.Is(err, errBusy) {
			continue
		}
		if ctx.Err() != nil {
			return // in flight at the end: not counted
		}
		s.rec.request(time.Now(), time.Since(start), errorKind(status, err))
	}
}

// pick returns the op that n, below s.weights, falls on.
func (s *soak) pick(n int) soakOp {
	for _, op := range s.ops {
		if n < op.weight {
			return op
		}
		n -= op.weight
	}
	return s.ops[len(s.ops)-1]
}

// logins logs in as seed3, seed4 … in turn every loginEvery, and out again
// at once, until ctx ends.
func (s *soak) logins(ctx context.Context) {
	ticker := time.NewTicker(loginEvery)
	defer ticker.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		s.logInAndOut(ctx, "seed"+strconv.Itoa(3+i%loginUsers))
	}
}

// logInAndOut posts username's credentials to the tokens link and deletes
// the token it gets.
func (s *soak) logInAndOut(ctx context.Context, username string) {
	c := *s.client
	c.token = ""
	start := time.Now()
	status, raw, err := c.send(ctx, http.MethodPost, s.tokensHref, "", url.UserPassword(username, seedPassword))
	if ctx.Err() != nil {
		return
	}
	var d doc
	kind := errorKind(status, err)
	if kind == "" && (json.Unmarshal(raw, &d) != nil || d.Token == "") {
		kind = "no token"
	}
	s.rec.request(time.Now(), time.Since(start), kind)
	if kind != "" {
		return
	}
	c.token = d.Token
	start = time.Now()
	status, _, err = c.send(ctx, http.MethodDelete, s.tokensHref, "", nil)
	if ctx.Err() == nil {
		s.rec.request(time.Now(), time.Since(start), errorKind(status, err))
	}
}

// streamLoop opens a live stream of notifications with token, reads it
// for a random time below streamHoldMax and closes it, over and over until
// ctx ends.
func (s *soak) streamLoop(ctx context.Context, token string) {
	for ctx.Err() == nil {
		if !s.stream(ctx, token, rand.N(streamHoldMax)) {
			// Refused or failed: the server's Retry-After is a heartbeat,
			// at most, and a second does for a stream counted still.
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// stream reads one stream for hold, counting its events, and reports
// whether it was opened and lasted.
func (s *soak) stream(ctx context.Context, token string, hold time.Duration) bool {
	held, cancel := context.WithTimeout(ctx, hold)
	defer cancel()
	target, err := s.client.resolve(s.streamHref)
	if err != nil {
		return false
	}
	req, err := http.NewRequestWithContext(held, http.MethodGet, target, nil)
	if err != nil {
		return false
	}
	req.Header.Set("Accept", eventStreamType)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := s.streams.Do(req)
	if held.Err() != nil {
		closeBody(res)
		return true // the hold ended as the headers came
	}
	if kind := errorKind(statusOf(res), err); kind != "" {
		s.rec.add(time.Now(), func(r *rowData) { r.requests++; r.errors[kind]++ })
		closeBody(res)
		return false
	}
	defer res.Body.Close()
	s.rec.add(time.Now(), func(r *rowData) { r.requests++; r.streams++ })
	lines := bufio.NewScanner(res.Body)
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "id:") {
			s.rec.add(time.Now(), func(r *rowData) { r.events++ })
		}
	}
	if held.Err() != nil {
		return true
	}
	s.rec.add(time.Now(), func(r *rowData) { r.errors["stream ended"]++ })
	return false
}

// eventStreamType is what a client of the live stream accepts.
const eventStreamType = "text/event-stream"

// statusOf returns res's status, 0 for no response.
func statusOf(res *http.Response) int {
	if res == nil {
		return 0
	}
	return res.StatusCode
}

// closeBody closes res's body, if there is a response.
func closeBody(res *http.Response) {
	if res != nil {
		res.Body.Close()
	}
}

// sample reads the server's figures samplesPerRow times a row into the
// recorder until ctx ends, and returns the error that stopped it, if one
// did.
func (s *soak) sample(ctx context.Context, start time.Time) error {
	ticker := time.NewTicker(s.set.row / samplesPerRow)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		sample, err := s.readServer(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		s.rec.add(time.Now(), func(r *rowData) { r.samples = append(r.samples, sample) })
	}
}

// readServer reads a sample of the server's figures.
func (s *soak) readServer(ctx context.Context) (serverSample, error) {
	var sample serverSample
	var err error
	if sample.rssKiB, err = procStatusKiB(s.pid, "VmRSS"); err != nil {
		return serverSample{}, err
	}
	if sample.httpConns, err = establishedOn(s.procFS, s.addr); err != nil {
		return serverSample{}, err
	}
	target, err := s.client.resolve("/metrics")
	if err != nil {
		return serverSample{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return serverSample{}, fmt.Errorf("GET /metrics: %w", err)
	}
	res, err := s.client.http.Do(req)
	if err != nil {
		return serverSample{}, fmt.Errorf("GET /metrics: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return serverSample{}, fmt.Errorf("GET /metrics: status %d", res.StatusCode)
	}
	return sample, metricsSample(res.Body, &sample)
}
