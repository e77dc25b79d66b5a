package resources_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"microblog/persistence"
	"microblog/persistence/pgtest"
	"microblog/resources"
)

// liveServer is a test server whose handler has a listener of its own,
// served over HTTP, so that event streams stream.
type liveServer struct {
	*testServer
	url string
}

// newLiveServer starts a live server over the database at databaseURL.
func newLiveServer(t *testing.T, databaseURL string, opts ...func(*resources.Config)) *liveServer {
	t.Helper()
	return startLiveServer(t, databaseURL, nil, opts...)
}

// startLiveServer starts a live server whose connections come through
// wrap, when it is not nil.
func startLiveServer(t *testing.T, databaseURL string, wrap func(net.Listener) net.Listener,
	opts ...func(*resources.Config)) *liveServer {
	t.Helper()
	counter := &statementCounter{}
	store, pool := storeOver(t, databaseURL, counter)
	clk := &clock{now: epoch}
	store.Now = clk.Now
	listener := persistence.NewListener(pool.Config().ConnConfig, func(err error) { t.Logf("listener: %v", err) })
	generous := resources.RateLimit{Events: 10000, Period: time.Minute, Burst: 10000}
	cfg := resources.Config{TokenTTL: time.Hour, MinPasswordLength: 8, LoginPerUser: generous, LoginPerAccount: generous,
		LoginPerAddress: generous, RegisterPerAddress: generous, Notifications: listener}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := resources.NewHandler(store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(h)
	// The server's bounds on reading a request and writing a response, as
	// cmd/microblog sets them but shorter: a stream outlives them.
	hs.Config.ReadTimeout, hs.Config.WriteTimeout = 250*time.Millisecond, 250*time.Millisecond
	if wrap != nil {
		hs.Listener = wrap(hs.Listener)
	}
	hs.Start()
	t.Cleanup(hs.Close)
	// Stopping the listener ends the streams, which Close waits for: it is
	// stopped first.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		listener.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return &liveServer{testServer: &testServer{handler: h, pool: pool, clock: clk, statements: counter}, url: hs.URL}
}

// event is an event of a stream, or a comment line, and when it arrived.
type event struct {
	id, name, data, comment string
	at                      time.Time
}

// eventStream is the client's end of a stream.
type eventStream struct {
	res    *http.Response
	events chan event // closed at the end of the stream
}

// open asks for the event stream of the holder of token, with more
// headers, and returns the response; for a 200, its events too.
func (s *liveServer) open(t *testing.T, token string, header map[string]string) (*http.Response, *eventStream) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.url+"/api/notifications", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(res.Body)
		checkOpenAPI(t, req, res.StatusCode, res.Header, body)
		checkProblem(t, response{code: res.StatusCode, header: res.Header, body: body})
		return res, nil
	}
	checkOpenAPI(t, req, res.StatusCode, res.Header, nil)
	es := &eventStream{res: res, events: make(chan event, 1000)}
	go es.read()
	return res, es
}

// read parses the stream into events until it ends.
func (es *eventStream) read() {
	defer close(es.events)
	r := bufio.NewReader(es.res.Body)
	var e event
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		field, value, _ := strings.Cut(line, ": ")
		switch {
		case line == "":
			if e.id != "" || e.data != "" {
				e.at = time.Now()
				es.events <- e
			}
			e = event{}
		case strings.HasPrefix(line, ":"):
			es.events <- event{comment: strings.TrimPrefix(line, ": "), at: time.Now()}
		case field == "id":
			e.id = value
		case field == "event":
			e.name = value
		case field == "data":
			e.data += value
		}
	}
}

// next returns the next event, skipping comment lines unless comments,
// and fails the test if none comes within wait; ok is false at the end of
// the stream.
func (es *eventStream) next(t *testing.T, wait time.Duration, comments bool) (e event, ok bool) {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case e, ok = <-es.events:
			if !ok || comments || e.comment == "" {
				return e, ok
			}
		case <-timeout:
			t.Fatalf("nothing on the stream within %s", wait)
		}
	}
}

// ends waits for the stream to end, and returns the comment lines it
// ended with.
func (es *eventStream) ends(t *testing.T, wait time.Duration) []string {
	t.Helper()
	var comments []string
	for {
		e, ok := es.next(t, wait, true)
		if !ok {
			return comments
		}
		comments = append(comments, e.comment)
	}
}

