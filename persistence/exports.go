package persistence

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/riverqueue/river"
)

// The states of an export: queued until its job begins, running while
// the job writes the file, then done, or failed when the job gave up.
const (
	ExportQueued  = "queued"
	ExportRunning = "running"
	ExportDone    = "done"
	ExportFailed  = "failed"
)

const (
	// exportBatch is how many posts an export writes at a time, in one
	// chunk and one transaction, unless JobSettings.ExportBatch says.
	exportBatch = 1000
	// exportAttempts is how many times an export's job is tried before
	// the export fails. River waits about attempt⁴ seconds between tries:
	// some 80 minutes in all.
	exportAttempts = 8
	// exportChunksRead is how many chunks a download reads at a time.
	exportChunksRead = 4
)

// Export is an export of a user's posts, a job resource: its state, its
// progress and, once done, a file of Size bytes in Chunks pieces.
type Export struct {
	ID         int64
	UserID     int64
	State      string
	Progress   int64
	PostCount  int64
	Chunks     int64
	Size       int64
	CreatedAt  time.Time
	FinishedAt *time.Time
}

// columns are the columns of an export row and where a scan puts them.
func (e *Export) columns() []column {
	return []column{{name: "id", dest: int8Dest{&e.ID}}, {name: "user_id", dest: int8Dest{&e.UserID}},
		{name: "state", dest: textDest{&e.State}, expr: exportState}, {name: "progress", dest: int8Dest{&e.Progress}},
		{name: "post_count", dest: int8Dest{&e.PostCount}}, {name: "chunks", dest: int8Dest{&e.Chunks}},
		{name: "size", dest: int8Dest{&e.Size}}, {name: "created_at", dest: timeDest{&e.CreatedAt}},
		{name: "finished_at", dest: timePtrDest{&e.FinishedAt}}}
}

// exportState is the state of the export aliased alias as a client sees
// it: one queued or running whose job is over or gone (an instance died
// in its last attempt, say) has failed, though no job said so.
func exportState(alias string) string {
	return `CASE WHEN ` + alias + `.state IN ('queued', 'running') AND NOT EXISTS (
			SELECT 1 FROM river_job j
			WHERE j.id = ` + alias + `.job_id AND j.state NOT IN ('completed', 'cancelled', 'discarded'))
		THEN 'failed' ELSE ` + alias + `.state END`
}

// ExportArgs is the job that writes an export. UserID is whose posts it
// exports, so that deleting the user drops it.
type ExportArgs struct {
	ExportID int64 `json:"export_id"`
	UserID   int64 `json:"user_id"`
}

// Kind names the job in the queue.
func (ExportArgs) Kind() string { return "export" }

// InsertOpts bounds the tries of an export's job.
func (ExportArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: exportAttempts} }

// failStaleExports marks failed the queued or running export of user $1
// whose job is over or gone (see exportState), so that it does not stand
// in the way of a new one, and drops what it wrote.
const failStaleExports = `
	WITH stale AS (
		UPDATE exports e SET state = 'failed', finished_at = $2
		WHERE e.user_id = $1 AND e.state IN ('queued', 'running') AND NOT EXISTS (
			SELECT 1 FROM river_job j WHERE j.id = e.job_id AND j.state NOT IN ('completed', 'cancelled', 'discarded'))
		RETURNING id
	)
	DELETE FROM export_chunks WHERE export_id IN (SELECT id FROM stale)`

// insertExport queues an export of user $1's posts, unless one is queued
// or running (exports_pending_key): then it returns no row.
const insertExport = `
	INSERT INTO exports (user_id, created_at) VALUES ($1, $2)
	ON CONFLICT (user_id) WHERE state IN ('queued', 'running') DO NOTHING
	RETURNING id`

const selectPendingExport = `SELECT id FROM exports WHERE user_id = $1 AND state IN ('queued', 'running')`

var selectExport = `SELECT ` + columnList("e", new(Export).columns()) + ` FROM exports e WHERE e.id = $1`

// CreateExport queues an export of user userID's posts, and its job in the
// same transaction. If the user has an export queued or running already,
// it returns that one, and created is false.
func (s *Store) CreateExport(ctx context.Context, userID int64) (e Export, created bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var id int64
		id, created, err = s.queueExport(ctx, tx, userID)
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, selectExport, id).Scan(dests(e.columns())...)
	})
	if err != nil {
		return Export{}, false, wrap(fmt.Sprintf("export of user %d", userID), err)
	}
	return e, created, nil
}

