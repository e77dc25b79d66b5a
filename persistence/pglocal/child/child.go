// Package child runs the processes that the project's programs start:
// PostgreSQL and initdb for pglocal; the microblog server, nginx, wrk and the
// go command for the commands under cmd. Every child has its own process
// group, so that a terminal's Ctrl-C reaches the parent only, which then
// stops its children in order; and it is signalled when the parent dies, so
// that none outlives it.
//
// Command makes a child that runs to its end, whose output the caller
// reads. Start starts a long-running one: the package keeps the end of its
// output for error messages, waits until it is ready, and stops it with a
// signal, then, if need be, kills it.
//
// The package lives under persistence/pglocal, not cmd/internal, because
// pglocal uses it and may not import an internal package of cmd.
package child

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// pollInterval is how often WaitReady asks whether a child is ready.
	pollInterval = 25 * time.Millisecond
	// tailLines is how much of a child's output an error quotes.
	tailLines = 10
	// tailBytes bounds the output kept in memory to find those lines.
	tailBytes = 8 << 10
	// pipeWaitDelay bounds the wait for a child's output pipe to close once
	// the child has exited: a grandchild that inherited it (a backend of a
	// killed postmaster) must not keep Wait from returning.
	pipeWaitDelay = time.Second
)

// ErrExited is wrapped by the error of WaitReady and WaitOK when the child
// exited before it was ready.
var ErrExited = errors.New("exited")

// Command returns the command name with args as a child that runs to its
// end: in its own process group, sent quit when this process dies, and
// sent quit, not killed, when ctx ends, then killed if it has not exited
// grace later (zero: no limit). A child that must not get the chance to
// report partial results is given SIGKILL as quit.
//
// The caller sets its output and runs it (Run, Output, CombinedOutput).
func Command(ctx context.Context, quit syscall.Signal, grace time.Duration, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = attr(quit, nil)
	cmd.Cancel = func() error { return cmd.Process.Signal(quit) }
	cmd.WaitDelay = grace
	return cmd
}

// attr returns the process attributes of every child: its own process
// group, and death sent when this process dies. cred, when not nil, runs
// the child as another user.
func attr(death syscall.Signal, cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Credential: cred,
		// Its own process group keeps a terminal's Ctrl-C, which goes to the
		// whole foreground group, from reaching the child before its parent
		// stops it in order.
		Setpgid: true,
		// The kernel ties this signal to the OS thread that forked the
		// child, not to the process: a thread that exits (as Go makes one do
		// when a goroutine ends while locked with runtime.LockOSThread)
		// takes the child down with it. Nothing here locks a thread, so the
		// forking thread lives as long as the process; a caller must not
		// start a child on a locked goroutine. Go sets the signal after
		// switching to Credential, a change that would otherwise clear it.
		Pdeathsig: death,
	}
}

// Options configures Start.
type Options struct {
	// LogPath, when set, names a file created to receive the child's
	// output (stdout and stderr), which the child writes itself.
	LogPath string
	// Log receives the child's output, through a pipe, when LogPath is
	// empty; nil discards it.
	Log io.Writer
	// Quit is the signal that asks the child to finish gracefully, sent
	// by Stop: SIGTERM when zero.
	Quit syscall.Signal
	// DeathSignal is sent to the child when this process dies: Quit when
	// zero.
	DeathSignal syscall.Signal
	// Credential, when set, runs the child as another user.
	Credential *syscall.Credential
}

// Process is a started child.
type Process struct {
	// Name names the child in errors: "postgres", "instance 1".
	Name string
	// LogPath is Options.LogPath: the file that holds the output, or "".
	LogPath string
	Cmd     *exec.Cmd

	quit syscall.Signal
	tail *tailBuffer // the end of the output, when it goes through a pipe
	// exited is closed once the child has exited and err is set.
	exited chan struct{}
	err    error
}