// notify makes n notifications of recipient by actor with plain SQL, at
// once.
func (s *testServer) notify(t *testing.T, recipient, actor int64, n int) {
	t.Helper()
	s.sql(t, `SELECT notify($1, 'follow', $2, NULL, NULL, $3) FROM generate_series(1, $4)`, recipient, actor, s.clock.Now(), n)
}

// TestStreamDelivers opens susan's stream, then bob follows her: the
// event is the notification, its id and type on their own lines and its
// HAL document as the data.
func TestStreamDelivers(t *testing.T) {
	t.Parallel()
	srv := newLiveServer(t, pgtest.New(t))
	susan, token := srv.user(t, "susan")
	bob, bobToken := srv.user(t, "bob")
	res, stream := srv.open(t, token, nil)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" ||
		res.Header.Get("Cache-Control") != "no-store" || !strings.Contains(res.Header.Get("Vary"), "Accept") {
		t.Fatalf("the stream: %d, headers %v", res.StatusCode, res.Header)
	}
	srv.followByAPI(t, bobToken, bob, susan)
	e, _ := stream.next(t, 5*time.Second, false)
	checkHAL(t, []byte(e.data))
	var doc map[string]any
	if err := json.Unmarshal([]byte(e.data), &doc); err != nil {
		t.Fatal(err)
	}
	if e.name != "follow" || e.id != fmt.Sprint(doc["id"]) || href(doc, "self") != "/api/notifications/"+e.id ||
		href(doc, "mb:actor") != userPathOf(bob) {
		t.Errorf("event %q %q: %s", e.id, e.name, e.data)
	}
}

