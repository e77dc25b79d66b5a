// Command loadbench measures the microblog API under load with wrk. It
// builds the server, starts a private PostgreSQL in --data-dir, seeds a
// data set there (once: each data set has its own database, which later
// runs reuse), starts the server against it, logs in as a seeded user, and
// runs wrk against a floor (a bare net/http handler doing one primary-key
// SELECT) and then against the API, scenario by scenario. It prints one
// table, and stops everything it started, also on Ctrl-C. With --soak it
// runs the soak instead (soak.go).
//
// Usage (from the module's directory; it needs the go command, the
// PostgreSQL server binaries and wrk, which it installs with apt-get when
// it runs as root):
//
//	go run ./cmd/loadbench [--users 1000] [--duration 10s] [flags]
//	go run ./cmd/loadbench --soak 10m [--soak-row 1m] [--users 1000] [flags]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"microblog/persistence/pglocal"
	"microblog/persistence/pglocal/child"
)

const (
	// seedPassword is every seeded user's password (cmd/microblog's seed).
	seedPassword = "seed-password"
	// celebrity is the first seeded user, whom --celebrity-followers follow.
	celebrity = "seed1"
	// loginUser is the ordinary user the load acts as, and otherUser the
	// ordinary user it reads.
	loginUser = "seed2"
	otherUser = "seed3"
	// postBody is the body of the posts the POST scenario creates; they are
	// deleted at the end, so that the data set stays as seeded.
	postBody = "load test post"

	readyTimeout = time.Minute
	// stopTimeout bounds the wait for the server to stop on SIGTERM; it is
	// then killed. The server itself gives in-flight requests 15 s.
	stopTimeout = 20 * time.Second
	rssEvery    = 100 * time.Millisecond
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		return
	case err != nil:
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(1)
	}
}

// dataSet is what the server's seed subcommand is asked to make.
type dataSet struct {
	users, followsPerUser, postsPerUser, celebrityFollowers int
	repliesPercent, likesPerUser, hotPostLikes              int
	seed                                                    uint64
}

// args returns the seed subcommand's flags for s.
func (s dataSet) args() []string {
	return []string{
		"--users", strconv.Itoa(s.users),
		"--follows-per-user", strconv.Itoa(s.followsPerUser),
		"--posts-per-user", strconv.Itoa(s.postsPerUser),
		"--celebrity-followers", strconv.Itoa(s.celebrityFollowers),
		"--replies-percent", strconv.Itoa(s.repliesPercent),
		"--likes-per-user", strconv.Itoa(s.likesPerUser),
		"--hot-post-likes", strconv.Itoa(s.hotPostLikes),
		"--seed", strconv.FormatUint(s.seed, 10),
	}
}

// database names the database that holds s.
func (s dataSet) database() string {
	return fmt.Sprintf("bench_u%d_f%d_p%d_c%d_r%d_l%d_h%d_s%d", s.users, s.followsPerUser, s.postsPerUser, s.celebrityFollowers,
		s.repliesPercent, s.likesPerUser, s.hotPostLikes, s.seed)
}

// options are loadbench's flags.
type options struct {
	dataDir  string
	set      dataSet
	wrk      wrkSettings
	deepPage int64
	soak     soakSettings
}