// queueExport inserts an export of userID's posts and its job in tx, or
// finds the one queued or running. Of two requests at once, one inserts
// and the other, which waits for it on exports_pending_key, finds it.
func (s *Store) queueExport(ctx context.Context, tx pgx.Tx, userID int64) (id int64, created bool, err error) {
	now := s.now()
	if _, err := tx.Exec(ctx, failStaleExports, userID, now); err != nil {
		return 0, false, err
	}
	// The export in the way may finish between the insert and the select:
	// then the insert is tried again.
	for range 3 {
		err := tx.QueryRow(ctx, insertExport, userID, now).Scan(&id)
		if err == nil {
			job, err := s.jobs.client.InsertTx(ctx, tx, ExportArgs{ExportID: id, UserID: userID}, nil)
			if err != nil {
				return 0, false, err
			}
			_, err = tx.Exec(ctx, `UPDATE exports SET job_id = $2 WHERE id = $1`, id, job.Job.ID)
			return id, true, err
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return 0, false, err
		}
		err = tx.QueryRow(ctx, selectPendingExport, userID).Scan(&id)
		if !errors.Is(err, pgx.ErrNoRows) {
			return id, false, err
		}
	}
	return 0, false, errors.New("the pending export kept changing")
}

// CallerExport is an export as its user, the holder of a token, reads it.
type CallerExport struct {
	Caller User
	Export Export
}

// selectCallerAndExport reads the caller and export $3, if it is theirs:
// to anyone else it is not there.
var selectCallerAndExport = callerCTE + `
	SELECT ` + callerColumns + `, ` + columnList("e", new(Export).columns()) + callerFrom + `
	LEFT JOIN exports e ON e.id = $3 AND e.user_id = u.id`

// ExportFor returns the user holding token and their export id, in one
// statement; ErrNotFound if there is no such export or it is someone
// else's.
func (s *Store) ExportFor(ctx context.Context, token string, id int64) (CallerExport, error) {
	var (
		ce  CallerExport
		e   Export
		err error
	)
	ce.Caller, ce.Export, err = oneAsCaller(ctx, s, fmt.Sprintf("export %d", id), selectCallerAndExport, token,
		[]any{id}, dests(e.columns()), &e, &e.ID)
	return ce, err
}

// selectChunks reads up to $3 chunks of export $1 from number $2 on.
const selectChunks = `SELECT data FROM export_chunks WHERE export_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3`

// WriteExport writes the file of export e, which is done, to w, reading a
// few chunks at a time into the same buffers: however large the file, it
// holds at most exportChunksRead chunks in memory, and no connection while
// it writes. The file is gone if a newer export of the user finished
// meanwhile: then it stops with an error, the file cut short.
func (s *Store) WriteExport(ctx context.Context, e Export, w io.Writer) error {
	bufs := make([]pgtype.PreallocBytes, exportChunksRead)
	for seq := int64(0); seq < e.Chunks; {
		n, err := s.readChunks(ctx, e.ID, seq, bufs)
		if err != nil {
			return wrap(fmt.Sprintf("export %d", e.ID), err)
		}
		if n == 0 {
			return fmt.Errorf("persistence: export %d: chunk %d is gone", e.ID, seq)
		}
		for _, b := range bufs[:n] {
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		seq += int64(n)
	}
	return nil
}

// readChunks reads the chunks of export id from number from on into bufs,
// as many as fit, and returns how many it read.
func (s *Store) readChunks(ctx context.Context, id, from int64, bufs []pgtype.PreallocBytes) (int, error) {
	rows, err := s.pool.Query(ctx, selectChunks, id, from, len(bufs))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		bufs[n] = bufs[n][:cap(bufs[n])]
		if err := rows.Scan(&bufs[n]); err != nil {
			return 0, err
		}
		n++
	}
	return n, rows.Err()
}

type exportWorker struct {
	river.WorkerDefaults[ExportArgs]
	store *Store
}

// Work writes the export, or the rest of it. An export that is gone (its
// user deleted) or over needs nothing. When the last attempt fails, the
// export fails with it.
func (w *exportWorker) Work(ctx context.Context, job *river.Job[ExportArgs]) error {
	settings := w.store.jobs.current()
	err := w.store.runExport(ctx, job.Args.ExportID, settings)
	if err == nil || errors.Is(err, ErrNotFound) {
		return nil
	}
	settings.Logger.Warn("exporting posts", "job", job.ID, "export_id", job.Args.ExportID, "attempt", job.Attempt, "err", err)
	if job.Attempt >= job.MaxAttempts {
		if ferr := w.store.failExport(context.WithoutCancel(ctx), job.Args.ExportID); ferr != nil {
			return errors.Join(err, ferr)
		}
	}
	return err
}

