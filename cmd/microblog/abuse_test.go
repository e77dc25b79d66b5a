package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSecretsAndAbsurdRequests runs the program as an operator would, with
// JSON logs: passwords, hashes and tokens never reach the log, and
// requests of absurd size get a 4xx from the server itself.
func TestSecretsAndAbsurdRequests(t *testing.T) {
	args := []string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir() + "/data", "--log-format", "json",
		"--argon2-memory", "64", "--argon2-parallelism", "1"}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, envOf(nil), out, io.Discard) }()
	c := apiClient{t: t, api: waitServing(t, out, done)}

	const password = "very-secret-password"
	token, basicAuth := c.handleSecrets(password)
	c.sendAbsurdRequests(token)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	logs := out.String()
	for _, secret := range []string{password, token, strings.TrimPrefix(basicAuth, "Basic "), "$argon2id$"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains the secret %q", secret)
		}
	}
	if !strings.Contains(logs, `"request_id"`) || !strings.Contains(logs, `"path":"/api/tokens"`) {
		t.Errorf("the JSON request log lacks request ids or paths:\n%.2000s", logs)
	}
}

// apiClient sends requests to the API at api; a request that gets no
// response fails the test.
type apiClient struct {
	t   *testing.T
	api string
}

// send sends a request with a JSON body and returns the status and body
// of the response.
func (c apiClient) send(method, path, auth, body string, header map[string]string) (int, string) {
	req, err := http.NewRequest(method, c.api+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// handleSecrets makes the server handle every kind of secret: it registers
// susan with password, logs her in, uses the token, tries a wrong password,
// logs out and uses the revoked token. It returns the token and the Basic
// credentials.
func (c apiClient) handleSecrets(password string) (token, basicAuth string) {
	if code, body := c.send(http.MethodPost, "/users", "", `{"username": "susan", "email": "susan@example.com", "password": "`+password+`"}`, nil); code != http.StatusCreated {
		c.t.Fatalf("register: %d %s", code, body)
	}
	req, _ := http.NewRequest(http.MethodPost, c.api+"/tokens", nil)
	req.SetBasicAuth("susan", password)
	basicAuth = req.Header.Get("Authorization")
	code, body := c.send(http.MethodPost, "/tokens", basicAuth, "", nil)
	if code != http.StatusOK {
		c.t.Fatalf("login: %d %s", code, body)
	}
	token = body[strings.Index(body, `"token":"`)+9:][:32]
	c.send(http.MethodGet, "/me", "Bearer "+token, "", nil)
	c.send(http.MethodPost, "/tokens", strings.Replace(basicAuth, "Basic ", "Basic x", 1), "", nil)
	c.send(http.MethodDelete, "/tokens", "Bearer "+token, "", nil)
	c.send(http.MethodGet, "/me", "Bearer "+token, "", nil)
	return token, basicAuth
}

// sendAbsurdRequests sends requests of absurd size, which must get a 4xx.
func (c apiClient) sendAbsurdRequests(token string) {
	for name, req := range map[string]struct {
		path   string
		header map[string]string
	}{
		"a 1 MiB header":       {"/", map[string]string{"X-Junk": strings.Repeat("a", 1<<20)}},
		"a 200 KiB URL":        {"/users?q=" + strings.Repeat("a", 200<<10), nil},
		"500 headers of 1 KiB": {"/", junkHeaders(500, 1<<10)},
	} {
		code, _ := c.send(http.MethodGet, req.path, "Bearer "+token, "", req.header)
		if code < 400 || code >= 500 {
			c.t.Errorf("%s: %d, want a 4xx", name, code)
		}
	}
}

func junkHeaders(n, size int) map[string]string {
	h := map[string]string{}
	for i := range n {
		h["X-Junk-"+strconv.Itoa(i)] = strings.Repeat("a", size)
	}
	return h
}

// waitServing waits for the "serving" log line of run and returns the
// API's URL.
func waitServing(t *testing.T, out *syncBuffer, done <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if m := servingURL.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		if m := servingURLJSON(out.String()); m != "" {
			return m
		}
		select {
		case err := <-done:
			t.Fatalf("run ended before serving: %v\n%s", err, out)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("not serving after a minute:\n%s", out)
	return ""
}

// servingURLJSON finds the URL of the "serving" line of a JSON log.
func servingURLJSON(logs string) string {
	i := strings.Index(logs, `"msg":"serving","url":"`)
	if i < 0 {
		return ""
	}
	rest := logs[i+len(`"msg":"serving","url":"`):]
	return rest[:strings.IndexByte(rest, '"')]
}

// TestConcurrentLoginsMemory sends 200 logins at once to the real binary
// with the default argon2id parameters (64 MiB a hash): hashing in a few
// slots keeps the server's peak RSS far below what 200 hashes at once
// would take (12.5 GiB).
func TestConcurrentLoginsMemory(t *testing.T) {
	api, pid := startLoginServer(t)
	res, err := http.Post(api+"/users", "application/json", strings.NewReader(`{"username": "susan", "email": "s@example.com", "password": "12345678"}`))
	if err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("register: %v %v", err, res)
	}
	res.Body.Close()

	start := time.Now()
	codes := concurrentLogins(api, 200)
	took := time.Since(start)
	peakKiB := peakRSSKiB(t, pid)
	t.Logf("200 concurrent logins in %s: statuses %v, peak RSS %d MiB", took.Round(time.Millisecond), codes, peakKiB>>10)
	if codes[http.StatusOK] != 100 || codes[http.StatusUnauthorized] != 100 {
		t.Errorf("statuses %v, want 100 of 200 and 100 of 401", codes)
	}
	if peakKiB == 0 || peakKiB > 512<<10 {
		t.Errorf("peak RSS %d KiB, want under 512 MiB", peakKiB)
	}
}

// startLoginServer runs the built binary with login limits that n logins
// at once do not reach, and returns the URL of its API, once it answers,
// and its process id.
func startLoginServer(t *testing.T) (string, int) {
	dir := t.TempDir()
	bin := buildBinary(t)
	port := freeTCPPort(t)
	cmd := exec.Command(bin, "--addr", "127.0.0.1:"+strconv.Itoa(port), "--data-dir", filepath.Join(dir, "data"),
		"--login-per-user", "100000", "--login-per-account", "100000", "--login-per-address", "100000",
		// The logins queue for the hashing slots longer than the default
		// request timeout, past which they would be shed with 503s.
		"--request-timeout", "2m")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	api := fmt.Sprintf("http://127.0.0.1:%d/api", port)
	deadline := time.Now().Add(time.Minute)
	for {
		res, err := http.Get(api)
		if err == nil {
			res.Body.Close()
			return api, cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not come up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// concurrentLogins sends n logins of susan at once, every other one with a
// wrong password, and counts the statuses; -1 counts transport errors.
func concurrentLogins(api string, n int) map[int]int {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		codes = map[int]int{}
	)
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, api+"/tokens", nil)
			password := "12345678"
			if i%2 == 1 {
				password = "wrong-password"
			}
			req.SetBasicAuth("susan", password)
			res, err := http.DefaultClient.Do(req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				codes[-1]++
				return
			}
			res.Body.Close()
			codes[res.StatusCode]++
		})
	}
	wg.Wait()
	return codes
}

// peakRSSKiB reads the peak resident set size of process pid, in KiB.
func peakRSSKiB(t *testing.T, pid int) int {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	var peakKiB int
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			peakKiB, _ = strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
	return peakKiB
}