// TestStreamResumes: after Last-Event-ID the stream starts with what came
// after it, then goes on live; without it, or with one that is not an
// integer, it starts from now.
func TestStreamResumes(t *testing.T) {
	t.Parallel()
	srv := newLiveServer(t, pgtest.New(t))
	susan, token := srv.user(t, "susan")
	bob, _ := srv.user(t, "bob")
	srv.notify(t, susan, bob, 3)
	_, resumed := srv.open(t, token, map[string]string{"Last-Event-ID": "1"})
	_, garbage := srv.open(t, token, map[string]string{"Last-Event-ID": "three"})
	_, fresh := srv.open(t, token, nil)
	srv.notify(t, susan, bob, 1)
	for _, tt := range []struct {
		name   string
		stream *eventStream
		want   []string
	}{{"after 1", resumed, []string{"2", "3", "4"}}, {"garbage", garbage, []string{"4"}}, {"from now", fresh, []string{"4"}}} {
		var got []string
		for range tt.want {
			e, _ := tt.stream.next(t, 5*time.Second, false)
			got = append(got, e.id)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("stream %s: events %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestStreamHeartbeatAndRevocation: a comment line comes every heartbeat,
// past the bounds of a request's work and of the server's reads and
// writes, and the heartbeat after the token is revoked ends the stream.
func TestStreamHeartbeatAndRevocation(t *testing.T) {
	t.Parallel()
	srv := newLiveServer(t, pgtest.New(t), func(c *resources.Config) {
		c.StreamHeartbeat, c.RequestTimeout = 100*time.Millisecond, 150*time.Millisecond
	})
	_, token := srv.user(t, "susan")
	_, stream := srv.open(t, token, nil)
	for range 5 {
		if e, _ := stream.next(t, time.Second, true); e.comment != "keep-alive" {
			t.Fatalf("a heartbeat: %+v", e)
		}
	}
	if res := srv.do(t, request{method: http.MethodDelete, path: "/api/tokens", token: token}); res.code != http.StatusNoContent {
		t.Fatalf("revoke: %s", res)
	}
	if comments := stream.ends(t, time.Second); !slices.Contains(comments, "the token is no longer valid") {
		t.Errorf("the stream ended with %q", comments)
	}
}

// TestStreamEndsAtExpiry: the stream ends when its token expires.
func TestStreamEndsAtExpiry(t *testing.T) {
	t.Parallel()
	srv := newLiveServer(t, pgtest.New(t), func(c *resources.Config) { c.TokenTTL = 300 * time.Millisecond })
	_, token := srv.user(t, "susan")
	start := time.Now()
	_, stream := srv.open(t, token, nil)
	comments := stream.ends(t, 3*time.Second)
	if !slices.Equal(comments, []string{"the token has expired"}) || time.Since(start) > 2*time.Second {
		t.Errorf("the stream ended after %s with %q", time.Since(start), comments)
	}
}

// TestStreamCaps: past the streams a user may have open, 429; past those
// the server takes, 503; both with Retry-After. A stream closed makes room.
func TestStreamCaps(t *testing.T) {
	t.Parallel()
	srv := newLiveServer(t, pgtest.New(t), func(c *resources.Config) { c.StreamsPerUser, c.MaxStreams = 2, 3 })
	_, susan := srv.user(t, "susan")
	_, bob := srv.user(t, "bob")
	_, cid := srv.user(t, "cid")
	_, first := srv.open(t, susan, nil)
	srv.open(t, susan, nil)
	if res, _ := srv.open(t, susan, nil); res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "15" {
		t.Errorf("susan's third stream: %d, Retry-After %q; want 429 after 15", res.StatusCode, res.Header.Get("Retry-After"))
	}
	srv.open(t, bob, nil)
	if res, _ := srv.open(t, cid, nil); res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") != "15" {
		t.Errorf("a fourth stream: %d, Retry-After %q; want 503 after 15", res.StatusCode, res.Header.Get("Retry-After"))
	}
	first.res.Body.Close()
	waitForStream(t, srv, cid)
}

// waitForStream opens a stream for the holder of token, trying again until
// the server has room for it.
func waitForStream(t *testing.T, srv *liveServer, token string) *eventStream {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, stream := srv.open(t, token, nil)
		if res.StatusCode == http.StatusOK {
			return stream
		}
		if time.Now().After(deadline) {
			t.Fatalf("no room for a stream within 5 s: %d", res.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStreamWithoutListener: a server without a listener has no streams
// (503), answers HEAD with the stream's headers alone, and the other
// resources do not offer event streams (406).
func TestStreamWithoutListener(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	_, token := srv.user(t, "susan")
	events := map[string]string{"Accept": "text/event-stream"}
	if res := srv.do(t, request{method: http.MethodGet, path: "/api/notifications", token: token, header: events}); res.code != http.StatusServiceUnavailable {
		t.Errorf("a stream without a listener: %s", res)
	}
	if res := srv.do(t, request{method: http.MethodHead, path: "/api/notifications", token: token, header: events}); res.code != http.StatusOK ||
		res.header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("HEAD of the stream: %d, %v", res.code, res.header)
	}
	for _, path := range []string{"/api/feed", "/api/notifications/1", "/api/me"} {
		if res := srv.do(t, request{method: http.MethodGet, path: path, token: token, header: events}); res.code != http.StatusNotAcceptable {
			t.Errorf("GET %s as text/event-stream: %d, want 406", path, res.code)
		}
	}
}

// smallBuffers makes the send buffer of each connection a listener
// accepts small, so that a client that does not read soon blocks writes.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetWriteBuffer(4096)
	}
	return conn, err
}

// TestSlowReaderIsClosed opens a stream that its client does not read, on
// a connection whose server end has a small buffer, and sends it 1000
// notifications: the server ends the stream rather than hold them (the
// user's one stream is free again at once, not after the write to the
// client times out), and the client, reading at last, finds the stream's
// end after fewer events.
func TestSlowReaderIsClosed(t *testing.T) {
	t.Parallel()
	srv := startLiveServer(t, pgtest.New(t), func(l net.Listener) net.Listener { return smallBuffers{l} },
		func(c *resources.Config) { c.StreamsPerUser, c.StreamHeartbeat = 1, 2*time.Second })
	susan, token := srv.user(t, "susan")
	bob, _ := srv.user(t, "bob")
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/notifications HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nAuthorization: Bearer %s\r\n\r\n", token)
	time.Sleep(200 * time.Millisecond) // the stream opens
	srv.notify(t, susan, bob, 1000)
	start := time.Now()
	waitForStream(t, srv, token)
	freed := time.Since(start)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	n := strings.Count(string(body), "\nevent: follow")
	t.Logf("the stream was freed %s after the notifications; its client read %d events, then %v", freed, n, err)
	if n >= 1000 || err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("the slow client read %d events, then %v; want fewer than 1000, then the end", n, err)
	}
	// Its buffer full, the stream ends at once, not when a write to its
	// client times out (after a heartbeat).
	if freed > time.Second {
		t.Errorf("the stream was freed after %s, want less than a second", freed)
	}
}

// TestStreamAcrossInstances runs two instances, each with its own
// listener, on one database: what bob does through A reaches susan's
// stream on B. It measures the delay of 100 events, from the end of the
// request of the act on A to the event on B, and from its start.
func TestStreamAcrossInstances(t *testing.T) {
	t.Parallel()
	url := pgtest.New(t)
	a, b := newLiveServer(t, url), newLiveServer(t, url)
	susan, token := a.user(t, "susan")
	_, bobToken := a.user(t, "bob")
	_, stream := b.open(t, token, nil)
	var afterCommit, fromRequest []time.Duration
	for i := range 100 {
		req := httptest.NewRequest(http.MethodPost, "/api/posts", strings.NewReader(`{"body": "hi @susan `+strconv.Itoa(i)+`"}`))
		req.Header.Set("Authorization", "Bearer "+bobToken)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		start := time.Now()
		a.handler.ServeHTTP(rec, req)
		done := time.Now()
		if rec.Code != http.StatusCreated {
			t.Fatalf("post %d: %d %s", i, rec.Code, rec.Body)
		}
		e, _ := stream.next(t, 5*time.Second, false)
		if e.name != "mention" {
			t.Fatalf("event %d: %+v", i, e)
		}
		afterCommit = append(afterCommit, e.at.Sub(done))
		fromRequest = append(fromRequest, e.at.Sub(start))
	}
	slices.Sort(afterCommit)
	slices.Sort(fromRequest)
	t.Logf("delivery across instances, 100 events (user %d): after the act's response median %s, worst %s; "+
		"from the act's request median %s, worst %s", susan, afterCommit[50], afterCommit[99], fromRequest[50], fromRequest[99])
	if fromRequest[99] > 2*time.Second {
		t.Errorf("the worst of 100 events took %s", fromRequest[99])
	}
}

// TestReadyzSaysWhetherTheListenerListens: /readyz names the database and
// the listener of the live streams in its checks; while the listener is
// not listening (connecting, or again after the database came back) the
// status is warn, still a 200, and pass once it listens.
func TestReadyzSaysWhetherTheListenerListens(t *testing.T) {
	t.Parallel()
	readyz := func(srv *testServer) (string, map[string]any) {
		res := srv.do(t, request{method: http.MethodGet, path: "/readyz"})
		if res.code != http.StatusOK {
			t.Fatalf("GET /readyz: %s", res)
		}
		doc := res.json(t)
		checks, _ := doc["checks"].(map[string]any)
		state := map[string]any{}
		for name, list := range checks {
			if l, ok := list.([]any); ok && len(l) == 1 {
				state[name] = l[0].(map[string]any)["status"]
			}
		}
		return fmt.Sprint(doc["status"]), state
	}
	// A listener that was never run does not listen.
	nowhere, err := pgx.ParseConfig("postgres://127.0.0.1:1/nothing")
	if err != nil {
		t.Fatal(err)
	}
	idle := newTestServer(t, func(c *resources.Config) { c.Notifications = persistence.NewListener(nowhere, nil) })
	status, checks := readyz(idle)
	if status != "warn" || checks["postgresql:connections"] != "pass" || checks["notifications:listener"] != "warn" {
		t.Errorf("/readyz with a listener not listening: %s %v, want warn with the listener warn", status, checks)
	}
	live := newLiveServer(t, pgtest.New(t))
	deadline := time.Now().Add(5 * time.Second)
	for status, checks = readyz(live.testServer); status != "pass" && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		status, checks = readyz(live.testServer)
	}
	if status != "pass" || checks["notifications:listener"] != "pass" || checks["postgresql:connections"] != "pass" {
		t.Errorf("/readyz with the listener listening: %s %v, want pass", status, checks)
	}
}
