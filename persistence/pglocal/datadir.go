package pglocal

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// hbaConf is the cluster's pg_hba.conf: the postgres role, over the Unix
// socket, from the OS users that pg_ident.conf maps to it. "all" matches no
// replication connection.
const hbaConf = `# Written by pglocal at every start: changes are lost.
# Unix socket only, the postgres role only, from the OS users of the map
# pglocal in pg_ident.conf: no TCP, no replication, no trust.
local all postgres peer map=pglocal
`

// dataDir is a data directory that openDataDir has checked and opened.
type dataDir struct {
	path string
	// root confines the files pglocal writes to the directory: a
	// symbolic link in it cannot lead them elsewhere.
	root *os.Root
	// file is the directory itself, which initdb and postgres get as a
	// descriptor, so that they need no permission on the directories
	// above it, and a path changed under us does not matter.
	file *os.File
}

// openDataDir creates path if missing, checks that it can be trusted and
// opens it. It refuses a symbolic link, a directory that belongs to someone
// other than root, this process's user or cred's user, and one under a
// directory that anyone may write to and that lacks the sticky bit. It gives
// the directory mode 0700 and, when cred is set, to cred's user. No
// directory above path is changed.
func openDataDir(path string, cred *syscall.Credential) (*dataDir, error) {
	if err := checkAncestors(path); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("pglocal: create data dir: %w", err)
	}
	if err := os.Mkdir(path, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("pglocal: create data dir: %w", err)
	}
	named, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("pglocal: data dir: %w", err)
	}
	if named.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("pglocal: data dir %s is a symbolic link: give the directory itself", path)
	}
	if !named.IsDir() {
		return nil, fmt.Errorf("pglocal: data dir %s is not a directory", path)
	}
	root, err := os.OpenRoot(path)
	if err != nil {
		return nil, fmt.Errorf("pglocal: data dir: %w", err)
	}
	d := &dataDir{path: path, root: root}
	if err := d.adopt(named, cred); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// adopt opens d.file, checks that it is the directory named was read from
// and who owns it, and sets its mode and owner.
func (d *dataDir) adopt(named fs.FileInfo, cred *syscall.Credential) error {
	f, err := d.root.Open(".")
	if err != nil {
		return fmt.Errorf("pglocal: data dir: %w", err)
	}
	d.file = f
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("pglocal: data dir: %w", err)
	}
	if !os.SameFile(named, fi) {
		return fmt.Errorf("pglocal: data dir %s was replaced while it was being opened", d.path)
	}
	owner := fi.Sys().(*syscall.Stat_t).Uid
	if owner != 0 && int(owner) != os.Geteuid() && (cred == nil || owner != cred.Uid) {
		return fmt.Errorf("pglocal: data dir %s belongs to %s, not to %s: refusing a directory someone else prepared",
			d.path, userName(owner), allowedOwners(cred))
	}
	if fi.Mode().Perm() != 0o700 {
		if err := f.Chmod(0o700); err != nil {
			return fmt.Errorf("pglocal: data dir mode: %w", err)
		}
	}
	if cred != nil && owner != cred.Uid {
		if err := f.Chown(int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("pglocal: data dir owner: %w", err)
		}
	}
	return nil
}

// close closes d's descriptors.
func (d *dataDir) close() {
	if d.file != nil {
		_ = d.file.Close() // read-only: nothing is lost
	}
	_ = d.root.Close()
}

// checkAncestors refuses path when a directory above it, as written or
// with symbolic links resolved, may be written by anyone and lacks the
// sticky bit: anyone could then put a directory or a link of their own in
// the data directory's place, or in the place of one on the way to it.
func checkAncestors(path string) error {
	existing := filepath.Dir(path)
	for !exists(existing) && existing != filepath.Dir(existing) {
		existing = filepath.Dir(existing)
	}
	resolved, err := filepath.EvalSymlinks(existing)
	if err != nil {
		return fmt.Errorf("pglocal: data dir %s: %w", path, err)
	}
	for _, start := range []string{filepath.Dir(path), resolved} {
		for p := start; ; p = filepath.Dir(p) {
			fi, err := os.Stat(p)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("pglocal: data dir %s: %w", path, err)
			}
			if err == nil && fi.Mode()&0o002 != 0 && fi.Mode()&fs.ModeSticky == 0 {
				return fmt.Errorf("pglocal: data dir %s is under %s, which anyone may write to (%s, no sticky bit): choose another place",
					path, p, fi.Mode())
			}
			if p == filepath.Dir(p) {
				break
			}
		}
	}
	return nil
}

