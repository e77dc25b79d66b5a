package persistence

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// exportFile is an export's file as a client reads it.
type exportFile struct {
	exportHeader
	Posts []exportedPost `json:"posts"`
}

// exportFixture is a store with susan, five posts of hers (a reply to bob
// among them, and tags) and two of bob's, on a clock that moves a second
// at each read.
type exportFixture struct {
	s          *Store
	susan, bob int64
	posts      []int64 // susan's, oldest first
}

func newExportFixture(t *testing.T) *exportFixture {
	t.Helper()
	s, _ := NewTestStore(t)
	var mu sync.Mutex
	clock := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	s.Now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Second)
		return clock
	}
	s.jobs.settings = JobSettings{Logger: slog.New(slog.DiscardHandler)}
	ctx := t.Context()
	f := &exportFixture{s: s}
	ids := map[string]int64{}
	for _, name := range []string{"susan", "bob"} {
		u, err := s.CreateUser(ctx, NewUser{Username: name, Email: name + "@example.com", Password: "a-password"})
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = u.ID
	}
	f.susan, f.bob = ids["susan"], ids["bob"]
	bobs, err := s.WritePost(ctx, f.bob, "bob's first")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		var p Post
		if i == 2 {
			p, err = s.WriteReply(ctx, f.susan, bobs.ID, "a reply to bob #answer")
		} else {
			p, err = s.WritePost(ctx, f.susan, fmt.Sprintf("post %d #go #export <b>", i))
		}
		if err != nil {
			t.Fatal(err)
		}
		f.posts = append(f.posts, p.ID)
	}
	if _, err := s.WritePost(ctx, f.bob, "bob's second"); err != nil {
		t.Fatal(err)
	}
	return f
}

// file reads the file of export e, which must be done.
func (f *exportFixture) file(t *testing.T, id int64) (exportFile, Export) {
	t.Helper()
	var e Export
	if err := f.s.pool.QueryRow(t.Context(), selectExport, id).Scan(dests(e.columns())...); err != nil {
		t.Fatal(err)
	}
	if e.State != ExportDone || e.Progress != 100 || e.FinishedAt == nil {
		t.Fatalf("export %d: %+v, want done", id, e)
	}
	var buf bytes.Buffer
	if err := f.s.WriteExport(t.Context(), e, &buf); err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) != e.Size {
		t.Errorf("the file has %d bytes, the export says %d", buf.Len(), e.Size)
	}
	var file exportFile
	if err := json.Unmarshal(buf.Bytes(), &file); err != nil {
		t.Fatalf("the file is not JSON: %v\n%s", err, buf.Bytes())
	}
	return file, e
}

// wantSusansPosts checks that file holds susan's posts of the fixture,
// oldest first, and nothing else.
func (f *exportFixture) wantSusansPosts(t *testing.T, file exportFile) {
	t.Helper()
	var ids []int64
	for _, p := range file.Posts {
		ids = append(ids, p.ID)
	}
	if file.User.ID != f.susan || file.User.Username != "susan" || !slices.Equal(ids, f.posts) {
		t.Errorf("the file has user %+v and posts %v, want susan and %v", file.User, ids, f.posts)
	}
	for i, p := range file.Posts {
		if p.CreatedAt.IsZero() || p.Tags == nil || (i == 2) != (p.InReplyTo != nil) {
			t.Errorf("post %d: %+v", i, p)
		}
	}
	if len(file.Posts) == 5 && (!slices.Equal(file.Posts[0].Tags, []string{"go", "export"}) ||
		file.Posts[0].Body != "post 0 #go #export <b>" || !slices.Equal(file.Posts[2].Tags, []string{"answer"})) {
		t.Errorf("bodies and tags: %+v", file.Posts)
	}
}

// Each step of an export commits on its own: the progress moves a batch at
// a time, and the file holds the posts up to the newest when it began.
func TestExportSteps(t *testing.T) {
	t.Parallel()
	f := newExportFixture(t)
	ctx := t.Context()
	e, created, err := f.s.CreateExport(ctx, f.susan)
	if err != nil || !created || e.State != ExportQueued || e.Progress != 0 {
		t.Fatalf("CreateExport: %+v, %v, %v", e, created, err)
	}
	if again, created, err := f.s.CreateExport(ctx, f.susan); err != nil || created || again.ID != e.ID {
		t.Fatalf("a second CreateExport: %+v, %v, %v; want export %d again", again, created, err, e.ID)
	}
	settings := JobSettings{ExportBatch: 2}
	var progress []int64
	var states []string
	for i := 0; ; i++ {
		done, err := f.s.exportStep(ctx, e.ID, settings)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 { // a post written after the export began is not in it
			if _, err := f.s.WritePost(ctx, f.susan, "too late"); err != nil {
				t.Fatal(err)
			}
		}
		var now Export
		if err := f.s.pool.QueryRow(ctx, selectExport, e.ID).Scan(dests(now.columns())...); err != nil {
			t.Fatal(err)
		}
		progress, states = append(progress, now.Progress), append(states, now.State)
		if done {
			break
		}
	}
	if want := []int64{0, 40, 80, 99, 100}; !slices.Equal(progress, want) {
		t.Errorf("progress after each step: %v, want %v (states %v)", progress, want, states)
	}
	if want := []string{"running", "running", "running", "running", "done"}; !slices.Equal(states, want) {
		t.Errorf("states after each step: %v, want %v", states, want)
	}
	file, _ := f.file(t, e.ID)
	f.wantSusansPosts(t, file)
	if _, err := f.s.exportStep(ctx, e.ID, settings); err == nil {
		t.Error("a step of an export that is done: no error, want ErrNotFound")
	}
}

