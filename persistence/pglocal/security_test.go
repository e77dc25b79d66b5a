package pglocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// oldHBA is the pg_hba.conf that "initdb --auth=trust" wrote for earlier
// versions of pglocal, which also listened on 127.0.0.1.
const oldHBA = `local   all             all                                     trust
host    all             all             127.0.0.1/32            trust
host    all             all             ::1/128                 trust
local   replication     all                                     trust
host    replication     all             127.0.0.1/32            trust
host    replication     all             ::1/128                 trust
`

// TestOtherUsersRefused starts a private server and tries it as another OS
// user, nobody: over TCP on its port nothing listens, the socket's
// directory cannot be entered, and with the way opened by hand the server
// still refuses nobody.
func TestOtherUsersRefused(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(reachableDir(t), "data")
	// A port of its own: another server may listen on 5432.
	s := start(t, Options{DataDir: dir, Port: unusedPort(t)})
	checkOnlyThisUser(t, s, dir)
}

// TestOldDataDirClosed starts a server on a data dir made the old way,
// which trusted every local connection: the start closes it, and the data
// is kept.
func TestOldDataDirClosed(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(reachableDir(t), "data")
	opts := Options{DataDir: dir, Port: unusedPort(t)}
	s := start(t, opts)
	query(t, s, "CREATE TABLE kept AS SELECT 'before' AS v; SELECT 'created'")
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pg_hba.conf"), []byte(oldHBA), 0o600); err != nil {
		t.Fatal(err)
	}

	s = start(t, opts)
	if got := query(t, s, "SELECT v FROM kept"); got != "before" {
		t.Errorf("kept holds %q, want %q", got, "before")
	}
	checkOnlyThisUser(t, s, dir)
}

// checkOnlyThisUser checks that s, whose socket is in dir, takes
// connections from this process's user only.
func checkOnlyThisUser(t *testing.T, s *Server, dir string) {
	t.Helper()
	if got := query(t, s, "SHOW listen_addresses"); got != "" {
		t.Errorf("listen_addresses = %q, want none", got)
	}
	rules := query(t, s, `SELECT string_agg(concat_ws(' ', type, database::text, user_name::text, auth_method), '; ')
		FROM pg_hba_file_rules`)
	if rules != "local {all} {postgres} peer" {
		t.Errorf("pg_hba.conf rules: %q, want only local {all} {postgres} peer", rules)
	}
	tcp := fmt.Sprintf("127.0.0.1:%d", s.port)
	if conn, err := net.DialTimeout("tcp", tcp, time.Second); err == nil {
		conn.Close()
		t.Errorf("something listens on %s", tcp)
	}
	if os.Geteuid() != 0 {
		t.Log("not root: cannot try the server as nobody")
		return
	}
	port := strconv.Itoa(s.port)
	psqlAsNobody(t, "Connection refused", "-h", "127.0.0.1", "-p", port)
	psqlAsNobody(t, "Permission denied", "-h", dir, "-p", port)
	// Opened by hand, the way to the socket still leads nowhere.
	socket := filepath.Join(dir, ".s.PGSQL."+port)
	for path, mode := range map[string]os.FileMode{dir: 0o711, socket: 0o777} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(path, fi.Mode().Perm())
	}
	psqlAsNobody(t, `authentication failed for user "postgres"`, "-h", dir, "-p", port)
}

