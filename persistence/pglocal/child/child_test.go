package child

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStopAndWait(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A child that stops when asked.
	p, err := Start("sleeper", exec.Command("sleep", "60"), Options{LogPath: filepath.Join(dir, "sleeper.log")})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.Stop(10 * time.Second); err != nil || time.Since(start) > 5*time.Second {
		t.Errorf("Stop of a child that obeys SIGTERM: %v after %s", err, time.Since(start))
	}
	if err := p.Stop(time.Second); err != nil {
		t.Errorf("Stop of a stopped child: %v", err)
	}
	// A child that ignores its quit signal is killed after the timeout.
	stubborn, err := Start("stubborn", exec.Command("sh", "-c", `trap "" TERM; echo ready; while :; do sleep 1; done`),
		Options{LogPath: filepath.Join(dir, "stubborn.log")})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); Tail(stubborn.LogPath) != "ready" && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if err := stubborn.Stop(300 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Stop of a child that ignores SIGTERM: %v, want it killed", err)
	}
	// WaitOK gives up when the child exits, with the end of its output.
	quitter, err := Start("quitter", exec.Command("sh", "-c", "echo bad config; exit 3"), Options{LogPath: filepath.Join(dir, "quitter.log")})
	if err != nil {
		t.Fatal(err)
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	err = quitter.WaitOK(t.Context(), fmt.Sprintf("http://127.0.0.1:%d/", port), time.Minute)
	if err == nil || !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "bad config") {
		t.Errorf("WaitOK on a child that exits: %v", err)
	}
}

// TestOutputThroughLog starts a child whose output goes to a writer: the
// writer gets all of it, and an exit during WaitReady is reported with its
// last lines, kept in memory.
func TestOutputThroughLog(t *testing.T) {
	t.Parallel()
	var log bytes.Buffer
	p, err := Start("counter", exec.Command("sh", "-c", `for i in $(seq 0 24); do echo line $i; done; exit 3`),
		Options{Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	never := func(context.Context) error { return errors.New("not yet") }
	err = p.WaitReady(t.Context(), time.Minute, "nothing", never)
	if !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "line 15\n") || strings.Contains(err.Error(), "line 14\n") {
		t.Errorf("WaitReady on a child that exits: %v, want ErrExited and the last ten lines", err)
	}
	if err := p.Wait(); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("Wait = %v, want exit status 3", err)
	}
	// Wait has returned: the output has been copied.
	if got := strings.Count(log.String(), "\n"); got != 25 {
		t.Errorf("Log got %d lines, want 25:\n%s", got, log.String())
	}
}

// TestCommandQuitsOnCancel ends a command's context: the child gets its
// quit signal, not SIGKILL, and can finish in order.
func TestCommandQuitsOnCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cmd := Command(ctx, syscall.SIGINT, 10*time.Second, "sh", "-c",
		`trap 'echo interrupted; exit 0' INT; echo ready; while :; do sleep 0.1; done`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("first line %q, want ready", lines.Text())
	}
	cancel()
	if !lines.Scan() || lines.Text() != "interrupted" {
		t.Errorf("after cancel: %q, want interrupted", lines.Text())
	}
	// Wait reports the context's end even though the child exited 0.
	if err := cmd.Wait(); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait = %v, want context.Canceled", err)
	}
}

func TestTail(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log")
	var lines []string
	for i := range 25 {
		lines = append(lines, fmt.Sprint("line ", i))
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, want := Tail(path), strings.Join(lines[15:], "\n"); got != want {
		t.Errorf("Tail = %q, want %q", got, want)
	}
}
