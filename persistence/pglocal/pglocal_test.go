package pglocal

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"microblog/persistence/pglocal/child"
)

func TestStartRestart(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	var log bytes.Buffer
	opts := Options{DataDir: dir, Log: &log}

	began := time.Now()
	s := start(t, opts)
	t.Logf("first start (initdb + postgres): %s", time.Since(began))

	if got := query(t, s, "SELECT 1::text"); got != "1" {
		t.Errorf("SELECT 1 = %q, want 1", got)
	}
	if got := query(t, s, "SHOW server_encoding"); got != "UTF8" {
		t.Errorf("server_encoding = %q, want UTF8", got)
	}
	query(t, s, "CREATE TABLE kept AS SELECT 'before restart' AS v; SELECT 'created'")
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	// Stop has waited for the server's output to be copied, so log is
	// safe to read.
	if !strings.Contains(log.String(), "database system is ready to accept connections") {
		t.Errorf("Options.Log did not get the server's log; got:\n%s", log.String())
	}

	began = time.Now()
	s = start(t, opts)
	t.Logf("second start (existing data dir): %s", time.Since(began))

	if got := query(t, s, "SELECT v FROM kept"); got != "before restart" {
		t.Errorf("after restart, kept holds %q, want %q", got, "before restart")
	}
}

// TestStartFixedPort stops a cluster and starts it again on the port it
// had, as a client that keeps its URL expects.
func TestStartFixedPort(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	port := unusedPort(t)
	opts := Options{DataDir: dir, Port: port}

	s := start(t, opts)
	if s.port != port {
		t.Fatalf("port = %d, want %d", s.port, port)
	}
	url := s.URL("postgres")
	if want := fmt.Sprintf("port=%d", port); !strings.Contains(url, want) {
		t.Errorf("URL() = %q, want it to contain %q", url, want)
	}
	query(t, s, "CREATE TABLE kept AS SELECT 'before restart' AS v; SELECT 'created'")
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}

	s = start(t, opts)
	if s.URL("postgres") != url {
		t.Errorf("after restart, URL() = %q, want %q", s.URL("postgres"), url)
	}
	if got := query(t, s, "SELECT v FROM kept"); got != "before restart" {
		t.Errorf("after restart, kept holds %q, want %q", got, "before restart")
	}
}

func TestStartBadPort(t *testing.T) {
	t.Parallel()
	for _, port := range []int{-1, 65536} {
		s, err := Start(t.Context(), Options{DataDir: filepath.Join(t.TempDir(), "data"), Port: port})
		if err == nil {
			_ = s.Stop()
			t.Errorf("Start with Port %d succeeded", port)
		}
	}
}

func TestStartAlreadyRunning(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	s := start(t, Options{DataDir: dir})

	second, err := Start(t.Context(), Options{DataDir: dir})
	if err == nil {
		_ = second.Stop() // the test has failed already; this only cleans up
		t.Fatal("second Start on a running data dir succeeded, want an error")
	}
	if want := "another PostgreSQL is already running on " + dir; !strings.Contains(err.Error(), want) {
		t.Errorf("second Start error = %q, want it to contain %q", err, want)
	}
	if got := query(t, s, "SELECT 'still up'"); got != "still up" {
		t.Errorf("first server after the failed second Start: got %q", got)
	}
}

// TestStartLongDataDir starts a cluster whose socket would not fit in its
// data dir: the socket goes to a private directory of its own, removed
// when the server stops.
func TestStartLongDataDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 100))
	s := start(t, Options{DataDir: dir})

	socket := s.Socket()
	if len(socket) > maxSocketPath || strings.HasPrefix(socket, dir) {
		t.Errorf("Socket() = %q, want a path of at most %d bytes outside the data dir", socket, maxSocketPath)
	}
	fi, err := os.Stat(filepath.Dir(socket))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("socket dir: %v, %v; want mode 0700", fi.Mode(), err)
	}
	if got := query(t, s, "SELECT 1::text"); got != "1" {
		t.Errorf("SELECT 1 = %q, want 1", got)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(socket)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket dir after Stop: %v, want it removed", err)
	}
}

func TestChooseBinDir(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	// bin makes root/name/bin holding the given executables.
	bin := func(name string, files ...string) string {
		dir := filepath.Join(root, name, "bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(dir, f), nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	v96 := bin("9.6", "postgres", "initdb")
	v15 := bin("15", "postgres", "initdb")
	v16 := bin("16", "postgres", "initdb")
	v17 := bin("17", "initdb") // client-only: no server
	libpq := bin("libpq", "pg_config")
	notExec := bin("18", "initdb")
	if err := os.WriteFile(filepath.Join(notExec, "postgres"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		preferred  string
		candidates []string
		want       string
		wantErr    error
	}{
		{"pg_config wins", v96, []string{v15, v16}, v96, nil},
		{"pg_config without server", libpq, []string{v15, v16, v96}, v16, nil},
		{"no pg_config", "", []string{v16, v15}, v16, nil},
		{"numeric not lexical order", "", []string{v15, v96}, v15, nil},
		{"newest lacks server", "", []string{v96, v17, notExec, v15}, v15, nil},
		{"only old", "", []string{v17, v96}, v96, nil},
		{"missing dir", filepath.Join(root, "nope"), []string{filepath.Join(root, "20", "bin"), v15}, v15, nil},
		{"none", libpq, []string{v17, notExec}, "", ErrNoBinaries},
		{"empty", "", nil, "", ErrNoBinaries},
	}
	for _, tt := range tests {
		got, err := chooseBinDir(tt.preferred, tt.candidates)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: error = %v, want %v", tt.name, err, tt.wantErr)
		}
		if got != tt.want {
			t.Errorf("%s: chooseBinDir = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestErrNoBinariesIsOneLine(t *testing.T) {
	t.Parallel()
	if strings.Contains(ErrNoBinaries.Error(), "\n") {
		t.Errorf("ErrNoBinaries spans several lines: %q", ErrNoBinaries)
	}
}

// start starts a throwaway server and stops it when the test ends.
func start(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

// unusedPort returns a 127.0.0.1 port that was free a moment ago.
func unusedPort(t *testing.T) int {
	t.Helper()
	port, err := child.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// query runs sql (one or more statements) on s's postgres database and
// returns the text value in the last row it yields.
func query(t *testing.T, s *Server, sql string) string {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	// The simple protocol allows several statements in one call.
	results, err := conn.PgConn().Exec(ctx, sql).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	last := results[len(results)-1]
	if len(last.Rows) == 0 {
		t.Fatalf("%s: no rows", sql)
	}
	return string(last.Rows[len(last.Rows)-1][0])
}