// A job run again after it stopped half-way, or twice at once, resumes
// where the last step committed: one file, each post once.
func TestExportRunAgain(t *testing.T) {
	t.Parallel()
	f := newExportFixture(t)
	ctx := t.Context()
	settings := JobSettings{ExportBatch: 2}

	first, _, err := f.s.CreateExport(ctx, f.susan)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := f.s.exportStep(ctx, first.ID, settings); err != nil {
			t.Fatal(err)
		}
	}
	// A step whose transaction dies leaves nothing behind.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.s.exportStep(cancelled, first.ID, settings); err == nil {
		t.Fatal("a step with a cancelled context: no error")
	}
	if err := f.s.runExport(ctx, first.ID, settings); err != nil {
		t.Fatal(err)
	}
	file, _ := f.file(t, first.ID)
	f.wantSusansPosts(t, file)

	second, created, err := f.s.CreateExport(ctx, f.susan)
	if err != nil || !created {
		t.Fatalf("an export after one is done: %+v, %v, %v", second, created, err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Go(func() { errs <- f.s.runExport(ctx, second.ID, JobSettings{ExportBatch: 1}) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		// The runs that find the export done by another have nothing to do.
		if err != nil && !errors.Is(err, ErrNotFound) {
			t.Error(err)
		}
	}
	file, _ = f.file(t, second.ID)
	f.wantSusansPosts(t, file)
	var left int
	if err := f.s.pool.QueryRow(ctx, `SELECT count(*) FROM exports WHERE user_id = $1`, f.susan).Scan(&left); err != nil || left != 1 {
		t.Errorf("susan has %d exports (%v), want 1: the newer replaces the older", left, err)
	}
}

// The last attempt that fails leaves the export failed, its chunks gone;
// an export whose job is gone shows as failed, and does not stand in the
// way of a new one.
func TestExportFails(t *testing.T) {
	t.Parallel()
	f := newExportFixture(t)
	ctx := t.Context()
	e, _, err := f.s.CreateExport(ctx, f.susan)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.exportStep(ctx, e.ID, JobSettings{}); err != nil {
		t.Fatal(err)
	}
	// The row is locked elsewhere: the attempt times out.
	tx, err := f.s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM exports WHERE id = $1 FOR UPDATE`, e.ID); err != nil {
		t.Fatal(err)
	}
	w := &exportWorker{store: f.s}
	job := &river.Job[ExportArgs]{JobRow: &rivertype.JobRow{ID: 1, Attempt: exportAttempts, MaxAttempts: exportAttempts},
		Args: ExportArgs{ExportID: e.ID, UserID: f.susan}}
	worked := make(chan error, 1)
	go func() {
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		worked <- w.Work(short, job)
	}()
	time.Sleep(400 * time.Millisecond)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-worked; err == nil {
		t.Fatal("the last attempt: no error")
	}
	var state string
	var chunks int
	if err := f.s.pool.QueryRow(ctx, `SELECT state, (SELECT count(*) FROM export_chunks WHERE export_id = $1)
		FROM exports WHERE id = $1`, e.ID).Scan(&state, &chunks); err != nil || state != ExportFailed || chunks != 0 {
		t.Errorf("after the last attempt failed: state %q with %d chunks (%v), want failed with none", state, chunks, err)
	}

	// A queued export whose job is gone has failed.
	stale, created, err := f.s.CreateExport(ctx, f.susan)
	if err != nil || !created {
		t.Fatalf("an export after a failed one: %+v, %v, %v", stale, created, err)
	}
	if _, err := f.s.pool.Exec(ctx, `DELETE FROM river_job WHERE kind = 'export'`); err != nil {
		t.Fatal(err)
	}
	var shown Export
	if err := f.s.pool.QueryRow(ctx, selectExport, stale.ID).Scan(dests(shown.columns())...); err != nil || shown.State != ExportFailed {
		t.Errorf("an export whose job is gone: %+v (%v), want failed", shown, err)
	}
	fresh, created, err := f.s.CreateExport(ctx, f.susan)
	if err != nil || !created || fresh.ID == stale.ID {
		t.Errorf("an export after one whose job is gone: %+v, %v, %v, want a new one", fresh, created, err)
	}
}
