package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"microblog/migrations"
	"microblog/persistence/pglocal"
)

// syncBuffer is a bytes.Buffer safe for the server's logger and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

var servingURL = regexp.MustCompile(`msg=serving url=(\S+)`)

// startRun runs the program as "go run ./cmd/microblog" would, and returns
// the URL of its API once it serves, and a function that stops it and
// returns what run returned.
func startRun(t *testing.T, args []string, env map[string]string) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, envOf(env), out, io.Discard) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m := servingURL.FindStringSubmatch(out.String()); m != nil {
			return m[1], func() error { cancel(); return <-done }
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("run ended before serving: %v\n%s", err, out)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("not serving after a minute:\n%s", out)
		}
	}
}

// TestZeroConfig is the README's first command: no DATABASE_URL, a private
// PostgreSQL in the data dir, migrated, serving; reached over its socket in
// the data dir, with no TCP port; stopped with the server; and reused by the
// next start.
func TestZeroConfig(t *testing.T) {
	dataDir := t.TempDir() + "/data"
	args := []string{"--addr", "127.0.0.1:0", "--data-dir", dataDir, "--argon2-memory", "64", "--argon2-parallelism", "1"}
	var pgURL string
	for i, name := range []string{"first start", "second start"} {
		start := time.Now()
		api, stop := startRun(t, args, nil)
		t.Logf("%s: serving after %s", name, time.Since(start).Round(time.Millisecond))

		res, err := http.Post(api+"/users", "application/json",
			strings.NewReader(fmt.Sprintf(`{"username": "u%d", "email": "u%d@example.com", "password": "12345678"}`, i, i)))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("%s: register: %d", name, res.StatusCode)
		}
		pgURL = findPGURL(t, dataDir)
		port := pgPort(t, dataDir)
		if conn, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s: something listens on 127.0.0.1:%s, the private PostgreSQL's port", name, port)
		}
		if i == 1 {
			var n int
			conn, err := pgx.Connect(t.Context(), pgURL)
			if err != nil {
				t.Fatal(err)
			}
			if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM users`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			conn.Close(t.Context())
			if n != 2 {
				t.Errorf("users after the second start: %d, want 2 (the data dir is kept)", n)
			}
		}
		if err := stop(); err != nil {
			t.Fatalf("%s: run returned %v", name, err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		conn, err := pgx.Connect(ctx, pgURL)
		cancel()
		if err == nil {
			conn.Close(t.Context())
			t.Errorf("%s: the private PostgreSQL still runs after the server stopped", name)
		}
	}
}

// findPGURL returns the URL of the private PostgreSQL, whose socket is in
// dataDir.
func findPGURL(t *testing.T, dataDir string) string {
	t.Helper()
	query := url.Values{"host": {dataDir}, "port": {pgPort(t, dataDir)}, "sslmode": {"disable"}}
	return "postgres://postgres@/postgres?" + query.Encode()
}

// pgPort reads the port, the number in the socket's name, of the private
// PostgreSQL from its pid file.
func pgPort(t *testing.T, dataDir string) string {
	t.Helper()
	raw, err := os.ReadFile(dataDir + "/postmaster.pid")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	if len(lines) < 4 {
		t.Fatalf("postmaster.pid: %q", raw)
	}
	return strings.TrimSpace(lines[3])
}

// TestMigrateConcurrently starts three "microblog migrate" against one empty
// database at once: the advisory lock makes them take turns, and all end
// well.
func TestMigrateConcurrently(t *testing.T) {
	srv, err := pglocal.Start(t.Context(), pglocal.Options{DataDir: t.TempDir() + "/pg"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	env := map[string]string{"DATABASE_URL": srv.URL("postgres")}
	errs := make(chan error, 3)
	for range 3 {
		go func() { errs <- run(t.Context(), []string{"migrate"}, envOf(env), io.Discard, io.Discard) }()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Errorf("migrate: %v", err)
		}
	}
	conn, err := pgx.Connect(t.Context(), srv.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var applied int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != migrations.Count() {
		t.Errorf("migrations recorded: %d, want %d, each once", applied, migrations.Count())
	}
}

func TestFlags(t *testing.T) {
	cfg, err := parseFlags("microblog", false, nil, envOf(map[string]string{
		"MICROBLOG_ADDR": ":9999", "MICROBLOG_TOKEN_TTL": "2h", "DATABASE_URL": "postgres://x/y",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.addr != ":9999" || cfg.tokenTTL != 2*time.Hour || cfg.databaseURL != "postgres://x/y" || cfg.dataDir != ".data" ||
		cfg.adminAddr != "" || cfg.maxConnections != 1024 {
		t.Errorf("settings from the environment: %+v", cfg)
	}
	cfg, err = parseFlags("microblog", false, nil, envOf(map[string]string{
		"MICROBLOG_ADMIN_ADDR": "127.0.0.1:9090", "MICROBLOG_MAX_CONNECTIONS": "64",
	}), io.Discard)
	if err != nil || cfg.adminAddr != "127.0.0.1:9090" || cfg.maxConnections != 64 {
		t.Errorf("listener settings from the environment: %+v, %v", cfg, err)
	}
	cfg, err = parseFlags("microblog", false, []string{"--addr", ":1", "--min-password-length", "12"},
		envOf(map[string]string{"MICROBLOG_ADDR": ":9999"}), io.Discard)
	if err != nil || cfg.addr != ":1" || cfg.minPasswordLength != 12 {
		t.Errorf("flags over the environment: %+v, %v", cfg, err)
	}
	cfg, err = parseFlags("microblog", false, []string{"--login-per-account", "90"},
		envOf(map[string]string{"MICROBLOG_REGISTER_PER_ADDRESS": "7"}), io.Discard)
	if err != nil || cfg.loginPerAccount != 90 || cfg.registerPerAddress != 7 || cfg.loginPerUser != 10 {
		t.Errorf("login and registration limits: %+v, %v", cfg, err)
	}
	cfg, err = parseFlags("microblog", false, []string{"--drain-window", "250ms"},
		envOf(map[string]string{"MICROBLOG_JOB_TIMEOUT": "5m"}), io.Discard)
	if err != nil || cfg.drainWindow != 250*time.Millisecond || cfg.jobTimeout != 5*time.Minute {
		t.Errorf("the drain window and the job timeout: %+v, %v", cfg, err)
	}
	if cfg, _ := parseFlags("microblog", false, nil, envOf(nil), io.Discard); cfg.drainWindow != time.Second ||
		cfg.jobTimeout != time.Minute {
		t.Errorf("the drain window and the job timeout by default: %v, %v", cfg.drainWindow, cfg.jobTimeout)
	}
	for _, bad := range [][]string{
		{"--token-ttl", "0s"}, {"--min-password-length", "0"}, {"--log-format", "xml"},
		{"--argon2-memory", "1"}, {"--hash-concurrency", "0"}, {"--max-connections", "0"}, {"--no-such-flag"}, {"stray"},
		{"--login-per-account", "0"}, {"--register-per-address", "0"}, {"--drain-window", "-1s"}, {"--job-timeout", "0s"},
	} {
		if _, err := parseFlags("microblog", false, bad, envOf(nil), io.Discard); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
	if _, err := parseFlags("microblog", false, nil, envOf(map[string]string{"MICROBLOG_TOKEN_TTL": "soon"}), io.Discard); err == nil {
		t.Error("MICROBLOG_TOKEN_TTL=soon: accepted")
	}
	if err := run(t.Context(), []string{"-h"}, envOf(nil), io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

// TestListeners runs the server with --admin-addr and --max-connections 2:
// a third connection waits until one of two closes; /metrics, /healthz
// and /readyz are on the admin listener alone; both listeners close when
// the server stops.
func TestListeners(t *testing.T) {
	adminAddr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	api, stop := startRun(t, []string{"--addr", "127.0.0.1:0", "--admin-addr", adminAddr, "--max-connections", "2",
		"--data-dir", t.TempDir() + "/data", "--argon2-memory", "64", "--argon2-parallelism", "1"}, nil)
	origin := strings.TrimSuffix(api, "/api")
	checkConnectionCap(t, strings.TrimPrefix(origin, "http://"))

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	for _, c := range []struct {
		url  string
		want int
	}{
		{origin + "/metrics", 404}, {origin + "/healthz", 404}, {origin + "/readyz", 404}, {api, 200},
		{"http://" + adminAddr + "/metrics", 200}, {"http://" + adminAddr + "/healthz", 200},
		{"http://" + adminAddr + "/readyz", 200}, {"http://" + adminAddr + "/api", 404},
	} {
		res, err := client.Get(c.url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != c.want {
			t.Errorf("GET %s: %d, want %d", c.url, res.StatusCode, c.want)
		}
		if strings.HasSuffix(c.url, adminAddr+"/metrics") && !strings.Contains(string(body), `route="/api",status="200"`) {
			t.Errorf("the admin listener's metrics do not count the API's requests:\n%.2000s", body)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("run returned %v", err)
	}
	for _, addr := range []string{strings.TrimPrefix(origin, "http://"), adminAddr} {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after the server stopped", addr)
		}
	}
}

// checkConnectionCap holds the two connections that addr accepts, and sees
// a third get its answer only once one of them closes.
func checkConnectionCap(t *testing.T, addr string) {
	t.Helper()
	var held []net.Conn
	for range 3 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		held = append(held, conn)
	}
	third := held[2]
	fmt.Fprint(third, "GET /api HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	_ = third.SetReadDeadline(time.Now().Add(time.Second))
	r := bufio.NewReader(third)
	if res, err := http.ReadResponse(r, nil); err == nil {
		t.Fatalf("a third connection is served while two are open: %d", res.StatusCode)
	}
	held[0].Close()
	start := time.Now()
	_ = third.SetReadDeadline(time.Now().Add(3 * time.Second))
	res, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("the third connection is not served once the first closed: %v", err)
	}
	res.Body.Close()
	t.Logf("the third connection: answered %d %s after the first closed", res.StatusCode, time.Since(start).Round(time.Millisecond))
}