// runExport writes export id a batch at a time until it is done.
func (s *Store) runExport(ctx context.Context, id int64, settings JobSettings) error {
	for {
		done, err := s.exportStep(ctx, id, settings)
		if err != nil || done {
			return err
		}
	}
}

// exportRun is an export as its job sees it, its row locked.
type exportRun struct {
	id, userID             int64
	username, email, state string
	total, posts, chunks   int64
	uptoAt, cursorAt       pgtype.Timestamptz
	uptoID, cursorID       int64
}

// lockExport locks export $1 while it is queued or running, and reads it.
// Every step of an export takes this lock first, so that two runs of its
// job at once (one rescued from an instance thought dead, say) take turns,
// each going on from where the other's last step left it.
const lockExport = `
	SELECT e.user_id, u.username, u.email, e.state, e.total, e.post_count, e.chunks,
		e.upto_at, e.upto_id, e.cursor_at, e.cursor_id
	FROM exports e JOIN users u ON u.id = e.user_id
	WHERE e.id = $1 AND e.state IN ('queued', 'running')
	FOR UPDATE OF e`

// exportStep does the next step of export id in a transaction of its own:
// begin it, write a batch of posts, or, when none is left, finish it. It
// reports whether the export is done; ErrNotFound when it is not queued
// or running (any more).
func (s *Store) exportStep(ctx context.Context, id int64, settings JobSettings) (done bool, err error) {
	batch := settings.ExportBatch
	if batch <= 0 {
		batch = exportBatch
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		r := exportRun{id: id}
		err := tx.QueryRow(ctx, lockExport, id).Scan(&r.userID, &r.username, &r.email, &r.state, &r.total, &r.posts,
			&r.chunks, &r.uptoAt, &r.uptoID, &r.cursorAt, &r.cursorID)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if r.state == ExportQueued {
			return s.beginExport(ctx, tx, &r)
		}
		var buf bytes.Buffer
		last, n, err := r.writePosts(ctx, tx, batch, &buf)
		if err != nil {
			return err
		}
		if n == 0 {
			done = true
			return s.finishExport(ctx, tx, &r, settings.SMTP)
		}
		return r.appendPosts(ctx, tx, buf.Bytes(), last, n)
	})
	if err != nil {
		return false, wrap(fmt.Sprintf("export %d", id), err)
	}
	return done, nil
}

// beginExport fixes what export $1 holds, user $2's posts up to the newest
// now, whose number the user's post_count gives in the same snapshot, and
// writes the start of the file, $4, made at $3.
const beginExport = `
	WITH newest AS (
		SELECT created_at, id FROM posts WHERE author_id = $2 ORDER BY created_at DESC, id DESC LIMIT 1
	), chunk AS (
		INSERT INTO export_chunks (export_id, seq, data) VALUES ($1, 0, $4)
	)
	UPDATE exports e SET state = 'running', started_at = $3, total = u.post_count,
		upto_at = coalesce(n.created_at, '-infinity'), upto_id = coalesce(n.id, 0),
		chunks = 1, size = octet_length($4)
	FROM users u LEFT JOIN newest n ON true
	WHERE e.id = $1 AND u.id = e.user_id`

// exportHeader is the start of an export's file, before its posts.
type exportHeader struct {
	User struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
	} `json:"user"`
	ExportedAt time.Time `json:"exported_at"`
}

func (s *Store) beginExport(ctx context.Context, tx pgx.Tx, r *exportRun) error {
	now := s.now()
	var h exportHeader
	h.User.ID, h.User.Username, h.ExportedAt = r.userID, r.username, now
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	// The posts are the header's last member: {"user": …, "posts":[
	b = append(b[:len(b)-1], `,"posts":[`...)
	_, err = tx.Exec(ctx, beginExport, r.id, r.userID, now, b)
	return err
}

