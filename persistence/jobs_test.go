package persistence_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"microblog/persistence"
	"microblog/persistence/mail"
	"microblog/persistence/mail/mailtest"
	"microblog/persistence/pgtest"
)

// startJobs works the jobs of s, sending mail to smtp, until the test ends.
func startJobs(t *testing.T, s *persistence.Store, smtp *mailtest.Server) {
	t.Helper()
	m, err := mail.NewSMTP(smtp.URL(), "microblog@example.com")
	if err != nil {
		t.Fatal(err)
	}
	stop, err := s.StartJobs(t.Context(), persistence.JobSettings{Mailer: m, ResetTTL: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := stop(ctx); err != nil {
			t.Error(err)
		}
	})
}

// Two instances work one queue: every mail goes out once.
func TestJobsRunOnceAcrossInstances(t *testing.T) {
	url := pgtest.New(t)
	smtp := mailtest.Start(t, mailtest.Options{})
	a, pool := persistence.NewTestStoreAt(t, url)
	b, _ := persistence.NewTestStoreAt(t, url)
	startJobs(t, a, smtp)
	startJobs(t, b, smtp)
	const n = 40
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		if err := s.InsertJob(t.Context(), persistence.MailArgs{Mail: persistence.Mail{To: "susan@example.com",
			Subject: fmt.Sprintf("mail %d", i), Text: "hello"}}); err != nil {
			t.Fatal(err)
		}
	}
	smtp.Wait(t, n, 30*time.Second)
	time.Sleep(500 * time.Millisecond) // time for a mail sent twice to arrive
	seen := map[string]int{}
	for _, m := range smtp.Messages() {
		seen[m.Subject]++
	}
	for i := range n {
		if got := seen[fmt.Sprintf("mail %d", i)]; got != 1 {
			t.Errorf("mail %d arrived %d times, want once", i, got)
		}
	}
	var workers int
	if err := pool.QueryRow(t.Context(), `SELECT count(DISTINCT attempted_by[1]) FROM river_job WHERE kind = 'mail'`).Scan(&workers); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d mails, each once, worked by %d instance(s)", n, workers)
}
