package child

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStopAndWait(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A child that stops when asked.
	p, err := Start("sleeper", filepath.Join(dir, "sleeper.log"), exec.Command("sleep", "60"))
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
	stubborn, err := Start("stubborn", filepath.Join(dir, "stubborn.log"),
		exec.Command("sh", "-c", `trap "" TERM; echo ready; while :; do sleep 1; done`))
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
	quitter, err := Start("quitter", filepath.Join(dir, "quitter.log"), exec.Command("sh", "-c", "echo bad config; exit 3"))
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
