package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"microblog/persistence/mail/mailtest"
)

// TestQueuedMailSurvivesRestart stops the server while a mail waits in the
// queue for an SMTP server that is down, brings the SMTP server up, starts
// the server again, and finds the mail delivered and its token working.
func TestQueuedMailSurvivesRestart(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	smtpAddr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	args := []string{"--addr", "127.0.0.1:0", "--data-dir", dataDir, "--argon2-memory", "64", "--argon2-parallelism", "1",
		"--smtp-url", "smtp://" + smtpAddr}

	api, stop := startRun(t, args, nil)
	post(t, api+"/users", `{"username": "susan", "email": "susan@example.com", "password": "old-password"}`, http.StatusCreated)
	queuedAt := time.Now()
	post(t, api+"/password-reset", `{"email": "susan@example.com"}`, http.StatusAccepted)
	conn, err := pgx.Connect(t.Context(), findPGURL(t, dataDir))
	if err != nil {
		t.Fatal(err)
	}
	attempts := waitForAttempt(t, conn)
	conn.Close(t.Context())
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	t.Logf("stopped with the mail queued, after %d failed attempt(s) to reach the SMTP server", attempts)

	l, err := net.Listen("tcp", smtpAddr)
	if err != nil {
		t.Fatal(err)
	}
	smtp := mailtest.StartOn(t, l, mailtest.Options{})
	restartedAt := time.Now()
	api, stop = startRun(t, args, nil)
	defer stop()
	m := smtp.Wait(t, 1, 60*time.Second)
	t.Logf("the mail arrived %s after the restart, %s after it was queued",
		time.Since(restartedAt).Round(time.Millisecond), time.Since(queuedAt).Round(time.Millisecond))
	if len(m) != 1 || m[0].To[0] != "susan@example.com" {
		t.Fatalf("mails: %+v", m)
	}
	token := regexp.MustCompile(`(?m)^    ([0-9a-f]{64})$`).FindStringSubmatch(m[0].Body)
	if token == nil {
		t.Fatalf("no token in:\n%s", m[0].Body)
	}
	post(t, api+"/password-reset", `{"token": "`+token[1]+`", "password": "new-password"}`, http.StatusNoContent)
}

// waitForAttempt waits until the reset job has failed at least once and
// returns how many times it has.
func waitForAttempt(t *testing.T, conn *pgx.Conn) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var errs int
		err := conn.QueryRow(t.Context(), `SELECT coalesce(max(cardinality(errors)), 0) FROM river_job WHERE kind = 'password-reset' AND state <> 'completed'`).Scan(&errs)
		if err != nil {
			t.Fatal(err)
		}
		if errs > 0 {
			return errs
		}
		if time.Now().After(deadline) {
			t.Fatal("the reset job did not try to send within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// post sends body to url as JSON and wants status.
func post(t *testing.T, url, body string, status int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != status {
		t.Fatalf("POST %s: %d, want %d", url, res.StatusCode, status)
	}
}