// parseFlags reads the options from args.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("loadbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.dataDir, "data-dir", ".data-bench", "the private PostgreSQL's data, kept between runs; relative to the module's directory")
	fs.IntVar(&o.set.users, "users", 1000, "users to seed (at least 3)")
	fs.IntVar(&o.set.followsPerUser, "follows-per-user", 10, "users each seeded user follows, at random")
	fs.IntVar(&o.set.postsPerUser, "posts-per-user", 1, "posts of each seeded user")
	fs.IntVar(&o.set.celebrityFollowers, "celebrity-followers", -1, "followers of seed1 besides the random follows (default min(100000, users-1))")
	fs.IntVar(&o.set.repliesPercent, "replies-percent", 10, "percent of the posts that reply to an earlier post")
	fs.IntVar(&o.set.likesPerUser, "likes-per-user", 1, "posts of others each seeded user likes, at random")
	fs.IntVar(&o.set.hotPostLikes, "hot-post-likes", -1, "likes of the hot post, seed1's newest, besides the random likes (default min(100000, users-1))")
	fs.Uint64Var(&o.set.seed, "seed", 1, "the seed's random seed")
	fs.DurationVar(&o.wrk.duration, "duration", 10*time.Second, "how long wrk measures each scenario (whole seconds)")
	fs.DurationVar(&o.wrk.warmup, "warmup", 2*time.Second, "how long wrk warms each scenario up first, not reported (whole seconds, 0 for none)")
	fs.IntVar(&o.wrk.connections, "connections", 16, "wrk connections")
	fs.IntVar(&o.wrk.threads, "threads", 2, "wrk threads")
	fs.Int64Var(&o.deepPage, "deep-page", 10000, "the page of users, 10 a page, that the deep-page scenario reaches by following next links")
	o.soak.flags(fs)
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if o.set.celebrityFollowers < 0 {
		o.set.celebrityFollowers = min(100000, o.set.users-1)
	}
	if o.set.hotPostLikes < 0 {
		o.set.hotPostLikes = min(100000, o.set.users-1)
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	if o.set.users < 3 || o.set.followsPerUser < 0 || o.set.postsPerUser < 1 || o.set.likesPerUser < 0 ||
		o.set.repliesPercent < 1 || o.set.repliesPercent > 100 {
		errs = append(errs, errors.New("--users must be at least 3 (a celebrity and two ordinary users), --posts-per-user and "+
			"--replies-percent at least 1 (the scenarios read posts and replies), --replies-percent at most 100, "+
			"and the other counts not negative"))
	}
	if o.wrk.duration < time.Second || o.wrk.duration%time.Second != 0 || o.wrk.warmup < 0 || o.wrk.warmup%time.Second != 0 {
		errs = append(errs, errors.New("--duration must be whole seconds, at least 1s, and --warmup whole seconds"))
	}
	if o.wrk.threads < 1 || o.wrk.connections < o.wrk.threads {
		errs = append(errs, errors.New("--threads must be at least 1 and --connections at least --threads"))
	}
	if o.deepPage < 1 {
		errs = append(errs, errors.New("--deep-page must be at least 1"))
	}
	return o, errors.Join(append(errs, o.soak.check(o.set.users))...)
}

// run is the whole program: main only adds the process around it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	started := time.Now()
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if opts.soak.duration == 0 {
		if opts.wrk.path, err = ensureWrk(ctx, stdout, stderr); err != nil {
			return err
		}
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "loadbench-")
	if err != nil {
		return fmt.Errorf("temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	e := &env{opts: opts, tmp: tmp, stdout: stdout, stderr: stderr}

	if err := e.buildServer(ctx, root); err != nil {
		return err
	}
	pg, stopPostgres, err := e.startPostgres(ctx, root)
	if err != nil {
		return err
	}
	defer stopPostgres()
	dbURL, err := ensureSeeded(ctx, pg, e.bin, opts.set, stdout, stderr)
	if err != nil {
		return err
	}
	if opts.soak.duration > 0 {
		return e.soakDatabase(ctx, dbURL)
	}
	rep, err := e.benchDatabase(ctx, dbURL)
	if err != nil {
		return err
	}
	rep.total = time.Since(started)
	rep.print(stdout)
	return nil
}

// env is what the steps of a run share.
type env struct {
	opts           options
	tmp            string // a temporary directory, removed at the end
	bin            string // the server binary, built into tmp
	stdout, stderr io.Writer
}

// say prints one line of progress.
func (e *env) say(format string, a ...any) {
	fmt.Fprintf(e.stdout, format+"\n", a...)
}

// buildServer builds ./cmd/microblog of the module in root into e.tmp.
func (e *env) buildServer(ctx context.Context, root string) error {
	e.bin = filepath.Join(e.tmp, "microblog")
	e.say("building ./cmd/microblog")
	build := child.Command(ctx, syscall.SIGINT, stopTimeout, "go", "build", "-o", e.bin, "./cmd/microblog")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/microblog: %w\n%s", err, out)
	}
	return nil
}

