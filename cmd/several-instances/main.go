// Command several-instances shows that microblog runs as several instances
// behind a load balancer: it starts one private PostgreSQL, two instances
// of the microblog binary against it (at once, so that both race to
// migrate), and nginx in front of them; it then puts a load through nginx,
// kills one instance with SIGKILL halfway, and reports what the clients
// saw. Everything listens on loopback addresses and lives in a temporary
// directory, removed at the end, also on Ctrl-C.
//
// Usage (from the module's directory; it needs nginx and the go command):
//
//	go run ./cmd/several-instances [-duration 8s] [-workers 8]
//
// It exits 1 if any idempotent request failed as a client saw it.
package main

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"

	"github.com/jackc/pgx/v5"

	"microblog/migrations"
	"microblog/persistence/pglocal"
	"microblog/persistence/pglocal/child"
)

//go:embed nginx.conf.tmpl
var nginxConf string

const (
	// debianNginx is where Debian's nginx package puts the binary.
	debianNginx  = "/usr/sbin/nginx"
	instances    = 2
	readyTimeout = time.Minute
	// stopTimeout bounds the wait for a child asked to stop; it is then
	// killed.
	stopTimeout = 20 * time.Second
)

// errNoNginx is the one-line error when nginx is not installed.
var errNoNginx = errors.New("nginx is not installed (looked for " + debianNginx + " and nginx on PATH): apt-get install nginx")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "several-instances:", err)
		}
		os.Exit(1)
	}
}

// run is the whole program: main only adds the process around it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	nginx, err := findNginx()
	if err != nil {
		return err
	}
	dir, err := makeWorkDir()
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(stdout, "working directory %s (removed at the end)\n", dir)
	bin, err := buildMicroblog(ctx, dir)
	if err != nil {
		return err
	}

	s := &setup{dir: dir, out: stdout}
	defer s.stop(stderr)
	if err := s.startPostgres(ctx); err != nil {
		return err
	}
	if err := s.startInstances(ctx, bin); err != nil {
		return err
	}
	if err := s.startNginx(ctx, nginx); err != nil {
		return err
	}
	return s.putLoad(ctx, cfg)
}

// config is the load that the flags ask for.
type config struct {
	duration time.Duration
	workers  int
}

// parseFlags reads the config from args.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	fl := flag.NewFlagSet("several-instances", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var cfg config
	fl.DurationVar(&cfg.duration, "duration", 8*time.Second, "how long the load runs; one instance is killed halfway")
	fl.IntVar(&cfg.workers, "workers", 8, "concurrent clients of the load")
	if err := fl.Parse(args); err != nil {
		return config{}, err
	}
	if fl.NArg() > 0 || cfg.duration <= 0 || cfg.duration > 10*time.Minute || cfg.workers < 1 || cfg.workers > 256 {
		return config{}, errors.New("usage: several-instances [-duration 1s..10m] [-workers 1..256]")
	}
	return cfg, nil
}

// makeWorkDir creates the temporary directory that holds everything run
// makes.
func makeWorkDir() (string, error) {
	dir, err := os.MkdirTemp("", "several-instances-")
	if err != nil {
		return "", err
	}
	// nginx's workers (nobody, when run as root) and PostgreSQL (postgres)
	// must reach their files in dir.
	if err := os.Chmod(dir, 0o711); err != nil {
		return "", errors.Join(err, os.RemoveAll(dir))
	}
	return dir, nil
}

// buildMicroblog builds the microblog binary into dir and returns its path.
func buildMicroblog(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "microblog")
	build := child.Command(ctx, syscall.SIGINT, stopTimeout, "go", "build", "-o", bin, "microblog/cmd/microblog")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build microblog/cmd/microblog (run this from the module's directory): %w\n%s", err, out)
	}
	return bin, nil
}

// setup is what run starts, in order: PostgreSQL, the instances, nginx.
type setup struct {
	dir string // the working directory
	out io.Writer

	db        *pglocal.Server
	instances []*child.Process
	upstreams []string // the instances' addresses, host:port
	proxy     *child.Process
	nginxDir  string
	base      string // nginx's URL: http://host:port
}

// say prints one line of progress.
func (s *setup) say(format string, a ...any) {
	fmt.Fprintf(s.out, format+"\n", a...)
}

// stop stops what s started, in the reverse order.
func (s *setup) stop(stderr io.Writer) {
	children := s.instances
	if s.proxy != nil {
		children = append(slices.Clone(children), s.proxy)
	}
	for _, c := range slices.Backward(children) {
		if err := c.Stop(stopTimeout); err != nil {
			fmt.Fprintf(stderr, "stopping %s: %v\n", c.Name, err)
		}
	}
	if s.db == nil {
		return
	}
	if err := s.db.Stop(); err != nil {
		fmt.Fprintln(stderr, "stopping PostgreSQL:", err)
	}
}

