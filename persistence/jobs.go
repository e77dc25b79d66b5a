package persistence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// Mail is one message the server sends: plain text, to one address.
type Mail struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
}

// A Mailer delivers mail. Send is called by a job, so it may take its
// time; an error makes the job try again later.
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}

// JobSettings are what the job queue's workers need from the server.
type JobSettings struct {
	// Mailer delivers the mails that jobs write.
	Mailer Mailer
	// ResetTTL is how long a password reset token lasts.
	ResetTTL time.Duration
	// Logger gets the queue's own messages.
	Logger *slog.Logger
	// SMTP says whether Mailer sends over SMTP, not to an outbox: only then
	// is a user mailed when their export is ready.
	SMTP bool
	// ExportBatch is how many posts an export writes at a time, in one
	// chunk and one transaction; 0 means 1000.
	ExportBatch int
	// JobTimeout bounds one attempt at a job, after which its context ends
	// and it is tried again later (an export goes on where it stopped); 0
	// means DefaultJobTimeout. A job that an instance was working when it
	// died is worked again after rescueAfter(JobTimeout).
	JobTimeout time.Duration
}

// DefaultJobTimeout is JobSettings.JobTimeout's default: a mail's SMTP
// exchange takes seconds, an export of a million posts about half a
// minute.
const DefaultJobTimeout = time.Minute

// rescueAfter is how long a job may have been running, with jobTimeout,
// before river's leader takes it for the job of an instance that died
// (kill -9, a lost machine) and schedules it again. It must be more than
// jobTimeout, after which a live instance has given the job up and records
// that, or a job still running would run twice at once; half as much again
// leaves that recording time. River's default, an hour, would leave a
// password reset mail unsent for that long; with a minute's timeout, a job
// of a dead instance is taken again 90 seconds after it started, and runs
// within river's next rescue pass (every 30 seconds, on the leader, which
// a new instance becomes within 15 seconds of the dead one's last term).
func rescueAfter(jobTimeout time.Duration) time.Duration { return jobTimeout + jobTimeout/2 }

// jobWorkers is how many jobs one instance works at once. Jobs wait on
// SMTP servers and stream exports, so a few more than the cores.
const jobWorkers = 8

// jobs is the store's job queue: river, on the tables of migration 15.
// Every instance inserts and works jobs; river's leader (one instance at a
// time) rescues the jobs of an instance that died while working them and
// schedules retries.
type jobs struct {
	// client inserts jobs; it is never started. StartJobs makes another,
	// with the settings' timeouts, of the same workers, to work them.
	client  *river.Client[pgx.Tx]
	workers *river.Workers

	mu       sync.Mutex
	settings JobSettings
}

// newJobs returns the queue of s, able to insert jobs; StartJobs starts
// working them.
func newJobs(s *Store) *jobs {
	q := &jobs{}
	workers := river.NewWorkers()
	river.AddWorker(workers, &mailWorker{jobs: q})
	river.AddWorker(workers, &resetWorker{store: s})
	river.AddWorker(workers, &exportWorker{store: s})
	client, err := river.NewClient(riverpgxv5.New(s.pool), &river.Config{
		Workers: workers,
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		// The configuration above is fixed: an error is a programming error.
		panic(fmt.Sprintf("persistence: job queue: %v", err))
	}
	q.client, q.workers = client, workers
	return q
}

// newWorker returns a client of the queue of pool that works its jobs as
// settings say.
func (q *jobs) newWorker(pool *pgxpool.Pool, settings JobSettings) (*river.Client[pgx.Tx], error) {
	return river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: jobWorkers}},
		Workers:              q.workers,
		JobTimeout:           settings.JobTimeout,
		RescueStuckJobsAfter: rescueAfter(settings.JobTimeout),
		// Jobs of a kind this binary does not know (a newer instance's,
		// during a rolling upgrade) wait for an instance that knows them.
		FetchOnlyKnownKinds: true,
		Logger:              slog.New(slog.DiscardHandler),
	})
}

func (q *jobs) current() JobSettings {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.settings
}

// StartJobs starts working the queue's jobs with settings, until stop is
// called. stop lets running jobs finish for as long as its context allows,
// then cancels them; a cancelled job is worked again later, here or by
// another instance.
func (s *Store) StartJobs(ctx context.Context, settings JobSettings) (stop func(context.Context) error, err error) {
	if settings.Mailer == nil || settings.ResetTTL <= 0 {
		return nil, errors.New("persistence: jobs need a mailer and a positive reset TTL")
	}
	if settings.Logger == nil {
		settings.Logger = slog.New(slog.DiscardHandler)
	}
	if settings.JobTimeout <= 0 {
		settings.JobTimeout = DefaultJobTimeout
	}
	worker, err := s.jobs.newWorker(s.pool, settings)
	if err != nil {
		return nil, wrap("start jobs", err)
	}
	s.jobs.mu.Lock()
	s.jobs.settings = settings
	s.jobs.mu.Unlock()
	if err := worker.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, wrap("start jobs", err)
	}
	return func(ctx context.Context) error {
		err := worker.Stop(ctx)
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			err = worker.StopAndCancel(context.WithoutCancel(ctx))
		}
		return err
	}, nil
}

// MailArgs is a job that sends one mail. UserID is the user it is for (0
// when none), so that deleting the user drops it.
type MailArgs struct {
	Mail
	UserID int64 `json:"user_id,omitempty"`
}

// Kind names the job in the queue.
func (MailArgs) Kind() string { return "mail" }

type mailWorker struct {
	river.WorkerDefaults[MailArgs]
	jobs *jobs
}

// Work sends the mail; river retries it with backoff when that fails.
func (w *mailWorker) Work(ctx context.Context, job *river.Job[MailArgs]) error {
	settings := w.jobs.current()
	if err := settings.Mailer.Send(ctx, job.Args.Mail); err != nil {
		settings.Logger.Warn("sending mail", "job", job.ID, "attempt", job.Attempt, "err", err)
		return err
	}
	settings.Logger.Info("mail sent", "job", job.ID, "subject", job.Args.Subject)
	return nil
}

// JobCount is how many jobs of one kind are in one state.
type JobCount struct {
	Kind, State string
	Count       int64
}

// JobCounts counts the queue's jobs by kind and state, across instances.
func (s *Store) JobCounts(ctx context.Context) ([]JobCount, error) {
	rows, _ := s.pool.Query(ctx, `SELECT kind, state::text, count(*) FROM river_job GROUP BY 1, 2 ORDER BY 1, 2`)
	counts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (JobCount, error) {
		var c JobCount
		err := row.Scan(&c.Kind, &c.State, &c.Count)
		return c, err
	})
	if err != nil {
		return nil, wrap("count jobs", err)
	}
	return counts, nil
}