// Start starts cmd as a child named name, with its output where opts
// says, and returns at once. The child runs until Stop or Kill is called or
// this process dies; a cmd made with exec.CommandContext also ends with its
// context.
func Start(name string, cmd *exec.Cmd, opts Options) (*Process, error) {
	if opts.Quit == 0 {
		opts.Quit = syscall.SIGTERM
	}
	if opts.DeathSignal == 0 {
		opts.DeathSignal = opts.Quit
	}
	p := &Process{Name: name, LogPath: opts.LogPath, Cmd: cmd, quit: opts.Quit, exited: make(chan struct{})}
	closeLog, err := p.setOutput(opts)
	if err != nil {
		return nil, err
	}
	defer closeLog() // the child has its own copy
	cmd.SysProcAttr = attr(opts.DeathSignal, opts.Credential)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// setOutput points p's stdout and stderr at opts.LogPath, or at opts.Log
// and p.tail. It returns what to close once the child has started.
func (p *Process) setOutput(opts Options) (func(), error) {
	if opts.LogPath != "" {
		f, err := os.Create(opts.LogPath)
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", p.Name, err)
		}
		p.Cmd.Stdout, p.Cmd.Stderr = f, f
		return func() { _ = f.Close() }, nil
	}
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	p.tail = &tailBuffer{}
	// The same writer for both streams makes exec use a single pipe, so the
	// lines stay in order and log is written by one goroutine at a time.
	out := io.MultiWriter(p.tail, log)
	p.Cmd.Stdout, p.Cmd.Stderr = out, out
	if p.Cmd.WaitDelay == 0 {
		p.Cmd.WaitDelay = pipeWaitDelay
	}
	return func() {}, nil
}

// Wait waits for p to exit and returns what exec.Cmd.Wait returned.
func (p *Process) Wait() error {
	<-p.exited
	return p.err
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
// timeout. Stopping a process that has exited does nothing; Wait tells how
// it exited.
func (p *Process) Stop(timeout time.Duration) error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	if err := p.Cmd.Process.Signal(p.quit); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.exited:
		return nil
	case <-timer.C:
	}
	_ = p.Cmd.Process.Kill() // it may have exited meanwhile
	<-p.exited
	return fmt.Errorf("did not stop within %s and was killed", timeout)
}

// WaitReady calls ready until it returns nil, p exits, ctx ends or timeout
// passes. what names what is awaited, for the errors: "an accepted
// connection". An exit is reported with an error wrapping ErrExited and
// the end of p's output.
func (p *Process) WaitReady(ctx context.Context, timeout time.Duration, what string, ready func(context.Context) error) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		if ready(ctx) == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s %w while waiting for %s (%s); its last output:\n%s",
				p.Name, ErrExited, what, p.Cmd.ProcessState, p.LastOutput())
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for %s: %w", p.Name, what, ctx.Err())
		case <-deadline.C:
			return fmt.Errorf("%s: still waiting for %s after %s; its last output:\n%s", p.Name, what, timeout, p.LastOutput())
		case <-ticker.C:
		}
	}
}

// WaitOK waits, as WaitReady does, until url answers 200.
func (p *Process) WaitOK(ctx context.Context, url string, timeout time.Duration) error {
	return p.WaitReady(ctx, timeout, "200 from "+url, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, res.Status)
		}
		return nil
	})
}

// LastOutput returns the last ten lines of p's output.
func (p *Process) LastOutput() string {
	if p.tail != nil {
		return p.tail.lastLines(tailLines)
	}
	return Tail(p.LogPath)
}

// Tail returns the last ten lines of the file at path, or the error that
// kept it from being read.
func Tail(path string) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return lastLines(string(raw), tailLines)
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// FreePort returns a 127.0.0.1 TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	return port, nil
}

// tailBuffer is an io.Writer that keeps the end of what is written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

// Write implements io.Writer.
func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > tailBytes {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-tailBytes:]...)
	}
	return len(p), nil
}

// lastLines returns the last n lines written.
func (b *tailBuffer) lastLines(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return lastLines(string(b.buf), n)
}
