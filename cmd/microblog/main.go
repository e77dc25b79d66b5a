// Command microblog serves the microblog HAL API.
//
// Usage:
//
//	microblog [serve] [flags]   serve the API (the default)
//	microblog migrate [flags]   apply the database migrations and exit
//	microblog seed [flags]      fill an empty database with demo data
//
// Every flag has an environment variable; run "microblog -h" for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/net/netutil"

	"microblog/migrations"
	"microblog/persistence"
	"microblog/persistence/mail"
	"microblog/persistence/pglocal"
	"microblog/resources"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "microblog:", err)
		os.Exit(1)
	}
}

// config is every setting of the binary.
type config struct {
	addr                 string
	adminAddr            string
	maxConnections       int
	databaseURL          string
	dataDir              string
	tokenTTL             time.Duration
	minPasswordLength    int
	logFormat            string
	trustForwardedPrefix bool
	shutdownTimeout      time.Duration
	shutdownDelay        time.Duration
	drainWindow          time.Duration
	requestTimeout       time.Duration
	requireIfMatch       bool
	corsOrigins          []string
	trustedProxies       []string
	loginPerUser         int
	loginPerAccount      int
	loginPerAddress      int
	registerPerAddress   int
	resetPerAddress      int
	resetPerEmail        int
	streamHeartbeat      time.Duration
	streamsPerUser       int
	maxStreams           int
	smtpURL              string
	mailFrom             string
	resetTTL             time.Duration
	jobTimeout           time.Duration
	seed                 persistence.SeedOptions
	argon2               argon2id.Params
	hashConcurrency      int
}