// startPostgres starts the private PostgreSQL on the data directory, which
// a relative --data-dir puts in root, with its log in e.tmp. The func it
// returns stops it.
func (e *env) startPostgres(ctx context.Context, root string) (*pglocal.Server, func(), error) {
	dataDir := e.opts.dataDir
	if !filepath.IsAbs(dataDir) {
		// The module's .gitignore ignores /.data-*/ at its top.
		dataDir = filepath.Join(root, dataDir)
	}
	pgLog, err := os.Create(filepath.Join(e.tmp, "postgres.log"))
	if err != nil {
		return nil, nil, fmt.Errorf("PostgreSQL log: %w", err)
	}
	// Fsync stays false, Options' default: fsync, synchronous_commit and
	// full_page_writes are off, as for the tests. A machine crash could
	// then spoil the data set, which is only seeded again; commits do not
	// wait for the disk, so the POST numbers are those of a fast disk.
	pg, err := pglocal.Start(ctx, pglocal.Options{DataDir: dataDir, Log: pgLog})
	if err != nil {
		pgLog.Close()
		return nil, nil, err
	}
	e.say("PostgreSQL on %s, data in %s", pg.Socket(), dataDir)
	stop := func() {
		if err := pg.Stop(); err != nil {
			fmt.Fprintln(e.stderr, "loadbench: stopping PostgreSQL:", err)
		}
		pgLog.Close()
	}
	return pg, stop, nil
}

// benchDatabase runs the benchmark on the seeded database at dbURL and
// leaves the data set as it was seeded. The floor runs on its pool.
func (e *env) benchDatabase(ctx context.Context, dbURL string) (*report, error) {
	// The default size, max(4, NumCPU), is also the server's: it sets no
	// pool_max_conns either.
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	// Posts of the POST scenario are deleted at the end, once the server
	// has stopped and none is in flight, so that the data set stays as
	// seeded (the like scenario's likes after each of its runs); those of a
	// run that ended early go now.
	if _, err := undoLikes(ctx, pool); err != nil {
		return nil, err
	}
	leftovers, err := deletePosts(ctx, pool)
	if err != nil {
		return nil, err
	}
	defer func() {
		// After an error only: a run that succeeds has deleted them.
		ctx := context.WithoutCancel(ctx)
		if _, err := undoLikes(ctx, pool); err != nil {
			fmt.Fprintln(e.stderr, "loadbench:", err)
		}
		if _, err := deletePosts(ctx, pool); err != nil {
			fmt.Fprintln(e.stderr, "loadbench:", err)
		}
	}()
	rep, err := e.benchServer(ctx, dbURL, pool)
	if err != nil {
		return nil, err
	}
	rep.leftovers = leftovers
	if rep.deletedPosts, err = deletePosts(ctx, pool); err != nil {
		return nil, err
	}
	return rep, nil
}

// benchServer starts the server against dbURL, measures it, stops it and
// reads its log.
func (e *env) benchServer(ctx context.Context, dbURL string, pool *pgxpool.Pool) (*report, error) {
	srv, err := startServer(ctx, e.bin, dbURL, filepath.Join(e.tmp, "server.log"))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := srv.Stop(stopTimeout); err != nil {
			fmt.Fprintln(e.stderr, "loadbench: stopping the server:", err)
		}
	}()
	readyRSS, err := procStatusKiB(srv.Cmd.Process.Pid, "VmRSS")
	if err != nil {
		return nil, err
	}
	e.say("server on %s (pid %d)", srv.base, srv.Cmd.Process.Pid)

	b := &bench{wrk: e.opts.wrk, pool: pool, out: e.stdout}
	rep, err := b.measure(ctx, e.opts, srv, e.tmp)
	if err != nil {
		return nil, err
	}
	if err := srv.Stop(stopTimeout); err != nil {
		return nil, fmt.Errorf("stopping the server: %w", err)
	}
	rep.readyRSSKiB = readyRSS
	if rep.serverLog, err = summarizeLog(srv.LogPath); err != nil {
		return nil, err
	}
	return rep, nil
}

