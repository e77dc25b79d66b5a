// Package pglocal runs a private PostgreSQL server from the machine's own
// server binaries. cmd/microblog uses it when no DATABASE_URL is given (with
// a data directory kept between runs), and pgtest uses it for a throwaway
// cluster when TEST_DATABASE_URL is not set.
//
// The server is private: it listens on no TCP port, only on a Unix socket in
// a directory no other user may enter, and it lets in only the postgres role
// from this process's OS user (peer authentication), never on trust.
//
// It is Linux-only, as package child is: the server gets its data directory
// as an open descriptor, /proc/self/fd/3, so that it needs no permission on
// the directories above it.
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
	// defaultPort names the socket when Options.Port is zero: psql's
	// default, so that "psql -h <data dir> -U postgres" finds it.
	defaultPort = 5432
	// maxSocketPath is the longest path a Unix socket can have on Linux:
	// sun_path holds 108 bytes including the terminating NUL.
	maxSocketPath = 107
)

// ErrNoBinaries is returned when no PostgreSQL server binaries are found.
var ErrNoBinaries = errors.New("pglocal: no PostgreSQL server binaries found (looked in `pg_config --bindir` and /usr/lib/postgresql/*/bin): install PostgreSQL (apt-get install postgresql) or set DATABASE_URL")

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
	// Port is the number in the name of the server's Unix socket,
	// .s.PGSQL.<Port>; zero means 5432. No TCP port is opened. The socket
	// is in the data directory, so a cluster that is stopped and started
	// again comes back where its clients expect it, unless the data
	// directory's path is too long for a socket: the socket then goes to a
	// new private directory at every start.
	Port int
}

// Server is a running PostgreSQL server started by Start.
type Server struct {
	dataDir   string
	socketDir string
	port      int
	proc      *child.Process
	// removeSocketDir removes a temporary socket directory once the
	// server has stopped.
	removeSocketDir func() error

	stopOnce sync.Once
	stopErr  error
}

// Start runs initdb on opts.DataDir if it holds no cluster yet, starts a
// postgres server on a Unix socket in it (see Options.Port), and waits
// until it accepts connections. The server runs until Stop is called or
// this process dies.
//
// The data directory must be a directory, not a symbolic link, that belongs
// to this process's user, to root or to the user the server runs as, and no
// directory above it may be writable by all without the sticky bit. It is
// created if missing and given mode 0700; no directory above it changes.
// When running as root, initdb and postgres run as the "postgres" OS user
// (PostgreSQL refuses to run as root), to whom the data directory is given.
//
// At every start, Start writes the cluster's pg_hba.conf and pg_ident.conf,
// so that a data directory made by an earlier version, which trusted every
// local connection, is closed too.
//
// The server is tied to the OS thread that starts it (see package child), so
// Start must not run on a goroutine locked with runtime.LockOSThread.
func Start(ctx context.Context, opts Options) (*Server, error) {
	opts, err := withDefaults(opts)
	if err != nil {
		return nil, err
	}
	bin, err := findBinDir(ctx)
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	dir, err := openDataDir(opts.DataDir, cred)
	if err != nil {
		return nil, err
	}
	defer dir.close()
	if _, err := dir.root.Stat("PG_VERSION"); errors.Is(err, fs.ErrNotExist) {
		if err := initdb(ctx, bin, dir, opts, cred); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("pglocal: start: %w", err)
	}
	if err := dir.writeAccessRules(cred); err != nil {
		return nil, err
	}
	return launch(ctx, bin, dir, opts, cred)
}

// withDefaults checks opts and fills in its defaults; DataDir becomes
// absolute.
func withDefaults(opts Options) (Options, error) {
	if opts.DataDir == "" {
		return opts, errors.New("pglocal: start: Options.DataDir is empty")
	}
	dir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return opts, fmt.Errorf("pglocal: start: %w", err)
	}
	opts.DataDir = dir
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = defaultStartTimeout
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return opts, fmt.Errorf("pglocal: start: Options.Port %d is not a port number", opts.Port)
	}
	if opts.Port == 0 {
		opts.Port = defaultPort
	}
	return opts, nil
}

// URL returns a connection URL for the database dbname on s, as the
// postgres superuser, over the Unix socket. It holds no secret: only this
// process's OS user, and root, may connect.
func (s *Server) URL(dbname string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Path:     "/" + dbname,
		RawQuery: url.Values{"host": {s.socketDir}, "port": {strconv.Itoa(s.port)}, "sslmode": {"disable"}}.Encode(),
	}
	return u.String()
}

