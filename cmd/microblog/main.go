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
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"

	"microblog/migrations"
	"microblog/persistence"
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
	databaseURL          string
	dataDir              string
	tokenTTL             time.Duration
	minPasswordLength    int
	logFormat            string
	trustForwardedPrefix bool
	shutdownTimeout      time.Duration
	shutdownDelay        time.Duration
	requestTimeout       time.Duration
	requireIfMatch       bool
	corsOrigins          []string
	trustedProxies       []string
	loginPerUser         int
	loginPerAddress      int
	seed                 persistence.SeedOptions
	argon2               argon2id.Params
	hashConcurrency      int
}

// parseFlags reads the settings from args, with defaults from getenv.
func parseFlags(name string, seed bool, args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	var cfg config
	var errs []error
	durationEnv := func(key string, def time.Duration) time.Duration {
		d, err := time.ParseDuration(env(key, def.String()))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
		return d
	}
	intEnv := func(key string, def int) int {
		n, err := strconv.Atoi(env(key, strconv.Itoa(def)))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
		return n
	}
	boolEnv := func(key string) bool {
		b, err := strconv.ParseBool(env(key, "false"))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
		return b
	}
	var corsOrigins, trustedProxies string
	def := argon2id.DefaultParams
	var memory, iterations, parallelism int
	fs.StringVar(&cfg.addr, "addr", env("MICROBLOG_ADDR", "127.0.0.1:8080"), "address to listen on (MICROBLOG_ADDR)")
	fs.StringVar(&cfg.databaseURL, "database-url", env("DATABASE_URL", ""), "PostgreSQL URL; empty starts a private PostgreSQL in --data-dir (DATABASE_URL)")
	fs.StringVar(&cfg.dataDir, "data-dir", env("MICROBLOG_DATA_DIR", ".data"), "where the private PostgreSQL keeps its data (MICROBLOG_DATA_DIR)")
	fs.DurationVar(&cfg.tokenTTL, "token-ttl", durationEnv("MICROBLOG_TOKEN_TTL", time.Hour), "how long a token lasts (MICROBLOG_TOKEN_TTL)")
	fs.IntVar(&cfg.minPasswordLength, "min-password-length", intEnv("MICROBLOG_MIN_PASSWORD_LENGTH", 8), "shortest password accepted (MICROBLOG_MIN_PASSWORD_LENGTH)")
	fs.StringVar(&cfg.logFormat, "log-format", env("MICROBLOG_LOG_FORMAT", "text"), "text or json (MICROBLOG_LOG_FORMAT)")
	fs.BoolVar(&cfg.trustForwardedPrefix, "trust-forwarded-prefix", boolEnv("MICROBLOG_TRUST_FORWARDED_PREFIX"), "prefix hrefs with a proxy's X-Forwarded-Prefix (MICROBLOG_TRUST_FORWARDED_PREFIX)")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", durationEnv("MICROBLOG_SHUTDOWN_TIMEOUT", 15*time.Second), "how long in-flight requests may take to finish on SIGTERM (MICROBLOG_SHUTDOWN_TIMEOUT)")
	fs.DurationVar(&cfg.shutdownDelay, "shutdown-delay", durationEnv("MICROBLOG_SHUTDOWN_DELAY", 0), "on SIGTERM, how long to keep serving with /readyz failing before stopping, for a load balancer to notice (MICROBLOG_SHUTDOWN_DELAY)")
	fs.DurationVar(&cfg.requestTimeout, "request-timeout", durationEnv("MICROBLOG_REQUEST_TIMEOUT", 3*time.Second), "the longest an API request may work, waiting for the database included, before a 503 (MICROBLOG_REQUEST_TIMEOUT)")
	fs.BoolVar(&cfg.requireIfMatch, "require-if-match", boolEnv("MICROBLOG_REQUIRE_IF_MATCH"), "refuse a PUT, PATCH or DELETE without If-Match with 428 (MICROBLOG_REQUIRE_IF_MATCH)")
	fs.StringVar(&corsOrigins, "cors-origins", env("MICROBLOG_CORS_ORIGINS", ""), "comma-separated origins allowed by CORS; empty turns CORS off (MICROBLOG_CORS_ORIGINS)")
	fs.StringVar(&trustedProxies, "trusted-proxies", env("MICROBLOG_TRUSTED_PROXIES", ""), "comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For is believed (MICROBLOG_TRUSTED_PROXIES)")
	fs.IntVar(&cfg.loginPerUser, "login-per-user", intEnv("MICROBLOG_LOGIN_PER_USER", 10), "logins a minute per username, in bursts of half as many (MICROBLOG_LOGIN_PER_USER)")
	fs.IntVar(&cfg.loginPerAddress, "login-per-address", intEnv("MICROBLOG_LOGIN_PER_ADDRESS", 60), "logins a minute per client address, in bursts of a third as many (MICROBLOG_LOGIN_PER_ADDRESS)")
	fs.IntVar(&memory, "argon2-memory", intEnv("MICROBLOG_ARGON2_MEMORY", int(def.Memory)), "argon2id memory per hash, KiB (MICROBLOG_ARGON2_MEMORY)")
	fs.IntVar(&iterations, "argon2-iterations", intEnv("MICROBLOG_ARGON2_ITERATIONS", int(def.Iterations)), "argon2id passes (MICROBLOG_ARGON2_ITERATIONS)")
	fs.IntVar(&parallelism, "argon2-parallelism", intEnv("MICROBLOG_ARGON2_PARALLELISM", int(def.Parallelism)), "argon2id lanes (MICROBLOG_ARGON2_PARALLELISM)")
	fs.IntVar(&cfg.hashConcurrency, "hash-concurrency", intEnv("MICROBLOG_HASH_CONCURRENCY", runtime.NumCPU()), "password hashes run at once, at most (MICROBLOG_HASH_CONCURRENCY)")
	if seed {
		fs.IntVar(&cfg.seed.Users, "users", 1000, "users to create")
		fs.IntVar(&cfg.seed.FollowsPerUser, "follows-per-user", 10, "users each user follows, at random")
		fs.IntVar(&cfg.seed.PostsPerUser, "posts-per-user", 1, "posts of each user")
		fs.IntVar(&cfg.seed.CelebrityFollowers, "celebrity-followers", 0, "users who follow the first user, besides the random follows")
		fs.Uint64Var(&cfg.seed.Seed, "seed", 1, "random seed: the same seed, the same data")
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if seed && (cfg.seed.Users < 1 || cfg.seed.FollowsPerUser < 0 || cfg.seed.PostsPerUser < 0 || cfg.seed.CelebrityFollowers < 0) {
		errs = append(errs, errors.New("--users must be at least 1, and the other counts not negative"))
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	switch {
	case cfg.requestTimeout <= 0 || cfg.shutdownDelay < 0:
		errs = append(errs, errors.New("--request-timeout must be positive and --shutdown-delay not negative"))
	case cfg.tokenTTL <= 0:
		errs = append(errs, errors.New("--token-ttl must be positive"))
	case cfg.minPasswordLength < 1 || cfg.minPasswordLength > 256:
		errs = append(errs, errors.New("--min-password-length must be 1 to 256"))
	case cfg.logFormat != "text" && cfg.logFormat != "json":
		errs = append(errs, errors.New("--log-format must be text or json"))
	case memory < 8*parallelism || memory > 4<<20 || iterations < 1 || parallelism < 1 || parallelism > 255:
		errs = append(errs, errors.New("argon2id settings out of range (memory >= 8*parallelism KiB, iterations >= 1, parallelism 1..255)"))
	case cfg.hashConcurrency < 1:
		errs = append(errs, errors.New("--hash-concurrency must be at least 1"))
	case cfg.loginPerUser < 1 || cfg.loginPerAddress < 1:
		errs = append(errs, errors.New("--login-per-user and --login-per-address must be at least 1"))
	}
	cfg.corsOrigins = splitList(corsOrigins)
	cfg.trustedProxies = splitList(trustedProxies)
	cfg.argon2 = argon2id.Params{Memory: uint32(memory), Iterations: uint32(iterations),
		Parallelism: uint8(parallelism), SaltLength: def.SaltLength, KeyLength: def.KeyLength}
	return cfg, errors.Join(errs...)
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

	url := cfg.databaseURL
	if url == "" {
		start := time.Now()
		srv, err := pglocal.Start(ctx, pglocal.Options{DataDir: cfg.dataDir, Fsync: true})
		if err != nil {
			return err
		}
		defer func() {
			if err := srv.Stop(); err != nil {
				log.Error("stopping the private PostgreSQL", "err", err)
			}
		}()
		url = srv.URL("postgres")
		log.Info("private PostgreSQL started", "data_dir", cfg.dataDir, "port", srv.Port(),
			"duration_ms", time.Since(start).Milliseconds())
	}
	poolCfg, err := persistence.PoolConfig(url)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	if err := migrate(ctx, pool, log); err != nil {
		return err
	}
	if cmd == "migrate" {
		return nil
	}
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
		return err
	}
	store := persistence.NewStore(pool, hasher)
	if cmd == "seed" {
		return seed(ctx, store, cfg.seed, stdout)
	}
	gin.SetMode(gin.ReleaseMode)
	var draining atomic.Bool
	h, err := resources.NewHandler(store, resources.Config{
		TokenTTL:             cfg.tokenTTL,
		MinPasswordLength:    cfg.minPasswordLength,
		TrustForwardedPrefix: cfg.trustForwardedPrefix,
		RequireIfMatch:       cfg.requireIfMatch,
		CORSOrigins:          cfg.corsOrigins,
		RequestTimeout:       cfg.requestTimeout,
		Draining:             &draining,
		TrustedProxies:       cfg.trustedProxies,
		LoginPerUser:         resources.RateLimit{Events: cfg.loginPerUser, Period: time.Minute, Burst: max(cfg.loginPerUser/2, 1)},
		LoginPerAddress:      resources.RateLimit{Events: cfg.loginPerAddress, Period: time.Minute, Burst: max(cfg.loginPerAddress/3, 1)},
		Logger:               log,
	})
	if err != nil {
		return err
	}
	return serve(ctx, cfg, h, &draining, log)
}

// seedPassword is the password of every seeded user; it is printed.
const seedPassword = "seed-password"

// seed fills the database with demo data, showing progress as a bar on a
// terminal and as plain lines elsewhere.
func seed(ctx context.Context, store *persistence.Store, opts persistence.SeedOptions, out io.Writer) error {
	opts.Password = seedPassword
	start := time.Now()
	f, isFile := out.(*os.File)
	var progress persistence.SeedProgress
	if isFile && isatty.IsTerminal(f.Fd()) {
		bars := map[string]*progressbar.ProgressBar{}
		progress = func(stage string, done, total int64) {
			bar, ok := bars[stage]
			if !ok {
				bar = progressbar.NewOptions64(total, progressbar.OptionSetDescription(stage),
					progressbar.OptionSetWriter(out), progressbar.OptionShowCount(), progressbar.OptionOnCompletion(func() {
						fmt.Fprintln(out)
					}))
				bars[stage] = bar
			}
			_ = bar.Set64(done)
		}
	} else {
		last := map[string]int64{}
		progress = func(stage string, done, total int64) {
			tenth := done * 10 / max(total, 1)
			if prev, ok := last[stage]; ok && tenth == prev && done != total {
				return
			}
			last[stage] = tenth
			fmt.Fprintf(out, "seed: %s %d/%d (%s)\n", stage, done, total, time.Since(start).Round(time.Millisecond))
		}
	}
	if err := store.Seed(ctx, opts, progress); err != nil {
		return err
	}
	fmt.Fprintf(out, "seeded %d users (seed1 to seed%d, password %q), %d follows each, %d posts each, %d celebrity followers of seed1, in %s\n",
		opts.Users, opts.Users, seedPassword, opts.FollowsPerUser, opts.PostsPerUser, opts.CelebrityFollowers,
		time.Since(start).Round(time.Millisecond))
	return nil
}

// migrate applies the migrations and logs what it applied.
func migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	db := stdlib.OpenDBFromPool(pool)
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

// serve runs the HTTP server until ctx ends. Then it fails /readyz and
// keeps serving for cfg.shutdownDelay, so that a load balancer stops
// sending requests first, and lets in-flight requests finish for at most
// cfg.shutdownTimeout.
func serve(ctx context.Context, cfg config, h http.Handler, draining *atomic.Bool, log *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("serving", "url", "http://"+ln.Addr().String()+"/api")
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	draining.Store(true)
	if cfg.shutdownDelay > 0 {
		log.Info("draining", "delay", cfg.shutdownDelay.String())
		select {
		case <-time.After(cfg.shutdownDelay):
		case err := <-errc:
			return err
		}
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.shutdownTimeout)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
