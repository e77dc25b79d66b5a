// Package child runs the processes that the project's commands start and
// must stop in order: servers under test, nginx. A child has its own
// process group, so that a terminal's Ctrl-C reaches the command only,
// which then stops its children itself, and dies with the command.
package child

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Process is a started child.
type Process struct {
	Name    string
	LogPath string
	Cmd     *exec.Cmd
	// Quit is the signal that asks it to finish gracefully: SIGTERM unless
	// set otherwise.
	Quit   os.Signal
	exited chan struct{}
}

// Start starts cmd with its output in the file logPath.
func Start(name, logPath string, cmd *exec.Cmd) (*Process, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child has its own copy
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, LogPath: logPath, Cmd: cmd, Quit: syscall.SIGTERM, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // the exit status is read through cmd.ProcessState
		close(p.exited)
	}()
	return p, nil
}

// Kill kills p at once, as a crash would, and waits for it.
func (p *Process) Kill() error {
	if err := p.Cmd.Process.Kill(); err != nil {
		return err
	}
	<-p.exited
	return nil
}

// Stop asks p to finish with its Quit signal and waits, killing it after
// timeout. Stopping a stopped process does nothing.
func (p *Process) Stop(timeout time.Duration) error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	if err := p.Cmd.Process.Signal(p.Quit); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(timeout):
	}
	_ = p.Cmd.Process.Kill()
	<-p.exited
	return fmt.Errorf("did not stop within %s and was killed", timeout)
}

// WaitOK polls url until it answers 200, p exits, ctx ends or timeout
// passes.
func (p *Process) WaitOK(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before %s answered 200 (%s); its output:\n%s",
				p.Name, url, p.Cmd.ProcessState, Tail(p.LogPath))
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("%s: %s not 200 within %s; its output:\n%s", p.Name, url, timeout, Tail(p.LogPath))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Tail returns the last ten lines of the file at path.
func Tail(path string) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-10):], "\n")
}

// FreePort returns a 127.0.0.1 TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
