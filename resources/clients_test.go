package resources_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"microblog/resources"
)

// TestSlowBody sends the headers of a registration at once and its body a
// byte every 50 ms over a real connection: past the body's time the
// server answers 408 and closes the connection.
func TestSlowBody(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(c *resources.Config) { c.BodyTimeout = 300 * time.Millisecond })
	ts := httptest.NewServer(srv.handler)
	t.Cleanup(ts.Close)
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"username": "slow", "email": "slow@example.com", "password": "a-long-password"}`
	fmt.Fprintf(conn, "POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	start := time.Now()
	go func() { // about 4 s for the whole body: it would arrive, late
		for i := range len(body) {
			if _, err := conn.Write([]byte{body[i]}); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer %s after the headers: %v", time.Since(start).Round(time.Millisecond), err)
	}
	got, _ := io.ReadAll(res.Body)
	took := time.Since(start)
	t.Logf("%d after %s: %s", res.StatusCode, took.Round(time.Millisecond), got)
	req := httptest.NewRequest(http.MethodPost, "/api/users", bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	checkOpenAPI(t, req, res.StatusCode, res.Header, got)
	if res.StatusCode != http.StatusRequestTimeout || took > 2*time.Second {
		t.Errorf("a body trickling past its time: %d after %s, want 408 after about 300 ms", res.StatusCode, took)
	}
	checkProblem(t, response{code: res.StatusCode, header: res.Header, body: got})
	if !res.Close {
		t.Error("the connection stays open after the 408")
	}
}