// startPostgres starts the PostgreSQL that the instances share.
func (s *setup) startPostgres(ctx context.Context) error {
	db, err := pglocal.Start(ctx, pglocal.Options{DataDir: filepath.Join(s.dir, "pg")})
	if err != nil {
		return err
	}
	s.db = db
	s.say("PostgreSQL on %s, the only thing the instances share", db.Socket())
	return nil
}

// startInstances starts the instances of bin and waits until each is
// ready. They start at once against the empty database: the migrations'
// advisory lock makes them take turns, and each migration must have been
// applied by one of them.
func (s *setup) startInstances(ctx context.Context, bin string) error {
	for i := range instances {
		if err := s.startInstance(bin, i+1); err != nil {
			return err
		}
	}
	for i, c := range s.instances {
		if err := c.WaitOK(ctx, "http://"+s.upstreams[i]+"/readyz", readyTimeout); err != nil {
			return err
		}
	}
	applied, err := migrationsApplied(s.instances)
	if err != nil {
		return err
	}
	s.say("instances on %s, started at once; migrations applied by each: %v, of %d in all",
		strings.Join(s.upstreams, " and "), applied, migrations.Count())
	if total := applied[0] + applied[1]; total != migrations.Count() {
		return fmt.Errorf("the instances applied %d migrations between them, want each of %d once", total, migrations.Count())
	}
	return nil
}

// startInstance starts instance n of bin on a free port, without waiting.
func (s *setup) startInstance(bin string, n int) error {
	port, err := child.FreePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "--addr", addr, "--log-format", "json")
	// nginx connects from 127.0.0.1: its X-Forwarded-For names the
	// client, whose address the per-address login limit must count.
	// The load registers users from that one client, far more often than
	// people do.
	cmd.Env = append(os.Environ(), "DATABASE_URL="+s.db.URL("postgres"), "MICROBLOG_TRUSTED_PROXIES=127.0.0.1",
		"MICROBLOG_REGISTER_PER_ADDRESS=1000000")
	c, err := child.Start(fmt.Sprintf("instance %d", n), cmd,
		child.Options{LogPath: filepath.Join(s.dir, fmt.Sprintf("instance%d.log", n))})
	if err != nil {
		return err
	}
	s.instances = append(s.instances, c)
	s.upstreams = append(s.upstreams, addr)
	return nil
}

// startNginx starts nginx in front of the instances and waits until it
// serves /api.
func (s *setup) startNginx(ctx context.Context, nginx string) error {
	s.nginxDir = filepath.Join(s.dir, "nginx")
	port, err := child.FreePort()
	if err != nil {
		return err
	}
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	confPath, err := writeNginxConf(s.nginxDir, listen, s.upstreams)
	if err != nil {
		return err
	}
	cmd := exec.Command(nginx, "-p", s.nginxDir, "-c", confPath, "-e", filepath.Join(s.nginxDir, "error.log"))
	// SIGQUIT is nginx's graceful shutdown; should this program die,
	// SIGTERM, its fast one, will do.
	s.proxy, err = child.Start("nginx", cmd, child.Options{LogPath: filepath.Join(s.nginxDir, "nginx.out"),
		Quit: syscall.SIGQUIT, DeathSignal: syscall.SIGTERM})
	if err != nil {
		return err
	}
	s.base = "http://" + listen
	if err := s.proxy.WaitOK(ctx, s.base+"/api", readyTimeout); err != nil {
		return fmt.Errorf("%w\n%s", err, child.Tail(filepath.Join(s.nginxDir, "error.log")))
	}
	s.say("nginx %s on %s/api, config %s", nginx, s.base, confPath)
	return nil
}

// putLoad logs in through nginx, puts the load on, kills instance 1
// halfway, and reports what the clients saw and what nginx did.
func (s *setup) putLoad(ctx context.Context, cfg config) error {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.workers}}
	token, err := registerAndLogIn(ctx, client, s.base)
	if err != nil {
		return err
	}
	s.say("registered and logged in through nginx")

	s.say("load: %d workers for %s; SIGKILL to instance 1 after %s", cfg.workers, cfg.duration, cfg.duration/2)
	accessLog := filepath.Join(s.nginxDir, "access.log")
	// Only the load's lines of the access log are counted.
	fi, err := os.Stat(accessLog)
	if err != nil {
		return err
	}
	l := &load{client: client, base: s.base, token: token}
	killAt, err := l.runKilling(ctx, cfg, s.instances[0])
	if err != nil {
		return err
	}
	// nginx writes its access log line once a request is done, which it
	// is; the log is complete.
	byUpstream, retried, err := upstreamCounts(accessLog, fi.Size(), s.upstreams)
	if err != nil {
		return err
	}
	tookEffect, err := l.registeredAnyway(ctx, s.db.URL("postgres"))
	if err != nil {
		return err
	}
	return l.report(s.out, killAt, byUpstream, retried, tookEffect)
}