// Socket returns the path of s's Unix socket.
func (s *Server) Socket() string {
	return filepath.Join(s.socketDir, ".s.PGSQL."+strconv.Itoa(s.port))
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
		return errors.Join(fmt.Errorf("pglocal: stop postgres: %w", err), s.removeSocketDir())
	}
	if err := s.proc.Wait(); err != nil {
		return errors.Join(fmt.Errorf("pglocal: stop: %w", err), s.removeSocketDir())
	}
	return s.removeSocketDir()
}

// launch starts postgres on dir and waits until it accepts connections.
func launch(ctx context.Context, bin string, dir *dataDir, opts Options, cred *syscall.Credential) (*Server, error) {
	sock, err := openSocketDir(dir, opts.Port, cred)
	if err != nil {
		return nil, err
	}
	defer sock.file.Close() // postgres gets its own copy
	cmd := exec.Command(filepath.Join(bin, "postgres"), serverArgs(opts.Port, opts.Fsync)...)
	// The directories come as descriptors 3 (data) and 4 (socket), which
	// serverArgs names as /proc/self/fd/3 and 4; the working directory is
	// one every user may enter.
	cmd.ExtraFiles = []*os.File{dir.file, sock.file}
	cmd.Dir = "/"
	// SIGINT is postgres's fast shutdown: open transactions are rolled
	// back, then a checkpoint is written.
	proc, err := child.Start("postgres", cmd, child.Options{Log: opts.Log, Quit: syscall.SIGINT, Credential: cred})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("pglocal: %w", err), sock.remove())
	}
	s := &Server{dataDir: dir.path, socketDir: sock.path, port: opts.Port, proc: proc, removeSocketDir: sock.remove}
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
		if strings.Contains(output, `lock file "postmaster.pid" already exists`) {
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
	// Another server running on the data dir answers on the same socket:
	// ours is the one once its pid file names it.
	pidFile, err := os.ReadFile(filepath.Join(s.dataDir, "postmaster.pid"))
	if err != nil {
		return fmt.Errorf("pglocal: ping: %w", err)
	}
	if pid, _, _ := strings.Cut(string(pidFile), "\n"); pid != strconv.Itoa(s.proc.Cmd.Process.Pid) {
		return errors.New("pglocal: ping: postmaster.pid names another server")
	}
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pglocal: ping: %w", err)
	}
	return conn.Close(ctx)
}

// serverArgs returns the postgres command line: the data directory is
// descriptor 3 and the socket's directory descriptor 4.
func serverArgs(port int, fsync bool) []string {
	args := []string{
		"-D", "/proc/self/fd/3",
		"-p", strconv.Itoa(port),
		// No TCP: only the Unix socket, in a directory only the server's
		// user may enter, and only for that user.
		"-c", "listen_addresses=",
		"-c", "unix_socket_directories=/proc/self/fd/4",
		"-c", "unix_socket_permissions=0700",
		// Logs go to stderr, hence to Options.Log, not to files in dir.
		"-c", "logging_collector=off",
		// The log says what failed but not with which values: no DETAIL
		// (a unique violation's names the key, an email), no statement.
		"-c", "log_error_verbosity=terse",
		"-c", "log_min_error_statement=panic",
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

// initdb creates a cluster in dir, with a C.UTF-8 locale or, where the
// machine does not know that locale, C.
func initdb(ctx context.Context, bin string, dir *dataDir, opts Options, cred *syscall.Credential) error {
	output, err := runInitdb(ctx, bin, dir, "C.UTF-8", opts, cred)
	if err != nil && strings.Contains(output, "invalid locale name") {
		output, err = runInitdb(ctx, bin, dir, "C", opts, cred)
	}
	if err != nil {
		return fmt.Errorf("pglocal: initdb %s: %w; its last output:\n%s", dir.path, err, output)
	}
	return nil
}

// runInitdb runs initdb once and returns the end of its output.
func runInitdb(ctx context.Context, bin string, dir *dataDir, locale string, opts Options, cred *syscall.Credential) (string, error) {
	// The pg_hba.conf initdb writes is replaced before the server starts;
	// these only keep initdb from warning about trust.
	args := []string{"-D", "/proc/self/fd/3", "-U", "postgres", "--auth-local=peer", "--auth-host=reject",
		"-E", "UTF8", "--locale=" + locale}
	if !opts.Fsync {
		args = append(args, "--no-sync")
	}
	// Interrupted, initdb removes what it created; killed, it would leave
	// a half-made cluster behind.
	cmd := child.Command(ctx, syscall.SIGINT, initdbGrace, filepath.Join(bin, "initdb"), args...)
	cmd.ExtraFiles = []*os.File{dir.file}
	cmd.Dir = "/"
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