// exportedPost is a post as an export's file has it.
type exportedPost struct {
	ID         int64     `json:"id"`
	Body       string    `json:"body"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	InReplyTo  *int64    `json:"in_reply_to"`
	Tags       []string  `json:"tags"`
	ReplyCount int64     `json:"reply_count"`
	LikeCount  int64     `json:"like_count"`
}

// selectExportPosts reads the next $6 posts of user $1, oldest first,
// after the cursor ($2, $3) and up to ($4, $5), in posts_author_idx.
const selectExportPosts = `
	SELECT id, body, created_at, updated_at, parent_id, tags, reply_count, like_count
	FROM posts
	WHERE author_id = $1 AND (created_at, id) > ($2, $3) AND (created_at, id) <= ($4, $5)
	ORDER BY created_at, id
	LIMIT $6`

// writePosts writes the next batch of r's posts to buf as the file has
// them, each on a line of its own, and returns the last and how many.
func (r *exportRun) writePosts(ctx context.Context, tx pgx.Tx, batch int, buf *bytes.Buffer) (exportedPost, int64, error) {
	rows, _ := tx.Query(ctx, selectExportPosts, r.userID, r.cursorAt, r.cursorID, r.uptoAt, r.uptoID, batch)
	var (
		p exportedPost
		n int64
	)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_, err := pgx.ForEachRow(rows, []any{&p.ID, &p.Body, &p.CreatedAt, &p.UpdatedAt, &p.InReplyTo, &p.Tags,
		&p.ReplyCount, &p.LikeCount}, func() error {
		if r.posts+n > 0 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
		p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
		if p.Tags == nil {
			p.Tags = []string{}
		}
		n++
		if err := enc.Encode(p); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline: the next post's comma comes first
		return nil
	})
	return p, n, err
}

// appendExport writes chunk $2, $3, of export $1, which holds $4 posts,
// the last ($5, $6), and moves its progress to $7.
const appendExport = `
	WITH chunk AS (
		INSERT INTO export_chunks (export_id, seq, data) VALUES ($1, $2, $3)
	)
	UPDATE exports SET chunks = chunks + 1, size = size + octet_length($3), post_count = post_count + $4,
		cursor_at = $5, cursor_id = $6, progress = $7
	WHERE id = $1`

func (r *exportRun) appendPosts(ctx context.Context, tx pgx.Tx, data []byte, last exportedPost, n int64) error {
	// Posts written since the export began count too, so the progress
	// stays below 100 until the export is done.
	progress := min(99, (r.posts+n)*100/max(r.total, 1))
	_, err := tx.Exec(ctx, appendExport, r.id, r.chunks, data, n, last.CreatedAt, last.ID, progress)
	return err
}

// exportEnd is the end of an export's file, after its posts.
const exportEnd = "\n]}\n"

// finishExport writes the end of export $1's file as chunk $2, $3, and
// marks it done at $5; user $4's older exports go, with their files.
const finishExport = `
	WITH chunk AS (
		INSERT INTO export_chunks (export_id, seq, data) VALUES ($1, $2, $3)
	), older AS (
		DELETE FROM exports WHERE user_id = $4 AND id <> $1 AND state IN ('done', 'failed')
	)
	UPDATE exports SET state = 'done', progress = 100, finished_at = $5, chunks = chunks + 1,
		size = size + octet_length($3)
	WHERE id = $1`

// finishExport ends r's file and marks it done; with mail, it queues a
// mail to the user in the same transaction.
func (s *Store) finishExport(ctx context.Context, tx pgx.Tx, r *exportRun, mail bool) error {
	if _, err := tx.Exec(ctx, finishExport, r.id, r.chunks, []byte(exportEnd), r.userID, s.now()); err != nil {
		return err
	}
	if !mail {
		return nil
	}
	_, err := s.jobs.client.InsertTx(ctx, tx, MailArgs{Mail: exportMail(r), UserID: r.userID}, nil)
	return err
}

// ExportPath is the path of the job resource of export id, which the
// export's mail names.
func ExportPath(id int64) string { return "/api/exports/" + strconv.FormatInt(id, 10) }

// exportMail tells the user of r that their export is ready.
func exportMail(r *exportRun) Mail {
	path := ExportPath(r.id)
	return Mail{To: r.email, Subject: "Your Microblog export is ready", Text: strings.Join([]string{
		"Hello " + r.username + ",",
		"",
		"The export of your posts that you asked for is ready: " + strconv.FormatInt(r.posts, 10) + " posts.",
		"",
		"It is the API's job resource " + path + "; download the file from its",
		"mb:download link with your token, for example:",
		"",
		"    GET " + path + "/download",
		"",
		"Your next export replaces it.",
		"",
	}, "\n")}
}

// failExport marks export $1 failed at $2, if it is queued or running, and
// drops what it wrote.
const failExport = `
	WITH failed AS (
		UPDATE exports SET state = 'failed', finished_at = $2 WHERE id = $1 AND state IN ('queued', 'running')
		RETURNING id
	)
	DELETE FROM export_chunks WHERE export_id IN (SELECT id FROM failed)`

func (s *Store) failExport(ctx context.Context, id int64) error {
	if _, err := s.pool.Exec(ctx, failExport, id, s.now()); err != nil {
		return wrap(fmt.Sprintf("fail export %d", id), err)
	}
	return nil
}