// parseFlags reads the settings from args and, for each setting not on the
// command line, from its environment variable in getenv (see envNames).
func parseFlags(name string, seed bool, args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	var raw rawSettings
	defineFlags(fs, &cfg, &raw)
	env := envNames(fs) // the seed's flags, defined below, have none
	if seed {
		defineSeedFlags(fs, &cfg.seed)
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	errs := setFromEnv(fs, env, getenv)
	if seed && (cfg.seed.Users < 1 || cfg.seed.FollowsPerUser < 0 || cfg.seed.PostsPerUser < 0 || cfg.seed.CelebrityFollowers < 0 ||
		cfg.seed.LikesPerUser < 0 || cfg.seed.HotPostLikes < 0 || cfg.seed.RepliesPercent < 0 || cfg.seed.RepliesPercent > 100) {
		errs = append(errs, errors.New("--users must be at least 1, --replies-percent at most 100, and the other counts not negative"))
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	if err := cfg.check(raw); err != nil {
		errs = append(errs, err)
	}
	def := argon2id.DefaultParams
	cfg.corsOrigins = splitList(raw.corsOrigins)
	cfg.trustedProxies = splitList(raw.trustedProxies)
	cfg.argon2 = argon2id.Params{Memory: uint32(raw.memory), Iterations: uint32(raw.iterations),
		Parallelism: uint8(raw.parallelism), SaltLength: def.SaltLength, KeyLength: def.KeyLength}
	return cfg, errors.Join(errs...)
}

// rawSettings are the flags that config holds in another form.
type rawSettings struct {
	corsOrigins, trustedProxies     string
	memory, iterations, parallelism int
}

// defineFlags defines the flags of every command on fs.
func defineFlags(fs *flag.FlagSet, cfg *config, raw *rawSettings) {
	def := argon2id.DefaultParams
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&cfg.adminAddr, "admin-addr", "", "address to serve /metrics, /healthz and /readyz on, and not on --addr; empty serves them on --addr")
	fs.IntVar(&cfg.maxConnections, "max-connections", 1024, "open connections to --addr at most; more wait to be accepted")
	fs.StringVar(&cfg.databaseURL, "database-url", "", "PostgreSQL URL; empty starts a private PostgreSQL in --data-dir")
	fs.StringVar(&cfg.dataDir, "data-dir", ".data", "where the private PostgreSQL keeps its data")
	fs.DurationVar(&cfg.tokenTTL, "token-ttl", time.Hour, "how long a token lasts")
	fs.IntVar(&cfg.minPasswordLength, "min-password-length", 8, "shortest password accepted")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "text or json")
	fs.BoolVar(&cfg.trustForwardedPrefix, "trust-forwarded-prefix", false, "prefix hrefs with a proxy's X-Forwarded-Prefix")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 15*time.Second, "how long in-flight requests may take to finish on SIGTERM")
	fs.DurationVar(&cfg.shutdownDelay, "shutdown-delay", 0, "on SIGTERM, how long to keep serving with /readyz failing before stopping, for a load balancer to notice")
	fs.DurationVar(&cfg.drainWindow, "drain-window", time.Second, "on SIGTERM, after --shutdown-delay, how long open connections may still send a request, answered with Connection: close")
	fs.DurationVar(&cfg.requestTimeout, "request-timeout", 3*time.Second, "the longest an API request may work, waiting for the database included, before a 503; each database statement may take four fifths of it")
	fs.BoolVar(&cfg.requireIfMatch, "require-if-match", false, "refuse a PUT, PATCH or DELETE without If-Match or If-Unmodified-Since with 428")
	fs.StringVar(&raw.corsOrigins, "cors-origins", "", "comma-separated origins allowed by CORS; empty turns CORS off")
	fs.StringVar(&raw.trustedProxies, "trusted-proxies", "", "comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For is believed")
	fs.IntVar(&cfg.loginPerUser, "login-per-user", 10, "logins a minute per username from one client address, in bursts of half as many")
	fs.IntVar(&cfg.loginPerAccount, "login-per-account", 60, "logins a minute per username from all addresses together, in bursts of half as many")
	fs.IntVar(&cfg.loginPerAddress, "login-per-address", 60, "logins a minute per client address, in bursts of a third as many")
	fs.IntVar(&cfg.registerPerAddress, "register-per-address", 60, "registrations a minute per client address, in bursts of a third as many")
	fs.IntVar(&cfg.resetPerAddress, "reset-per-address", 10, "password reset mails an hour that one client address may ask for, in bursts of half as many")
	fs.IntVar(&cfg.resetPerEmail, "reset-per-email", 5, "password reset mails an hour to one email address, in bursts of 3 at most")
	fs.DurationVar(&cfg.streamHeartbeat, "stream-heartbeat", 15*time.Second, "how often a live stream of notifications gets a comment line and its token is checked again; a write to a stream may take as long")
	fs.IntVar(&cfg.streamsPerUser, "streams-per-user", 4, "live streams of notifications one user may have open at once")
	fs.IntVar(&cfg.maxStreams, "max-streams", 512, "live streams of notifications open at once, at most; each holds a connection of --max-connections")
	fs.StringVar(&cfg.smtpURL, "smtp-url", "", "SMTP server mail is sent through, smtp://[user:password@]host[:port] (STARTTLS when offered) or smtps://...; empty writes each mail to <data-dir>/outbox/")
	fs.StringVar(&cfg.mailFrom, "mail-from", "Microblog <microblog@localhost>", "the sender of the server's mails")
	fs.DurationVar(&cfg.resetTTL, "reset-ttl", time.Hour, "how long a password reset token lasts")
	fs.DurationVar(&cfg.jobTimeout, "job-timeout", persistence.DefaultJobTimeout, "how long one attempt at a background job (a mail, an export) may run; a job of an instance that died runs again after one and a half times this")
	fs.IntVar(&raw.memory, "argon2-memory", int(def.Memory), "argon2id memory per hash, KiB")
	fs.IntVar(&raw.iterations, "argon2-iterations", int(def.Iterations), "argon2id passes")
	fs.IntVar(&raw.parallelism, "argon2-parallelism", int(def.Parallelism), "argon2id lanes")
	fs.IntVar(&cfg.hashConcurrency, "hash-concurrency", runtime.NumCPU(), "password hashes run at once, at most")
}

// defineSeedFlags defines the flags of the seed command on fs.
func defineSeedFlags(fs *flag.FlagSet, opts *persistence.SeedOptions) {
	fs.IntVar(&opts.Users, "users", 1000, "users to create")
	fs.IntVar(&opts.FollowsPerUser, "follows-per-user", 10, "users each user follows, at random")
	fs.IntVar(&opts.PostsPerUser, "posts-per-user", 1, "posts of each user")
	fs.IntVar(&opts.CelebrityFollowers, "celebrity-followers", 0, "users who follow the first user, besides the random follows")
	fs.IntVar(&opts.RepliesPercent, "replies-percent", 10, "percent of posts that reply to an earlier post")
	fs.IntVar(&opts.LikesPerUser, "likes-per-user", 2, "posts of others each user likes, at random")
	fs.IntVar(&opts.HotPostLikes, "hot-post-likes", 0, "users who like the first user's newest post, besides the random likes")
	fs.Uint64Var(&opts.Seed, "seed", 1, "random seed: the same seed, the same data")
}