// ensureWrk returns the path of wrk, installing it with apt-get when it is
// missing and this program runs as root.
func ensureWrk(ctx context.Context, stdout, stderr io.Writer) (string, error) {
	if p, err := exec.LookPath("wrk"); err == nil {
		return p, nil
	}
	if os.Geteuid() != 0 {
		return "", errors.New("wrk is not on PATH: install it (apt-get install wrk), or run loadbench as root to have it installed")
	}
	fmt.Fprintln(stdout, "wrk is not on PATH: running apt-get install -y wrk")
	cmd := child.Command(ctx, syscall.SIGINT, stopTimeout, "apt-get", "install", "-y", "wrk")
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("apt-get install -y wrk: %w", err)
	}
	p, err := exec.LookPath("wrk")
	if err != nil {
		return "", fmt.Errorf("wrk installed but not found: %w", err)
	}
	return p, nil
}

// moduleRoot returns the directory of the module the go command sees from
// the working directory.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := child.Command(ctx, syscall.SIGINT, stopTimeout, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module: run loadbench from the microblog module's directory")
	}
	return filepath.Dir(gomod), nil
}

// ensureSeeded returns the URL of the database that holds set, creating and
// seeding it unless an earlier run did. A database is marked as seeded with
// a comment once the seed has finished; one without the mark is dropped
// and seeded again.
func ensureSeeded(ctx context.Context, pg *pglocal.Server, bin string, set dataSet, stdout, stderr io.Writer) (string, error) {
	name := set.database()
	mark := "loadbench: seeded with " + strings.Join(set.args(), " ")
	conn, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	ident := pgx.Identifier{name}.Sanitize()
	var comment *string
	err = conn.QueryRow(ctx, `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1`, name).Scan(&comment)
	switch {
	case err == nil && comment != nil && *comment == mark:
		fmt.Fprintf(stdout, "database %s is seeded already (%s)\n", name, strings.Join(set.args(), " "))
		return pg.URL(name), nil
	case err == nil:
		fmt.Fprintf(stdout, "database %s was not seeded to the end: dropping it\n", name)
		if _, err := conn.Exec(ctx, `DROP DATABASE `+ident); err != nil {
			return "", fmt.Errorf("drop database %s: %w", name, err)
		}
	case !errors.Is(err, pgx.ErrNoRows):
		return "", fmt.Errorf("look for database %s: %w", name, err)
	}
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+ident); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	fmt.Fprintf(stdout, "seeding database %s: microblog seed %s\n", name, strings.Join(set.args(), " "))
	cmd := child.Command(ctx, syscall.SIGINT, stopTimeout, bin, append([]string{"seed", "--database-url", pg.URL(name)}, set.args()...)...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("microblog seed: %w", err)
	}
	// COMMENT takes no parameters; the mark is made of flags and numbers.
	if _, err := conn.Exec(ctx, `COMMENT ON DATABASE `+ident+` IS '`+mark+`'`); err != nil {
		return "", fmt.Errorf("mark database %s as seeded: %w", name, err)
	}
	return pg.URL(name), nil
}

// server is the microblog server under test.
type server struct {
	*child.Process
	base string // http://127.0.0.1:port
}

// startServer starts the server binary on a free port against dbURL, with
// its JSON log in logPath, and waits until /readyz answers 200.
func startServer(ctx context.Context, bin, dbURL, logPath string) (*server, error) {
	port, err := child.FreePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	// Not bound to ctx: Stop ends it with SIGTERM, in order.
	p, err := child.Start("the server", exec.Command(bin, "serve", "--addr", addr, "--database-url", dbURL, "--log-format", "json"),
		child.Options{LogPath: logPath})
	if err != nil {
		return nil, err
	}
	if err := p.WaitOK(ctx, "http://"+addr+"/readyz", readyTimeout); err != nil {
		_ = p.Stop(stopTimeout)
		return nil, err
	}
	return &server{Process: p, base: "http://" + addr}, nil
}

