// Package pglocal runs a private PostgreSQL server from the machine's own
// server binaries. cmd/microblog uses it when no DATABASE_URL is given (with
// a data directory kept between runs), and pgtest uses it for a throwaway
// cluster when TEST_DATABASE_URL is not set.
package pglocal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"microblog/persistence/pglocal/child"
)

const (
	defaultStartTimeout = 30 * time.Second
	stopTimeout         = 10 * time.Second
	// initdbGrace bounds the wait for an interrupted initdb to clean up.
	initdbGrace = 5 * time.Second
	pingTimeout = time.Second
	// portAttempts bounds the retries when the free port we picked is taken
	// by someone else before postgres binds it.
	portAttempts = 3
	// maxSocketPath is the longest path a Unix socket can have on Linux:
	// sun_path holds 108 bytes including the terminating NUL.
	maxSocketPath = 107
)

// ErrNoBinaries is returned when no PostgreSQL server binaries are found.
var ErrNoBinaries = errors.New("pglocal: no PostgreSQL server binaries found (looked in `pg_config --bindir` and /usr/lib/postgresql/*/bin): install PostgreSQL (apt-get install postgresql) or set DATABASE_URL")

// errPortInUse reports that postgres could not bind the port it was given.
var errPortInUse = errors.New("port already in use")

// Options configures Start.
type Options struct {
	// DataDir is the cluster's data directory. It is created if missing,
	// and initdb runs only when it holds no PG_VERSION.
	DataDir string
	// Fsync keeps the server's data safe from a machine crash; set it for
	// a data directory kept between runs. When false, for throwaway
	// clusters, fsync, synchronous_commit and full_page_writes are off.
	Fsync bool
	// Log receives the output of initdb and of the server; nil discards it.
	Log io.Writer
	// StartTimeout bounds the wait for the server to accept connections;
	// zero means 30 seconds.
	StartTimeout time.Duration
	// Port is the 127.0.0.1 TCP port to listen on; zero picks a free one.
	// A fixed port lets a cluster that is stopped and started again come
	// back where its clients expect it.
	Port int
}

// Server is a running PostgreSQL server started by Start.
type Server struct {
	dataDir string
	port    int
	proc    *child.Process

	stopOnce sync.Once
	stopErr  error
}

// Start runs initdb on opts.DataDir if it holds no cluster yet, starts a
// postgres server on 127.0.0.1, on opts.Port or a free port, and waits until
// it accepts connections. The server runs until Stop is called or this
// process dies.
//
// When running as root, initdb and postgres run as the "postgres" OS user
// (PostgreSQL refuses to run as root): the data directory is given to that
// user and every directory above it is made traversable.
//
// The server is tied to the OS thread that starts it (see package child), so
// Start must not run on a goroutine locked with runtime.LockOSThread.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.DataDir == "" {
		return nil, errors.New("pglocal: start: Options.DataDir is empty")
	}
	dir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("pglocal: start: %w", err)
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = defaultStartTimeout
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("pglocal: start: Options.Port %d is not a TCP port", opts.Port)
	}
	bin, err := findBinDir(ctx)
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	if err := prepareDataDir(dir, cred); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); errors.Is(err, fs.ErrNotExist) {
		if err := initdb(ctx, bin, dir, opts, cred); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("pglocal: start: %w", err)
	}
	if opts.Port != 0 {
		// The caller chose the port: another one would not do, so a port
		// in use is an error rather than a reason to try again.
		return launch(ctx, bin, dir, opts.Port, opts, cred)
	}
	for attempt := 1; ; attempt++ {
		port, err := child.FreePort()
		if err != nil {
			return nil, fmt.Errorf("pglocal: %w", err)
		}
		s, err := launch(ctx, bin, dir, port, opts, cred)
		if errors.Is(err, errPortInUse) && attempt < portAttempts {
			continue
		}
		return s, err
	}
}

// URL returns a connection URL for the database dbname on s, as the
// postgres superuser.
func (s *Server) URL(dbname string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, url.PathEscape(dbname))
}

// Port returns the TCP port s listens on.
func (s *Server) Port() int {
	return s.port
}