// findNginx returns the path of the nginx binary, or errNoNginx.
func findNginx() (string, error) {
	if fi, err := os.Stat(debianNginx); err == nil && fi.Mode().IsRegular() {
		return debianNginx, nil
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	return "", errNoNginx
}

// writeNginxConf writes the nginx configuration into dir and returns its
// path.
func writeNginxConf(dir, listen string, upstreams []string) (string, error) {
	tmpl, err := template.New("nginx.conf").Parse(nginxConf)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "nginx.conf")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	err = tmpl.Execute(f, struct {
		Dir       string
		Listen    string
		Upstreams []string
	}{dir, listen, upstreams})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return path, err
}

// migrationsApplied counts the "migration applied" lines in each
// instance's log.
func migrationsApplied(children []*child.Process) ([]int, error) {
	var counts []int
	for _, c := range children {
		f, err := os.Open(c.LogPath)
		if err != nil {
			return nil, err
		}
		n := 0
		s := bufio.NewScanner(f)
		for s.Scan() {
			var line struct{ Msg string }
			if json.Unmarshal(s.Bytes(), &line) == nil && line.Msg == "migration applied" {
				n++
			}
		}
		f.Close()
		if err := s.Err(); err != nil {
			return nil, err
		}
		counts = append(counts, n)
	}
	return counts, nil
}