// selectUser is the floor's query: one row by primary key.
const selectUser = `SELECT id, username, about_me FROM users WHERE id = $1`

// startFloor serves, on a free port of this process, a bare net/http
// handler that reads user id with one primary-key SELECT on pool and
// writes it as a small JSON object: the least any API read costs. It
// returns the URL and a function that stops it.
func startFloor(pool *pgxpool.Pool, id int64) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("floor: %w", err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var u struct {
			ID       int64  `json:"id"`
			Username string `json:"username"`
			AboutMe  string `json:"about_me"`
		}
		if err := pool.QueryRow(r.Context(), selectUser, id).Scan(&u.ID, &u.Username, &u.AboutMe); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(u) // a failed write is the client's problem
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }() // Serve returns ErrServerClosed on Close
	return "http://" + l.Addr().String() + "/", func() { _ = srv.Close() }, nil
}

// rssSampler records the first and the highest VmRSS of a process, read
// every rssEvery.
type rssSampler struct {
	cancel            context.CancelFunc
	done              chan struct{}
	firstKiB, peakKiB int64
	err               error
}

// sampleRSS starts sampling the VmRSS of process pid.
func sampleRSS(ctx context.Context, pid int) *rssSampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &rssSampler{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		ticker := time.NewTicker(rssEvery)
		defer ticker.Stop()
		for {
			kib, err := procStatusKiB(pid, "VmRSS")
			if err != nil {
				s.err = err
				return
			}
			if s.firstKiB == 0 {
				s.firstKiB = kib
			}
			s.peakKiB = max(s.peakKiB, kib)
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the first and the highest VmRSS
// seen, in KiB.
func (s *rssSampler) stop() (first, peak int64, err error) {
	s.cancel()
	<-s.done
	return s.firstKiB, s.peakKiB, s.err
}

// procStatusKiB reads a "kB" field, such as VmRSS or VmHWM, of
// /proc/<pid>/status.
func procStatusKiB(pid int, field string) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", field, err)
	}
	for line := range strings.Lines(string(raw)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("read %s: %w", field, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// logSummary is what the server logged during the run.
type logSummary struct {
	requests int
	byClass  map[int]int // status/100 → requests
	// failed counts the requests answered 4xx or 5xx by "METHOD route
	// status" (routeOf).
	failed map[string]int
	// problems are lines at WARN or ERROR, the first few of them kept.
	problems int
	first    []string
}

// routeOf returns path with each segment that is a number, an id, as
// ":id": the like scenario's requests go to many paths of one route.
func routeOf(path string) string {
	segments := strings.Split(path, "/")
	for i, seg := range segments {
		if _, err := strconv.ParseInt(seg, 10, 64); err == nil {
			segments[i] = ":id"
		}
	}
	return strings.Join(segments, "/")
}

// summarizeLog reads the server's JSON log.
func summarizeLog(path string) (logSummary, error) {
	f, err := os.Open(path)
	if err != nil {
		return logSummary{}, fmt.Errorf("read the server log: %w", err)
	}
	defer f.Close()
	s := logSummary{byClass: map[int]int{}, failed: map[string]int{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Level  string `json:"level"`
			Msg    string `json:"msg"`
			Status int    `json:"status"`
			Method string `json:"method"`
			Path   string `json:"path"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue // not JSON: Go's own messages, say
		}
		if line.Msg == "request" {
			s.requests++
			s.byClass[line.Status/100]++
			if line.Status >= 400 {
				s.failed[fmt.Sprintf("%s %s %d", line.Method, routeOf(line.Path), line.Status)]++
			}
		}
		if line.Level == "WARN" || line.Level == "ERROR" {
			s.problems++
			if len(s.first) < 5 {
				s.first = append(s.first, truncate(sc.Bytes(), 300))
			}
		}
	}
	if err := sc.Err(); err != nil {
		return logSummary{}, fmt.Errorf("read the server log: %w", err)
	}
	return s, nil
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.Lines(string(raw)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// runtimeVersion names the Go toolchain and platform.
func runtimeVersion() string {
	return runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}