// Stop shuts the server down fast (SIGINT: open transactions are rolled back,
// then a checkpoint is written) and waits for it to exit, killing it if it
// has not exited after 10 seconds. Calling Stop again returns the first
// result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

// stop does the work of Stop, once.
func (s *Server) stop() error {
	if err := s.proc.Stop(stopTimeout); err != nil {
		return fmt.Errorf("pglocal: stop postgres: %w", err)
	}
	if err := s.proc.Wait(); err != nil {
		return fmt.Errorf("pglocal: stop: %w", err)
	}
	return nil
}

// launch starts postgres on port and waits until it accepts connections.
func launch(ctx context.Context, bin, dir string, port int, opts Options, cred *syscall.Credential) (*Server, error) {
	cmd := exec.Command(filepath.Join(bin, "postgres"), serverArgs(dir, port, opts.Fsync)...)
	cmd.Dir = dir
	// SIGINT is postgres's fast shutdown: open transactions are rolled
	// back, then a checkpoint is written.
	proc, err := child.Start("postgres", cmd, child.Options{Log: opts.Log, Quit: syscall.SIGINT, Credential: cred})
	if err != nil {
		return nil, fmt.Errorf("pglocal: %w", err)
	}
	s := &Server{dataDir: dir, port: port, proc: proc}
	if err := s.waitReady(ctx, opts.StartTimeout); err != nil {
		// The start-up failure is the error worth reporting; Stop only
		// makes sure no process is left behind.
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

// waitReady waits until s accepts connections, and explains the failures
// that have a known cause.
func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	err := s.proc.WaitReady(ctx, timeout, "an accepted connection", s.ping)
	if errors.Is(err, child.ErrExited) {
		output := s.proc.LastOutput()
		switch {
		case strings.Contains(output, "Address already in use"):
			return fmt.Errorf("pglocal: start postgres on port %d: %w", s.port, errPortInUse)
		case strings.Contains(output, `lock file "postmaster.pid" already exists`):
			return fmt.Errorf("pglocal: start postgres: another PostgreSQL is already running on %s", s.dataDir)
		}
	}
	if err != nil {
		return fmt.Errorf("pglocal: start: %w", err)
	}
	return nil
}

// ping connects to s once.
func (s *Server) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pglocal: ping: %w", err)
	}
	return conn.Close(ctx)
}

// serverArgs returns the postgres command line.
func serverArgs(dir string, port int, fsync bool) []string {
	args := []string{
		"-D", dir,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + socketDirs(dir, port),
		// Logs go to stderr, hence to Options.Log, not to files in dir.
		"-c", "logging_collector=off",
		"-c", "max_connections=200",
	}
	if !fsync {
		args = append(args,
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off")
	}
	return args
}

// socketDirs returns the unix_socket_directories setting that puts the socket
// in dir, or "" (TCP only) when the socket path would be too long.
func socketDirs(dir string, port int) string {
	if len(filepath.Join(dir, ".s.PGSQL."+strconv.Itoa(port))) > maxSocketPath {
		return ""
	}
	// The setting is a comma-separated list in which double quotes protect
	// a name and a doubled quote stands for one.
	return `"` + strings.ReplaceAll(dir, `"`, `""`) + `"`
}

// initdb creates a cluster in dir, with a C.UTF-8 locale or, where the
// machine does not know that locale, C.
func initdb(ctx context.Context, bin, dir string, opts Options, cred *syscall.Credential) error {
	output, err := runInitdb(ctx, bin, dir, "C.UTF-8", opts, cred)
	if err != nil && strings.Contains(output, "invalid locale name") {
		output, err = runInitdb(ctx, bin, dir, "C", opts, cred)
	}
	if err != nil {
		return fmt.Errorf("pglocal: initdb %s: %w; its last output:\n%s", dir, err, output)
	}
	return nil
}

// runInitdb runs initdb once and returns the end of its output.
func runInitdb(ctx context.Context, bin, dir, locale string, opts Options, cred *syscall.Credential) (string, error) {
	args := []string{"-D", dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=" + locale}
	if !opts.Fsync {
		args = append(args, "--no-sync")
	}
	// Interrupted, initdb removes what it created; killed, it would leave
	// a half-made cluster behind.
	cmd := child.Command(ctx, syscall.SIGINT, initdbGrace, filepath.Join(bin, "initdb"), args...)
	cmd.Dir = dir
	// Start keeps the end of the output for the error, and runs initdb as
	// cred; SIGINT is also what initdb gets should this process die.
	proc, err := child.Start("initdb", cmd, child.Options{Log: opts.Log, Quit: syscall.SIGINT, Credential: cred})
	if err != nil {
		return "", err
	}
	err = proc.Wait()
	return proc.LastOutput(), err
}

// serverCredential returns the credential to run PostgreSQL with: nil
// (this process's own) unless running as root, the postgres user when root.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pglocal: PostgreSQL refuses to run as root, and there is no postgres OS user to run it as instead: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pglocal: postgres user id %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pglocal: postgres group id %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// prepareDataDir creates dir with mode 0700 and, when cred is set, hands it
// to that user and opens the way to it.
func prepareDataDir(dir string, cred *syscall.Credential) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("pglocal: create data dir: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("pglocal: create data dir: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("pglocal: data dir mode: %w", err)
	}
	if cred == nil {
		return nil
	}
	if err := chownTree(dir, int(cred.Uid), int(cred.Gid)); err != nil {
		return err
	}
	return openParents(dir)
}

// chownTree gives dir and everything in it to uid and gid.
func chownTree(dir string, uid, gid int) error {
	err := filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err == nil {
			err = os.Lchown(path, uid, gid)
		}
		// A running server may remove files while we walk.
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("pglocal: chown data dir: %w", err)
	}
	return nil
}