// registerAndLogIn registers the user the load acts as and returns a
// token for it.
func registerAndLogIn(ctx context.Context, client *http.Client, base string) (string, error) {
	body := `{"username": "loadtester", "email": "loadtester@example.com", "password": "correct horse battery"}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/users", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if _, err := expect(client, req, http.StatusCreated); err != nil {
		return "", fmt.Errorf("register: %w", err)
	}
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/tokens", nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth("loadtester", "correct horse battery")
	raw, err := expect(client, req, http.StatusOK)
	if err != nil {
		return "", fmt.Errorf("log in: %w", err)
	}
	var tok struct{ Token string }
	if err := json.Unmarshal(raw, &tok); err != nil || tok.Token == "" {
		return "", fmt.Errorf("log in: no token in %s", raw)
	}
	return tok.Token, nil
}

// expect sends req and returns the body if the status is want.
func expect(client *http.Client, req *http.Request, want int) ([]byte, error) {
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %d, want %d: %s", req.Method, req.URL.Path, res.StatusCode, want, raw)
	}
	return raw, nil
}

// load sends requests through nginx and counts what came back.
type load struct {
	client *http.Client
	base   string
	token  string

	mu       sync.Mutex
	byStatus map[string]int // "GET 200", "POST error"
	failures []failure
	started  time.Time
	total    int
}

// failure is a request whose client saw something other than success.
type failure struct {
	at         time.Time
	idempotent bool
	what       string
	// username is the user a failed registration asked for.
	username string
}

// call is one kind of request of the load.
type call struct {
	method, path string
	want         int
}

// run sends requests from workers until ctx ends. Every tenth request is
// a registration; the rest are GETs.
func (l *load) run(ctx context.Context, workers int) {
	l.byStatus = map[string]int{}
	l.started = time.Now()
	gets := []call{{http.MethodGet, "/api", http.StatusOK}, {http.MethodGet, "/api/users", http.StatusOK},
		{http.MethodGet, "/api/me", http.StatusOK}}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				c := gets[n%len(gets)]
				var body, username string
				if n%10 == 9 {
					c = call{http.MethodPost, "/api/users", http.StatusCreated}
					username = fmt.Sprintf("w%dn%d", w, n)
					body = fmt.Sprintf(`{"username": %q, "email": "%s@example.com", "password": "correct horse battery"}`, username, username)
				}
				l.send(c, body, username)
			}
		})
	}
	wg.Wait()
}

// runKilling runs the load for cfg.duration and kills victim halfway; it
// returns the time set for the kill.
func (l *load) runKilling(ctx context.Context, cfg config, victim *child.Process) (time.Time, error) {
	killAt := time.Now().Add(cfg.duration / 2)
	killed := make(chan error, 1)
	go func() {
		select {
		case <-time.After(time.Until(killAt)):
			killed <- victim.Kill()
		case <-ctx.Done():
			killed <- nil
		}
	}()
	loadCtx, cancel := context.WithTimeout(ctx, cfg.duration)
	l.run(loadCtx, cfg.workers)
	cancel()
	if err := <-killed; err != nil {
		return killAt, fmt.Errorf("killing %s: %w", victim.Name, err)
	}
	if err := ctx.Err(); err != nil {
		return killAt, fmt.Errorf("interrupted: %w", err)
	}
	return killAt, nil
}

// send sends one request and records the outcome; username is that of a
// registration.
func (l *load) send(c call, body, username string) {
	req, err := http.NewRequest(c.method, l.base+c.path, strings.NewReader(body))
	if err != nil {
		panic(err) // the method and URL are this program's own
	}
	req.Header.Set("Accept", "application/hal+json")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.method == http.MethodGet && c.path != "/api" {
		req.Header.Set("Authorization", "Bearer "+l.token)
	}
	// The request is not bound to ctx: one in flight when the load ends
	// finishes, so that no failure is made up.
	res, err := l.client.Do(req)
	status := "error"
	var detail string
	if err == nil {
		raw, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		res.Body.Close()
		status = fmt.Sprint(res.StatusCode)
		if res.StatusCode != c.want {
			detail = fmt.Sprintf("%d %s", res.StatusCode, strings.TrimSpace(string(raw)))
		}
	} else {
		detail = err.Error()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total++
	l.byStatus[c.method+" "+status]++
	if detail != "" {
		l.failures = append(l.failures, failure{at: time.Now(), idempotent: c.method != http.MethodPost,
			what: c.method + " " + c.path + ": " + detail, username: username})
	}
}

// report prints what the clients saw and returns an error if any
// idempotent request failed.
func (l *load) report(w io.Writer, killAt time.Time, byUpstream map[string]int, retried int, tookEffect int) error {
	elapsed := time.Since(l.started)
	fmt.Fprintf(w, "\nreport: %d requests in %s (%.0f/s)\n", l.total, elapsed.Round(time.Millisecond),
		float64(l.total)/elapsed.Seconds())
	fmt.Fprintln(w, "requests by method and status:")
	for _, k := range slices.Sorted(maps.Keys(l.byStatus)) {
		fmt.Fprintf(w, "  %-12s %d\n", k, l.byStatus[k])
	}
	fmt.Fprintln(w, "answered by (nginx access log):")
	for _, k := range slices.Sorted(maps.Keys(byUpstream)) {
		fmt.Fprintf(w, "  %-22s %d\n", k, byUpstream[k])
	}
	fmt.Fprintf(w, "  moved to the other instance by nginx: %d\n", retried)
	var idem, nonIdem []failure
	for _, f := range l.failures {
		if f.idempotent {
			idem = append(idem, f)
		} else {
			nonIdem = append(nonIdem, f)
		}
	}
	fmt.Fprintf(w, "client-visible failures of idempotent requests (GET): %d (target 0)\n", len(idem))
	listFailures(w, idem, killAt)
	fmt.Fprintf(w, "client-visible failures of non-idempotent requests (POST): %d\n", len(nonIdem))
	listFailures(w, nonIdem, killAt)
	if len(nonIdem) > 0 {
		fmt.Fprintf(w, "  of which %d took effect all the same (the user exists): a POST in flight to the killed\n"+
			"  instance may have, so nginx does not send it again, and the client must find out\n", tookEffect)
	}
	if len(idem) > 0 {
		return fmt.Errorf("%d idempotent requests failed", len(idem))
	}
	return nil
}

// registeredAnyway counts the failed registrations whose user exists.
func (l *load) registeredAnyway(ctx context.Context, dbURL string) (int, error) {
	var names []string
	for _, f := range l.failures {
		if f.username != "" {
			names = append(names, f.username)
		}
	}
	if len(names) == 0 {
		return 0, nil
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM users WHERE username = ANY($1)`, names).Scan(&n)
	return n, err
}

// listFailures prints the first failures, with their time from the kill.
func listFailures(w io.Writer, failures []failure, killAt time.Time) {
	const shown = 10
	for _, f := range failures[:min(len(failures), shown)] {
		what, _, _ := strings.Cut(f.what, "\n")
		fmt.Fprintf(w, "  %+.3fs from the kill: %.200s\n", f.at.Sub(killAt).Seconds(), what)
	}
	if len(failures) > shown {
		fmt.Fprintf(w, "  and %d more\n", len(failures)-shown)
	}
}

// upstreamCounts reads nginx's access log from offset from: requests by the instance that
// answered them, and how many nginx moved to another instance.
func upstreamCounts(path string, from int64, upstreams []string) (map[string]int, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return nil, 0, err
	}
	names := map[string]string{}
	for i, u := range upstreams {
		names[u] = fmt.Sprintf("instance %d (%s)", i+1, u)
	}
	counts := map[string]int{}
	retried := 0
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Split(s.Text(), "\t")
		if len(fields) < 3 {
			continue
		}
		// "$upstream_addr" lists every instance tried, the last one
		// answering.
		tried := strings.Split(fields[2], ", ")
		if len(tried) > 1 {
			retried++
		}
		last := strings.TrimSpace(tried[len(tried)-1])
		if n, ok := names[last]; ok {
			last = n
		}
		counts[last]++
	}
	return counts, retried, s.Err()
}
