package main

import (
	"bufio"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestStreamResumesOnAnotherInstance reads a user's live stream on
// instance A while another user mentions them through instance B, stops A,
// and resumes the stream on B with Last-Event-ID, as EventSource does: the
// stream on A ends cleanly, and the two streams together carry every
// notification of the user, each once, in order.
func TestStreamResumesOnAnotherInstance(t *testing.T) {
	dbURL := throwawayPostgres(t)
	env := map[string]string{"DATABASE_URL": dbURL}
	args := append([]string{"--addr", "127.0.0.1:0"}, cheapArgon2...)
	apiA, stopA := startRun(t, args, env)
	apiB, stopB := startRun(t, args, env)
	defer stopB()
	reader := registerAndLogIn(t, apiA, "reader")
	writer := registerAndLogIn(t, apiB, "writer")

	onA := readEvents(streamRequest(t, apiA, reader.token, ""))
	mentions := startMentions(apiB, writer.token, "reader")
	time.Sleep(400 * time.Millisecond)
	if err := stopA(); err != nil {
		t.Errorf("stopping A: %v", err)
	}
	fromA, err := onA.wait(5 * time.Second)
	if err != nil {
		t.Fatalf("the stream on A: %v", err)
	}
	if !strings.Contains(onA.comments(), "the server is stopping") || len(fromA) == 0 {
		t.Fatalf("the stream on A ended after %d events, with comments %q", len(fromA), onA.comments())
	}
	onB := readEvents(streamRequest(t, apiB, reader.token, strconv.FormatInt(fromA[len(fromA)-1], 10)))
	time.Sleep(300 * time.Millisecond)
	posted := mentions.stop(t)
	want := notificationsOf(t, openDB(t, dbURL), "reader")
	onB.waitFor(len(want)-len(fromA), 5*time.Second)
	fromB := onB.ids()
	got := append(slices.Clone(fromA), fromB...)
	t.Logf("%d mentions posted; %d events on A before it stopped, %d on B after Last-Event-ID %d",
		posted, len(fromA), len(fromB), fromA[len(fromA)-1])
	if !slices.Equal(got, want) {
		t.Errorf("the streams carried %d events, the database holds %d notifications:\ngot  %v\nwant %v",
			len(got), len(want), got, want)
	}
}

// eventReader reads a stream of server-sent events in the background.
type eventReader struct {
	res  *http.Response
	done chan struct{}
	mu   sync.Mutex
	got  []int64  // the ids of the events read
	said []string // the comment lines read
	err  error
}

func readEvents(res *http.Response) *eventReader {
	r := &eventReader{res: res, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			r.mu.Lock()
			if id, ok := strings.CutPrefix(line, "id: "); ok {
				n, _ := strconv.ParseInt(id, 10, 64)
				r.got = append(r.got, n)
			} else if c, ok := strings.CutPrefix(line, ":"); ok {
				r.said = append(r.said, strings.TrimSpace(c))
			}
			r.mu.Unlock()
		}
		r.mu.Lock()
		r.err = sc.Err()
		r.mu.Unlock()
	}()
	return r
}

// ids returns the ids of the events read so far.
func (r *eventReader) ids() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (r *eventReader) comments() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.said, "; ")
}

// wait waits up to timeout for the stream to end, and returns the ids of
// its events and how its reading ended.
func (r *eventReader) wait(timeout time.Duration) ([]int64, error) {
	select {
	case <-r.done:
	case <-time.After(timeout):
		r.res.Body.Close()
		<-r.done
		return r.ids(), fmt.Errorf("still open after %s", timeout)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got), r.err
}

// waitFor waits up to timeout for n events, then closes the stream.
func (r *eventReader) waitFor(n int, timeout time.Duration) {
	poll(timeout, func() bool { return len(r.ids()) >= n })
	r.res.Body.Close()
	<-r.done
}

// mentions posts mentions of a user, one after the other, until stopped.
type mentions struct {
	stopped chan struct{}
	done    chan struct{}
	posted  int
	err     error
}

// startMentions posts "@username …" through api with token until stop.
func startMentions(api, token, username string) *mentions {
	m := &mentions{stopped: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for n := 0; ; n++ {
			select {
			case <-m.stopped:
				return
			default:
			}
			req, _ := http.NewRequest(http.MethodPost, api+"/posts",
				strings.NewReader(fmt.Sprintf(`{"body": "@%s number %d"}`, username, n)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			res, err := http.DefaultClient.Do(req)
			if err == nil {
				res.Body.Close()
				if res.StatusCode != http.StatusCreated {
					err = fmt.Errorf("POST /api/posts: %d", res.StatusCode)
				}
			}
			if err != nil {
				m.err = err
				return
			}
			m.posted++
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return m
}

// stop stops the mentions and returns how many were posted.
func (m *mentions) stop(t *testing.T) int {
	close(m.stopped)
	<-m.done
	if m.err != nil {
		t.Errorf("mentioning: %v", m.err)
	}
	return m.posted
}

// notificationsOf returns the ids of the notifications of username, in
// order.
func notificationsOf(t *testing.T, conn *pgx.Conn, username string) []int64 {
	t.Helper()
	rows, _ := conn.Query(t.Context(), `SELECT n.id FROM notifications n JOIN users u ON u.id = n.user_id
		WHERE u.username = $1 ORDER BY n.id`, username)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