// openParents adds the group and other search (x) bits to every directory
// above dir, so that another user can reach dir. No bit is removed.
func openParents(dir string) error {
	// The bits matter on the directories the path really goes through.
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("pglocal: open data dir parents: %w", err)
	}
	for p := filepath.Dir(resolved); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("pglocal: open data dir parents: %w", err)
		}
		mode := fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		if mode&0o011 != 0o011 {
			if err := os.Chmod(p, mode|0o011); err != nil {
				return fmt.Errorf("pglocal: open data dir parents: %w", err)
			}
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// findBinDir returns the directory holding the newest server binaries.
func findBinDir(ctx context.Context) (string, error) {
	// pg_config is optional, and on Debian the one from libpq-dev may point
	// at a directory with no server; chooseBinDir checks what it names.
	var preferred string
	if out, err := exec.CommandContext(ctx, "pg_config", "--bindir").Output(); err == nil {
		preferred = strings.TrimSpace(string(out))
	}
	candidates, err := filepath.Glob("/usr/lib/postgresql/*/bin")
	if err != nil {
		return "", fmt.Errorf("pglocal: find binaries: %w", err)
	}
	return chooseBinDir(preferred, candidates)
}

// chooseBinDir returns preferred if it holds a server, else the candidate
// with the highest version that does, the version being the name of the
// directory above bin (/usr/lib/postgresql/15/bin). It returns ErrNoBinaries
// when none does.
func chooseBinDir(preferred string, candidates []string) (string, error) {
	if preferred != "" && hasServer(preferred) {
		return preferred, nil
	}
	newestFirst := slices.Clone(candidates)
	slices.SortStableFunc(newestFirst, func(a, b string) int {
		return slices.Compare(dirVersion(b), dirVersion(a))
	})
	for _, dir := range newestFirst {
		if hasServer(dir) {
			return dir, nil
		}
	}
	return "", ErrNoBinaries
}

// dirVersion parses the version in a path like /usr/lib/postgresql/9.6/bin
// into its numbers ([9 6]); it returns nil, which sorts first, when the
// name is not a version.
func dirVersion(binDir string) []int {
	var version []int
	for _, part := range strings.Split(filepath.Base(filepath.Dir(binDir)), ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil
		}
		version = append(version, n)
	}
	return version
}

// hasServer reports whether dir holds executable postgres and initdb files.
func hasServer(dir string) bool {
	for _, name := range []string{"postgres", "initdb"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}
