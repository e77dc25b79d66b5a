package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStopEndsStreams stops the server while a live stream of
// notifications is open: the stream ends, saying why, and run returns
// well within the shutdown timeout, which http.Server.Shutdown alone would
// spend waiting for the stream and then fail.
func TestStopEndsStreams(t *testing.T) {
	const shutdownTimeout = 5 * time.Second
	api, stop := startRun(t, []string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir() + "/data",
		"--argon2-memory", "64", "--argon2-parallelism", "1", "--shutdown-timeout", shutdownTimeout.String()}, nil)
	res, err := http.Post(api+"/users", "application/json",
		strings.NewReader(`{"username": "susan", "email": "susan@example.com", "password": "12345678"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	req, _ := http.NewRequest(http.MethodPost, api+"/tokens", nil)
	req.SetBasicAuth("susan", "12345678")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var token struct{ Token string }
	err = json.NewDecoder(res.Body).Decode(&token)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest(http.MethodGet, api+"/notifications", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token.Token)
	stream, err := http.DefaultClient.Do(req)
	if err != nil || stream.StatusCode != http.StatusOK {
		t.Fatalf("the stream: %v, %v", stream, err)
	}
	defer stream.Body.Close()
	ended := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(bufio.NewReader(stream.Body))
		ended <- string(b)
	}()

	start := time.Now()
	if err := stop(); err != nil {
		t.Errorf("run returned %v", err)
	}
	took := time.Since(start)
	t.Logf("stopped in %s with a stream open", took.Round(time.Millisecond))
	if took > shutdownTimeout/2 {
		t.Errorf("stopping took %s with a stream open, shutdown timeout %s", took, shutdownTimeout)
	}
	select {
	case body := <-ended:
		if !strings.Contains(body, ": the server is stopping") {
			t.Errorf("the stream ended with %q", body)
		}
	case <-time.After(time.Second):
		t.Error("the stream is still open after the server stopped")
	}
}

// TestStreamFlags reads the settings of the live streams from flags and
// the environment, and refuses the ones that make no sense.
func TestStreamFlags(t *testing.T) {
	cfg, err := parseFlags("microblog", false, []string{"--streams-per-user", "2"},
		envOf(map[string]string{"MICROBLOG_STREAM_HEARTBEAT": "5s", "MICROBLOG_MAX_STREAMS": "9"}), io.Discard)
	if err != nil || cfg.streamsPerUser != 2 || cfg.streamHeartbeat != 5*time.Second || cfg.maxStreams != 9 {
		t.Errorf("stream settings: %+v, %v", cfg, err)
	}
	if cfg, err := parseFlags("microblog", false, nil, envOf(nil), io.Discard); err != nil ||
		cfg.streamsPerUser != 4 || cfg.streamHeartbeat != 15*time.Second || cfg.maxStreams != 512 {
		t.Errorf("default stream settings: %+v, %v", cfg, err)
	}
	for _, bad := range [][]string{{"--stream-heartbeat", "0s"}, {"--streams-per-user", "0"}, {"--max-streams", "0"}} {
		if _, err := parseFlags("microblog", false, bad, envOf(nil), io.Discard); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
}