// envNames names the environment variable of each flag defined on fs so
// far, and adds it to the flag's usage: MICROBLOG_ and the flag's name in
// capitals with underscores, such as MICROBLOG_TOKEN_TTL for --token-ttl,
// except DATABASE_URL, the name other PostgreSQL tools use.
func envNames(fs *flag.FlagSet) map[string]string {
	names := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		key := "MICROBLOG_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if f.Name == "database-url" {
			key = "DATABASE_URL"
		}
		names[f.Name] = key
		f.Usage += " (" + key + ")"
	})
	return names
}

// setFromEnv sets each flag of fs that has an environment variable in env
// and was not on the command line from getenv, when that is not empty.
func setFromEnv(fs *flag.FlagSet, env map[string]string, getenv func(string) string) []error {
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		key, ok := env[f.Name]
		if !ok || onCommandLine[f.Name] {
			return
		}
		if v := getenv(key); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("invalid value %q for %s: %w", v, key, err))
			}
		}
	})
	return errs
}

// check says what is wrong with the settings, the first thing found.
func (cfg *config) check(raw rawSettings) error {
	switch {
	case cfg.requestTimeout <= 0 || cfg.shutdownDelay < 0 || cfg.drainWindow < 0:
		return errors.New("--request-timeout must be positive, and --shutdown-delay and --drain-window not negative")
	case cfg.tokenTTL <= 0:
		return errors.New("--token-ttl must be positive")
	case cfg.minPasswordLength < 1 || cfg.minPasswordLength > 256:
		return errors.New("--min-password-length must be 1 to 256")
	case cfg.logFormat != "text" && cfg.logFormat != "json":
		return errors.New("--log-format must be text or json")
	case raw.memory < 8*raw.parallelism || raw.memory > 4<<20 || raw.iterations < 1 || raw.parallelism < 1 || raw.parallelism > 255:
		return errors.New("argon2id settings out of range (memory >= 8*parallelism KiB, iterations >= 1, parallelism 1..255)")
	case cfg.hashConcurrency < 1:
		return errors.New("--hash-concurrency must be at least 1")
	case cfg.maxConnections < 1:
		return errors.New("--max-connections must be at least 1")
	case cfg.loginPerUser < 1 || cfg.loginPerAccount < 1 || cfg.loginPerAddress < 1 || cfg.registerPerAddress < 1:
		return errors.New("--login-per-user, --login-per-account, --login-per-address and --register-per-address must be at least 1")
	case cfg.streamHeartbeat <= 0 || cfg.streamsPerUser < 1 || cfg.maxStreams < 1:
		return errors.New("--stream-heartbeat must be positive, and --streams-per-user and --max-streams at least 1")
	case cfg.resetTTL <= 0 || cfg.resetPerAddress < 1 || cfg.resetPerEmail < 1:
		return errors.New("--reset-ttl must be positive, and --reset-per-address and --reset-per-email at least 1")
	case cfg.jobTimeout <= 0:
		return errors.New("--job-timeout must be positive")
	}
	return nil
}

// splitList splits a comma-separated setting, dropping empty elements.
func splitList(s string) []string {
	var list []string
	for e := range strings.SplitSeq(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			list = append(list, e)
		}
	}
	return list
}

// run is the whole program: main only adds the process around it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && (args[0] == "serve" || args[0] == "migrate" || args[0] == "seed") {
		cmd, args = args[0], args[1:]
	}
	cfg, err := parseFlags("microblog "+cmd, cmd == "seed", args, getenv, stderr)
	if err != nil {
		return err
	}
	var handler slog.Handler = slog.NewTextHandler(stdout, nil)
	if cfg.logFormat == "json" {
		handler = slog.NewJSONHandler(stdout, nil)
	}
	log := slog.New(handler)
	url, stopDatabase, err := database(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer stopDatabase()
	var statementTimeout time.Duration
	if cmd == "serve" {
		// Below the request's own bound, so that a statement ends in the
		// database before its request gives up on it; migrations and the
		// seed run unbounded.
		statementTimeout = cfg.requestTimeout * 4 / 5
	}
	pool, err := openPool(ctx, url, statementTimeout)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := migrate(ctx, pool, log); err != nil {
		return err
	}
	if cmd == "migrate" {
		return nil
	}
	store, err := newStore(pool, cfg, getenv)
	if err != nil {
		return err
	}
	if cmd == "seed" {
		return seed(ctx, store, cfg.seed, stdout)
	}
	return serveStore(ctx, cfg, store, pool, log)
}