// psqlAsNobody runs psql with args as the OS user nobody, and fails t
// unless psql fails with want in its output.
func psqlAsNobody(t *testing.T, want string, args ...string) {
	t.Helper()
	psql := psqlPath(t)
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.ParseUint(nobody.Uid, 10, 32)
	gid, _ := strconv.ParseUint(nobody.Gid, 10, 32)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, psql, append([]string{"-X", "-w", "-U", "postgres", "-d", "postgres",
		"-c", "SELECT 'connected as ' || current_user"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	cmd.Dir = "/"
	cmd.Env = []string{"LC_ALL=C", "HOME=/nonexistent", "PGCONNECT_TIMEOUT=5"}
	out, err := cmd.CombinedOutput()
	t.Logf("psql %s as nobody: %v\n%s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	if err == nil || !strings.Contains(string(out), want) {
		t.Errorf("psql %s as nobody: %v, want a failure saying %q", strings.Join(args, " "), err, want)
	}
}

// psqlPath returns the psql next to the server binaries, or on PATH.
func psqlPath(t *testing.T) string {
	t.Helper()
	bin, err := findBinDir(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if path := filepath.Join(bin, "psql"); hasServer(bin) {
		if _, err := os.Stat(path); err == nil {
			return path
		}
	}
	path, err := exec.LookPath("psql")
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDataDirRefused gives Start data dirs it must not use: each is
// refused in one line that names it, and nothing on the way changes.
func TestDataDirRefused(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	target := filepath.Join(tmp, "target")
	mkdir(t, target, 0o755)
	link := filepath.Join(tmp, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(tmp, "open")
	mkdir(t, open, 0o777)
	tests := []struct {
		name, dir, want string
	}{
		{"symbolic link", link, "is a symbolic link"},
		{"under a world-writable directory", filepath.Join(open, "data"), "is under " + open + ", which anyone may write to"},
		{"below one", filepath.Join(open, "a", "b", "data"), "which anyone may write to"},
	}
	if os.Geteuid() == 0 {
		foreign := filepath.Join(tmp, "foreign")
		mkdir(t, foreign, 0o700)
		if err := os.Chown(foreign, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		tests = append(tests, struct{ name, dir, want string }{"owned by nobody", foreign, "refusing a directory someone else prepared"})
	}
	for _, tt := range tests {
		s, err := Start(t.Context(), Options{DataDir: tt.dir})
		if err == nil {
			_ = s.Stop()
			t.Errorf("%s: Start succeeded", tt.name)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.dir) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %q, want one line naming %s and saying %q", tt.name, err, tt.dir, tt.want)
		}
	}
	checkMode(t, target, 0o755)
	checkMode(t, open, 0o777)
	if _, err := os.Stat(filepath.Join(open, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s/a: %v, want it not created", open, err)
	}
}

// TestParentsUnchanged starts a cluster below a directory only its owner
// may enter: it runs, though as root the server runs as postgres, and that
// directory keeps its mode.
func TestParentsUnchanged(t *testing.T) {
	t.Parallel()
	private := filepath.Join(t.TempDir(), "private")
	mkdir(t, private, 0o700)
	s := start(t, Options{DataDir: filepath.Join(private, "data")})
	if got := query(t, s, "SELECT 1::text"); got != "1" {
		t.Errorf("SELECT 1 = %q, want 1", got)
	}
	checkMode(t, private, 0o700)
}

// TestLogKeepsValuesOut makes statements fail on a unique key: the server's
// log says so, but names neither the key's value nor the statement.
func TestLogKeepsValuesOut(t *testing.T) {
	t.Parallel()
	var log bytes.Buffer
	s := start(t, Options{DataDir: filepath.Join(t.TempDir(), "data"), Log: &log})
	query(t, s, "CREATE TABLE people (email text UNIQUE); SELECT 'created'")
	conn, err := pgconn.Connect(t.Context(), s.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_, err = conn.ExecParams(t.Context(), "INSERT INTO people VALUES ($1)", [][]byte{[]byte("alice@example.com")}, nil, nil, nil).Close()
	}
	_, err2 := conn.Exec(t.Context(), "INSERT INTO people VALUES ('alice@example.com')").ReadAll()
	conn.Close(t.Context())
	if err == nil || err2 == nil {
		t.Fatalf("the second inserts: %v, %v; want unique violations", err, err2)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	// Stop has waited for the log to be copied.
	got := log.String()
	if !strings.Contains(got, "duplicate key value violates unique constraint") {
		t.Errorf("the log does not report the violations:\n%s", got)
	}
	for _, leak := range []string{"alice@example.com", "INSERT INTO", "DETAIL", "STATEMENT"} {
		if strings.Contains(got, leak) {
			t.Errorf("the log contains %q:\n%s", leak, got)
		}
	}
}

// reachableDir returns a new directory that every user may enter (but not
// list), removed when t ends, so that only the data dir's own mode keeps
// another user from the socket in it.
func reachableDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pglocal-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Error(err)
		}
	})
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	return dir
}

// mkdir makes the directory path with mode, whatever the umask.
func mkdir(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(path, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// checkMode fails t unless path has mode.
func checkMode(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != mode {
		t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), mode)
	}
}