// exists reports whether there is a file at path.
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// userName returns the name of the user uid, or the number.
func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username
	}
	return "user " + id
}

// allowedOwners names the users a data directory may belong to.
func allowedOwners(cred *syscall.Credential) string {
	names := []string{"root"}
	if uid := uint32(os.Geteuid()); uid != 0 {
		names = append(names, userName(uid))
	}
	if cred != nil {
		names = append(names, userName(cred.Uid))
	}
	return strings.Join(names, " or ")
}

// writeAccessRules writes d's pg_hba.conf and pg_ident.conf: only this
// process's OS user may connect, as the postgres role, over the socket.
// It replaces whatever an earlier version wrote, trust included.
func (d *dataDir) writeAccessRules(cred *syscall.Credential) error {
	u, err := user.Current()
	if err != nil {
		return fmt.Errorf("pglocal: this process's user: %w", err)
	}
	ident := "# Written by pglocal at every start: changes are lost.\n" +
		"# The OS user of the process that starts the server may connect as postgres.\n" +
		"pglocal " + quoteConf(u.Username) + " postgres\n"
	if err := d.replace("pg_hba.conf", hbaConf, cred); err != nil {
		return err
	}
	return d.replace("pg_ident.conf", ident, cred)
}

// replace writes content to a new file in d and renames it to name, so
// that a link or a hard link someone put at name is replaced, never
// written through. The file gets mode 0600 and cred's user.
func (d *dataDir) replace(name, content string, cred *syscall.Credential) error {
	tmp := fmt.Sprintf(".%s.%016x", name, rand.Uint64())
	f, err := d.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("pglocal: write %s: %w", name, err)
	}
	_, err = f.WriteString(content)
	if err == nil && cred != nil {
		err = f.Chown(int(cred.Uid), int(cred.Gid))
	}
	if err == nil {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close())
	if err == nil {
		err = d.root.Rename(tmp, name)
	}
	if err != nil {
		return errors.Join(fmt.Errorf("pglocal: write %s: %w", name, err), d.root.Remove(tmp))
	}
	return nil
}

// quoteConf quotes s as a token of pg_hba.conf or pg_ident.conf.
func quoteConf(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// socketDir is where the server's Unix socket goes.
type socketDir struct {
	// path is the directory as clients name it.
	path string
	// file is the directory, for postgres as descriptor 4.
	file *os.File
	// remove removes the directory if it is a temporary one.
	remove func() error
}

// openSocketDir returns the directory for the socket .s.PGSQL.<port>: the
// data directory, unless the socket's path would be too long for a Unix
// socket; then a new private directory in os.TempDir, removed by remove.
func openSocketDir(d *dataDir, port int, cred *syscall.Credential) (socketDir, error) {
	name := ".s.PGSQL." + strconv.Itoa(port)
	if len(filepath.Join(d.path, name)) <= maxSocketPath {
		f, err := d.root.Open(".")
		if err != nil {
			return socketDir{}, fmt.Errorf("pglocal: socket dir: %w", err)
		}
		return socketDir{path: d.path, file: f, remove: func() error { return nil }}, nil
	}
	// MkdirTemp makes a new directory of mode 0700, ours alone.
	dir, err := os.MkdirTemp("", "pglocal-")
	if err != nil {
		return socketDir{}, fmt.Errorf("pglocal: socket dir: %w", err)
	}
	remove := func() error {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("pglocal: remove socket dir: %w", err)
		}
		return nil
	}
	f, err := os.Open(dir)
	if err == nil && cred != nil {
		err = f.Chown(int(cred.Uid), int(cred.Gid))
	}
	if err != nil {
		return socketDir{}, errors.Join(fmt.Errorf("pglocal: socket dir: %w", err), remove())
	}
	return socketDir{path: dir, file: f, remove: remove}, nil
}