// serveStore serves the API over store until ctx ends, with the job queue
// worked and the notifications of pool's database listened for meanwhile.
func serveStore(ctx context.Context, cfg config, store *persistence.Store, pool *pgxpool.Pool, log *slog.Logger) error {
	var draining atomic.Bool
	listener := persistence.NewListener(pool.Config().ConnConfig, func(err error) {
		log.Warn("listening for notifications", "err", err)
	})
	changes := persistence.NewChanges(pool, func(err error) {
		log.Warn("reading the database's changes", "err", err)
	})
	api, admin, err := newHandlers(store, cfg, listener, changes, &draining, log)
	if err != nil {
		return err
	}
	stopJobs, err := startJobs(ctx, store, cfg, log)
	if err != nil {
		return err
	}
	defer stopJobs()
	stopListening := startRunning(ctx, listener.Run)
	defer stopListening()
	stopReadingChanges := startRunning(ctx, changes.Run)
	defer stopReadingChanges()
	return serve(ctx, cfg, api, admin, &draining, stopListening, log)
}

// startJobs starts working the job queue, sending mail as cfg says; stop
// lets running jobs finish for at most cfg.shutdownTimeout, then cancels
// them (another instance, or this one restarted, works them again).
func startJobs(ctx context.Context, store *persistence.Store, cfg config, log *slog.Logger) (stop func(), err error) {
	var mailer persistence.Mailer
	if cfg.smtpURL != "" {
		mailer, err = mail.NewSMTP(cfg.smtpURL, cfg.mailFrom)
	} else {
		mailer, err = mail.NewOutbox(filepath.Join(cfg.dataDir, "outbox"), cfg.mailFrom, log)
	}
	if err != nil {
		return nil, err
	}
	stopJobs, err := store.StartJobs(ctx, persistence.JobSettings{Mailer: mailer, ResetTTL: cfg.resetTTL, Logger: log,
		SMTP: cfg.smtpURL != "", JobTimeout: cfg.jobTimeout})
	if err != nil {
		return nil, err
	}
	return func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.shutdownTimeout)
		defer cancel()
		if err := stopJobs(stopCtx); err != nil {
			log.Error("stopping the job queue", "err", err)
		}
	}, nil
}

// startRunning runs run (the listener of notifications, the reader of
// changes) until stop is called; stop waits for it to end. The listener's
// end ends the live streams of notifications.
func startRunning(ctx context.Context, run func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(ctx)
	}()
	return sync.OnceFunc(func() {
		cancel()
		<-done
	})
}

// database returns the URL of the database: cfg.databaseURL, or else that
// of a private PostgreSQL it starts in cfg.dataDir. stop stops what it
// started.
func database(ctx context.Context, cfg config, log *slog.Logger) (url string, stop func(), err error) {
	if cfg.databaseURL != "" {
		return cfg.databaseURL, func() {}, nil
	}
	start := time.Now()
	srv, err := pglocal.Start(ctx, pglocal.Options{DataDir: cfg.dataDir, Fsync: true})
	if err != nil {
		return "", nil, err
	}
	// The socket is the only way in: no TCP port, and for this OS user only.
	log.Info("private PostgreSQL started", "data_dir", cfg.dataDir, "socket", srv.Socket(),
		"duration_ms", time.Since(start).Milliseconds())
	return srv.URL("postgres"), func() {
		if err := srv.Stop(); err != nil {
			log.Error("stopping the private PostgreSQL", "err", err)
		}
	}, nil
}

// openPool opens a connection pool to the database at url whose
// statements stop after statementTimeout (0: never).
func openPool(ctx context.Context, url string, statementTimeout time.Duration) (*pgxpool.Pool, error) {
	poolCfg, err := persistence.PoolConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	persistence.SetStatementTimeout(poolCfg, statementTimeout)
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	return pool, nil
}

