package resources_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"microblog/persistence"
	"microblog/persistence/mail/mailtest"
)

// exportFile is the file of an export as a client reads it.
type exportFile struct {
	User       map[string]any   `json:"user"`
	ExportedAt time.Time        `json:"exported_at"`
	Posts      []map[string]any `json:"posts"`
}

// exportTemplate is the template export of the caller's own user.
func (s *testServer) exportTemplate(t *testing.T, token string, user int64) template {
	t.Helper()
	templates, _ := s.templates(t, token, userPathOf(user))
	tmpl, ok := templates["export"]
	if !ok || tmpl.Method != http.MethodPost || tmpl.Target != userPathOf(user)+"/exports" || len(tmpl.Properties) != 0 {
		t.Fatalf("the template export of the own user: %+v (present: %v)", tmpl, ok)
	}
	return tmpl
}

// pollExport GETs the job resource at path until it is done or failed, and
// returns it with the progress it showed on the way.
func (s *testServer) pollExport(t *testing.T, token, path string) (map[string]any, []float64) {
	t.Helper()
	var progress []float64
	deadline := time.Now().Add(30 * time.Second)
	for {
		res := s.do(t, request{method: http.MethodGet, path: path, token: token})
		if res.code != http.StatusOK {
			t.Fatalf("GET %s: %s", path, res)
		}
		doc := res.json(t)
		if p := doc["progress"].(float64); len(progress) == 0 || progress[len(progress)-1] != p {
			progress = append(progress, p)
		}
		if state := doc["state"]; state == persistence.ExportDone || state == persistence.ExportFailed {
			return doc, progress
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is still %v after 30 s", path, doc["state"])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// exportablePosts writes six posts as the holder of token, the fourth a
// reply to a post of bob's, and one of bob's before and after them; it
// returns the six, oldest first, and bob's first.
func (s *testServer) exportablePosts(t *testing.T, token, bobToken string) (posts []int64, bobs int64) {
	t.Helper()
	bobs = s.post(t, bobToken, "bob writes first")
	for i := range 6 {
		s.clock.Advance(time.Minute)
		if i != 3 {
			posts = append(posts, s.post(t, token, fmt.Sprintf("post %d #go #export", i)))
			continue
		}
		res := s.do(t, request{method: http.MethodPost, path: postPathOf(bobs) + "/replies", token: token, body: `{"body": "a reply #answer"}`})
		if res.code != http.StatusCreated {
			t.Fatalf("reply: %s", res)
		}
		posts = append(posts, int64(res.json(t)["id"].(float64)))
	}
	s.post(t, bobToken, "bob writes last")
	return posts, bobs
}

// TestExportByLinks follows an export from the own user's template to the
// file: the job resource moves from queued to done, the file holds exactly
// the user's posts, oldest first, and the user gets a mail.
func TestExportByLinks(t *testing.T) {
	s := newTestServer(t)
	smtp := mailtest.Start(t, mailtest.Options{})
	s.startJobs(t, smtp, func(js *persistence.JobSettings) { js.SMTP, js.ExportBatch = true, 2 })
	susan, token := s.user(t, "susan")
	bob, bobToken := s.user(t, "bob")
	posts, bobs := s.exportablePosts(t, token, bobToken)
	if others, _ := s.templates(t, token, userPathOf(bob)); others["export"].Method != "" {
		t.Errorf("someone else's user offers export: %+v", others["export"])
	}

	created := s.submit(t, token, s.exportTemplate(t, token, susan), nil)
	job := created.header.Get("Location")
	if created.code != http.StatusAccepted || job == "" || created.header.Get("Content-Location") != job {
		t.Fatalf("export: %s %v", created, created.header)
	}
	doc, progress := s.pollExport(t, token, job)
	if doc["state"] != persistence.ExportDone || doc["finished_at"] == nil || doc["post_count"] != float64(len(posts)) {
		t.Fatalf("the export at the end: %v", doc)
	}
	if !slices.IsSorted(progress) || progress[len(progress)-1] != 100 {
		t.Errorf("progress seen: %v, want it to grow to 100", progress)
	}
	t.Logf("progress seen: %v", progress)
	href := doc["_links"].(map[string]any)["mb:download"].(map[string]any)["href"].(string)
	file := s.download(t, token, href, "susan")
	var got []int64
	for _, p := range file.Posts {
		got = append(got, int64(p["id"].(float64)))
	}
	if file.User["id"] != float64(susan) || file.User["username"] != "susan" || !slices.Equal(got, posts) {
		t.Errorf("the file: user %v, posts %v; want susan's %v, oldest first", file.User, got, posts)
	}
	first, reply := file.Posts[0], file.Posts[3]
	if reply["in_reply_to"] != float64(bobs) || fmt.Sprint(reply["tags"]) != "[answer]" || first["in_reply_to"] != nil ||
		fmt.Sprint(first["tags"]) != "[go export]" || first["body"] != "post 0 #go #export" || first["created_at"] == nil {
		t.Errorf("posts in the file: %v", file.Posts)
	}

	mails := smtp.Wait(t, 1, 20*time.Second)
	if len(mails) != 1 || mails[0].To[0] != "susan@example.com" || !strings.Contains(mails[0].Body, job) {
		t.Errorf("mails: %+v, want one to susan naming %s", mails, job)
	}
	// To anyone else, neither the export nor its file is there.
	for _, path := range []string{job, href} {
		if res := s.do(t, request{method: http.MethodGet, path: path, token: bobToken}); res.code != http.StatusNotFound {
			t.Errorf("GET %s as bob: %s, want 404", path, res)
		}
	}
}

// download GETs the file at href and checks it as an attachment: its
// length, its validators, HEAD and a conditional GET.
func (s *testServer) download(t *testing.T, token, href, username string) exportFile {
	t.Helper()
	res := s.do(t, request{method: http.MethodGet, path: href, token: token})
	id := strings.TrimSuffix(strings.TrimPrefix(href, "/api/exports/"), "/download")
	if res.code != http.StatusOK || res.header.Get("Content-Type") != "application/json" ||
		res.header.Get("Content-Disposition") != `attachment; filename="microblog-`+username+`-export-`+id+`.json"` ||
		res.header.Get("Content-Length") != strconv.Itoa(len(res.body)) || res.header.Get("ETag") == "" {
		t.Fatalf("download: %d %v", res.code, res.header)
	}
	var file exportFile
	if err := json.Unmarshal(res.body, &file); err != nil {
		t.Fatalf("the file is not JSON: %v\n%s", err, res.body)
	}
	head := s.do(t, request{method: http.MethodHead, path: href, token: token})
	if head.code != http.StatusOK || head.header.Get("Content-Length") != res.header.Get("Content-Length") {
		t.Errorf("HEAD %s: %d %v", href, head.code, head.header)
	}
	again := s.do(t, request{method: http.MethodGet, path: href, token: token, header: map[string]string{"If-None-Match": res.header.Get("ETag")}})
	if again.code != http.StatusNotModified {
		t.Errorf("GET %s with its ETag: %s, want 304", href, again)
	}
	return file
}

// One export at a time: a second request while one is queued or running
// is sent to it, however many come at once; and only the user may ask.
func TestExportOnePending(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	susan, token := s.user(t, "susan")
	bob, bobToken := s.user(t, "bob")
	target := userPathOf(susan) + "/exports"

	first := s.do(t, request{method: http.MethodPost, path: target, token: token})
	if first.code != http.StatusAccepted || first.json(t)["state"] != persistence.ExportQueued {
		t.Fatalf("export: %s", first)
	}
	path := first.header.Get("Location")
	second := s.do(t, request{method: http.MethodPost, path: target, token: token})
	if second.code != http.StatusSeeOther || second.header.Get("Location") != path {
		t.Errorf("a second export while one is queued: %s %v, want 303 to %s", second, second.header, path)
	}
	s.sql(t, `UPDATE exports SET state = 'running' WHERE user_id = $1`, susan)
	if third := s.do(t, request{method: http.MethodPost, path: target, token: token}); third.code != http.StatusSeeOther ||
		third.header.Get("Location") != path {
		t.Errorf("an export while one runs: %s, want 303 to %s", third, path)
	}

	// A client that polls gets 304 while nothing moves.
	job := s.do(t, request{method: http.MethodGet, path: path, token: token})
	if job.header.Get("ETag") == "" || job.header.Get("Cache-Control") != "private, no-cache" {
		t.Errorf("GET %s: %v", path, job.header)
	}
	if res := s.do(t, request{method: http.MethodGet, path: path, token: token, header: map[string]string{"If-None-Match": job.header.Get("ETag")}}); res.code != http.StatusNotModified {
		t.Errorf("polling an export that did not move: %s, want 304", res)
	}
	if res := s.do(t, request{method: http.MethodGet, path: path + "/download", token: token}); res.code != http.StatusConflict {
		t.Errorf("download before done: %s, want 409", res)
	}

	for _, tc := range []struct{ path, token string }{{target, bobToken}, {userPathOf(bob+100) + "/exports", token}} {
		if res := s.do(t, request{method: http.MethodPost, path: tc.path, token: tc.token}); res.code != http.StatusForbidden {
			t.Errorf("POST %s as someone else: %s, want 403", tc.path, res)
		}
	}
	for _, p := range []string{"/api/exports/999", "/api/exports/999/download", "/api/exports/01"} {
		if res := s.do(t, request{method: http.MethodGet, path: p, token: token}); res.code != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", p, res)
		}
	}
}

// Twenty requests at once for an export make one job: one 202, and 303s to
// it.
func TestExportRequestedAtOnce(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	bob, token := s.user(t, "bob")
	answers := make(chan response, 20)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			answers <- s.do(t, request{method: http.MethodPost, path: userPathOf(bob) + "/exports", token: token})
		})
	}
	wg.Wait()
	close(answers)
	locations := map[string]bool{}
	accepted := 0
	for res := range answers {
		switch res.code {
		case http.StatusAccepted:
			accepted++
		case http.StatusSeeOther:
		default:
			t.Errorf("one of 20 exports at once: %s", res)
		}
		locations[res.header.Get("Location")] = true
	}
	var jobs int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = 'export' AND (args->>'user_id')::bigint = $1`, bob).Scan(&jobs); err != nil {
		t.Fatal(err)
	}
	if accepted != 1 || len(locations) != 1 || jobs != 1 {
		t.Errorf("20 exports at once: %d accepted, %d locations, %d jobs; want one of each", accepted, len(locations), jobs)
	}
}

// An export asked for before any instance works the queue (as when the
// server restarts) is done once one does; deleting its user deletes it,
// with every chunk of its file.
func TestExportGoesWithItsUser(t *testing.T) {
	s := newTestServer(t)
	susan, token := s.user(t, "susan")
	s.post(t, token, "something to export")
	res := s.do(t, request{method: http.MethodPost, path: userPathOf(susan) + "/exports", token: token})
	if res.code != http.StatusAccepted {
		t.Fatalf("export: %s", res)
	}
	smtp := mailtest.Start(t, mailtest.Options{})
	s.startJobs(t, smtp)
	s.jobsDone(t, "export")
	if doc := s.do(t, request{method: http.MethodGet, path: res.header.Get("Location"), token: token}).json(t); doc["state"] != persistence.ExportDone {
		t.Errorf("the export once the jobs run: %v", doc)
	}
	if len(smtp.Messages()) != 0 {
		t.Errorf("mail without SMTP set: %+v", smtp.Messages())
	}
	var rows int
	count := `SELECT (SELECT count(*) FROM export_chunks) + (SELECT count(*) FROM exports)`
	if err := s.pool.QueryRow(context.Background(), count).Scan(&rows); err != nil || rows < 4 {
		t.Fatalf("an export and its chunks: %d rows (%v)", rows, err)
	}
	s.sql(t, `DELETE FROM users WHERE id = $1`, susan)
	if err := s.pool.QueryRow(context.Background(), count).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("after the user is deleted: %d rows of exports and chunks (%v), want none", rows, err)
	}
}

// liveHeapWriter is a response writer that keeps no body: four times
// along the body, it collects the garbage and records the most heap still
// in use.
type liveHeapWriter struct {
	header  http.Header
	code    int
	written int
	peak    uint64
}

func (w *liveHeapWriter) Header() http.Header { return w.header }

func (w *liveHeapWriter) WriteHeader(code int) { w.code = code }

func (w *liveHeapWriter) Write(p []byte) (int, error) {
	size, _ := strconv.Atoi(w.header.Get("Content-Length"))
	before := w.written
	w.written += len(p)
	if size > 0 && before*4/size == w.written*4/size && w.written != size {
		return len(p), nil
	}
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	w.peak = max(w.peak, m.HeapAlloc)
	return len(p), nil
}

// seedPosts gives user id n posts, with SQL and without the triggers that
// keep counts: with them, each post would update the user's row.
func (s *testServer) seedPosts(t *testing.T, id int64, n int) {
	t.Helper()
	err := pgx.BeginFunc(context.Background(), s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(context.Background(), `SET LOCAL session_replication_role = replica`); err != nil {
			return err
		}
		_, err := tx.Exec(context.Background(), `INSERT INTO posts (author_id, body, created_at, updated_at)
			SELECT $1, 'post number ' || g || ' of a user who writes a lot, to fill the file', $2::timestamptz + g * interval '1 second', $2
			FROM generate_series(1, $3) g`, id, s.clock.Now(), n)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestExportDownloadHoldsLittle downloads the exports of 3,000 and 30,000
// posts and measures the heap in use along the way: it must stay below a
// bound that the second file is three times over, which a download that
// held its file would pass. Not parallel, so that no other test moves the
// heap.
func TestExportDownloadHoldsLittle(t *testing.T) {
	s := newTestServer(t)
	// Chunks of 250 posts, 57 kB: the download holds four of them.
	s.startJobs(t, mailtest.Start(t, mailtest.Options{}), func(js *persistence.JobSettings) { js.ExportBatch = 250 })
	const bound = 2 << 20
	for _, n := range []int{3000, 30000} {
		id, token := s.user(t, fmt.Sprintf("user%d", n))
		s.seedPosts(t, id, n)
		created := s.do(t, request{method: http.MethodPost, path: userPathOf(id) + "/exports", token: token})
		s.jobsDone(t, "export")

		w := &liveHeapWriter{header: http.Header{}}
		req := httptest.NewRequest(http.MethodGet, created.header.Get("Location")+"/download", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		s.handler.ServeHTTP(w, req)
		size, _ := strconv.Atoi(w.header.Get("Content-Length"))
		if w.code != http.StatusOK || w.written != size || size < n*100 {
			t.Fatalf("download of %d posts: %d, %d bytes of %d", n, w.code, w.written, size)
		}
		growth := w.peak - min(w.peak, m.HeapAlloc)
		t.Logf("%d posts: a file of %d bytes; the heap in use grew by at most %d bytes", n, size, growth)
		if growth > bound {
			t.Errorf("downloading %d posts, a file of %d bytes, grew the heap in use by %d bytes", n, size, growth)
		}
		if n == 30000 && size < 3*bound {
			t.Fatalf("a file of %d bytes is too small to tell", size)
		}
	}
}