// newStore returns the store over pool, hashing passwords as cfg says.
func newStore(pool *pgxpool.Pool, cfg config, getenv func(string) string) (*persistence.Store, error) {
	if getenv("GOMEMLIMIT") == "" {
		// Each running hash holds argon2 memory; garbage from finished ones
		// would otherwise pile up to twice the live heap before the
		// collector runs. A soft limit of twice the hashing slots' memory,
		// plus room for the rest, keeps a login flood's RSS near that.
		slots := int64(cfg.hashConcurrency) * int64(cfg.argon2.Memory) << 10
		debug.SetMemoryLimit(2*slots + 128<<20)
	}
	hasher, err := persistence.NewHasher(&cfg.argon2, cfg.hashConcurrency)
	if err != nil {
		return nil, err
	}
	return persistence.NewStore(pool, hasher), nil
}

// newHandlers returns the API's router over store, as cfg says, and with
// --admin-addr the router of /metrics, /healthz and /readyz (else nil:
// the API's router serves them).
func newHandlers(store *persistence.Store, cfg config, listener *persistence.Listener, changes *persistence.Changes,
	draining *atomic.Bool, log *slog.Logger) (api, admin http.Handler, err error) {
	gin.SetMode(gin.ReleaseMode)
	rc := resources.Config{
		TokenTTL:             cfg.tokenTTL,
		MinPasswordLength:    cfg.minPasswordLength,
		TrustForwardedPrefix: cfg.trustForwardedPrefix,
		RequireIfMatch:       cfg.requireIfMatch,
		CORSOrigins:          cfg.corsOrigins,
		RequestTimeout:       cfg.requestTimeout,
		Draining:             draining,
		TrustedProxies:       cfg.trustedProxies,
		LoginPerUser:         resources.RateLimit{Events: cfg.loginPerUser, Period: time.Minute, Burst: max(cfg.loginPerUser/2, 1)},
		LoginPerAccount:      resources.RateLimit{Events: cfg.loginPerAccount, Period: time.Minute, Burst: max(cfg.loginPerAccount/2, 1)},
		LoginPerAddress:      resources.RateLimit{Events: cfg.loginPerAddress, Period: time.Minute, Burst: max(cfg.loginPerAddress/3, 1)},
		RegisterPerAddress:   resources.RateLimit{Events: cfg.registerPerAddress, Period: time.Minute, Burst: max(cfg.registerPerAddress/3, 1)},
		ResetPerAddress:      resources.RateLimit{Events: cfg.resetPerAddress, Period: time.Hour, Burst: max(cfg.resetPerAddress/2, 1)},
		ResetPerEmail:        resources.RateLimit{Events: cfg.resetPerEmail, Period: time.Hour, Burst: min(cfg.resetPerEmail, 3)},
		Notifications:        listener,
		Changes:              changes,
		StreamHeartbeat:      cfg.streamHeartbeat,
		StreamsPerUser:       cfg.streamsPerUser,
		MaxStreams:           cfg.maxStreams,
		Logger:               log,
	}
	if cfg.adminAddr != "" {
		return resources.NewHandlers(store, rc)
	}
	api, err = resources.NewHandler(store, rc)
	return api, nil, err
}

// migrate applies the migrations and logs what it applied.
func migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	// A migration may take longer than any request: it runs on connections
	// of its own, as the pool makes them but without its statement timeout.
	connCfg := pool.Config().ConnConfig
	delete(connCfg.RuntimeParams, "statement_timeout")
	db := stdlib.OpenDB(*connCfg)
	defer db.Close()
	results, err := migrations.Up(ctx, db)
	if err != nil {
		return err
	}
	for _, r := range results {
		log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path)
	}
	return nil
}

// serve runs the HTTP servers until ctx ends: the API's on cfg.addr, with
// at most cfg.maxConnections open connections, and admin's, when not nil,
// on cfg.adminAddr. Then it fails /readyz and keeps serving for
// cfg.shutdownDelay, so that a load balancer stops sending requests first;
// drains the API's connections (see drain), which ends the live streams of
// notifications with stopStreams; and lets requests still in flight finish
// for at most cfg.shutdownTimeout.
func serve(ctx context.Context, cfg config, api, admin http.Handler, draining *atomic.Bool, stopStreams func(),
	log *slog.Logger) error {
	servers, err := listen(cfg, api, admin, log)
	if err != nil {
		return err
	}
	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() { errc <- s.Serve(s.ln) }()
	}
	select {
	case err := <-errc:
		return errors.Join(err, closeAll(servers))
	case <-ctx.Done():
	}
	draining.Store(true)
	if cfg.shutdownDelay > 0 {
		log.Info("draining", "delay", cfg.shutdownDelay.String())
		select {
		case <-time.After(cfg.shutdownDelay):
		case err := <-errc:
			return errors.Join(err, closeAll(servers))
		}
	}
	log.Info("shutting down")
	servers[0].drain(cfg.drainWindow, stopStreams)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.shutdownTimeout)
	defer cancel()
	// The API's first: /readyz keeps answering while its requests finish.
	var errs []error
	for _, s := range servers {
		s.SetKeepAlivesEnabled(false)
		errs = append(errs, s.Shutdown(shutdownCtx))
	}
	return errors.Join(errs...)
}

// server is an HTTP server, its listener, and its connections.
type server struct {
	*http.Server
	ln    *stoppableListener
	conns *connections
}

// drain ends s's connections without an error a client could see: it
// stops accepting (new connections are refused, and nothing was sent on
// them); answers every request from then on with Connection: close, after
// which the connection closes; ends the event streams with stopStreams;
// and waits up to window for the open connections to close so. A
// keep-alive client that sends its next request meanwhile gets its answer,
// where closing its idle connection (http.Server.Shutdown) could meet that
// request on the wire. What is still open after window is idle since
// before it began, or busy: Shutdown closes the one and lets the other
// finish, with keep-alives off so that its answer says Connection: close.
func (s server) drain(window time.Duration, stopStreams func()) {
	// In this order: a client that connects again after an answer with
	// Connection: close must find the listener closed, not sit in its
	// queue when it closes, which resets the connection.
	s.ln.stop()
	s.conns.closing.Store(true)
	stopStreams()
	deadline := time.Now().Add(window)
	for s.conns.open.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

// connections counts a server's open connections and, once closing is
// set, asks each response to close its connection.
type connections struct {
	open    atomic.Int64
	closing atomic.Bool
}

// track is the server's ConnState hook.
func (c *connections) track(_ net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew:
		c.open.Add(1)
	case http.StateClosed, http.StateHijacked:
		c.open.Add(-1)
	}
}

// handler is h with Connection: close on its responses once closing is
// set.
func (c *connections) handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.closing.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// stoppableListener is a listener that drain closes before
// http.Server.Shutdown does: the second Close does nothing, where a
// net.Listener's would fail.
type stoppableListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *stoppableListener) stop() {
	l.once.Do(func() { l.err = l.Listener.Close() })
}

func (l *stoppableListener) Close() error {
	l.stop()
	return l.err
}

// listen opens the listeners of serve, the API's first, and says where it
// serves.
func listen(cfg config, api, admin http.Handler, log *slog.Logger) ([]server, error) {
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, err
	}
	// Connections past the limit wait in the kernel's queue until one
	// closes: held connections cannot take the process's memory.
	servers := []server{newServer(api, netutil.LimitListener(ln, cfg.maxConnections), log)}
	where := []any{"url", "http://" + ln.Addr().String() + "/api"}
	if admin != nil {
		adminLn, err := net.Listen("tcp", cfg.adminAddr)
		if err != nil {
			ln.Close()
			return nil, err
		}
		servers = append(servers, newServer(admin, adminLn, log))
		where = append(where, "admin_url", "http://"+adminLn.Addr().String())
	}
	log.Info("serving", where...)
	return servers, nil
}

// newServer returns an HTTP server of h on ln with the timeouts that keep
// slow clients from holding connections.
func newServer(h http.Handler, ln net.Listener, log *slog.Logger) server {
	conns := &connections{}
	return server{
		Server: &http.Server{
			Handler:           conns.handler(h),
			ConnState:         conns.track,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		ln:    &stoppableListener{Listener: ln},
		conns: conns,
	}
}

// closeAll closes the servers at once, after one has failed.
func closeAll(servers []server) error {
	var errs []error
	for _, s := range servers {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}
