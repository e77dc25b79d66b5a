package persistence

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

// ErrInvalidResetToken means a password reset token is unknown, used or
// expired.
var ErrInvalidResetToken = errors.New("invalid reset token")

// ErrPasswordIsUsername means a new password is the user's username, in
// whatever case, which registration refuses too.
var ErrPasswordIsUsername = errors.New("password is the username")

// ResetTokenLength is the length of a password reset token: 64 hex digits,
// 256 random bits.
const ResetTokenLength = 64

// ResetArgs is the job that answers a request for a password reset: it
// mails a reset token to the user whose address Email is, if there is one.
// The request only queues it, so that it answers alike, and as fast, for
// an address no user has.
type ResetArgs struct {
	Email string `json:"email"`
}

// Kind names the job in the queue.
func (ResetArgs) Kind() string { return "password-reset" }

// RequestReset queues the mailing of a reset token to the user whose email
// address is email, in whatever case.
func (s *Store) RequestReset(ctx context.Context, email string) error {
	if _, err := s.jobs.client.Insert(ctx, ResetArgs{Email: email}, nil); err != nil {
		return wrap("request reset", err)
	}
	return nil
}

type resetWorker struct {
	river.WorkerDefaults[ResetArgs]
	store *Store
}

// Work makes a reset token and mails it. The token exists only in memory
// and in the mail: if sending fails, the token is dropped and the retry
// makes another. A token made by an attempt that died before it could
// drop it was never sent, and expires unused.
func (w *resetWorker) Work(ctx context.Context, job *river.Job[ResetArgs]) error {
	settings := w.store.jobs.current()
	to, token, err := w.store.createReset(ctx, job.Args.Email, settings.ResetTTL)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := settings.Mailer.Send(ctx, resetMail(to, token, settings.ResetTTL)); err != nil {
		settings.Logger.Warn("sending a password reset mail", "job", job.ID, "attempt", job.Attempt, "err", err)
		sum := tokenHash(token)
		if _, derr := w.store.pool.Exec(context.WithoutCancel(ctx), `DELETE FROM password_resets WHERE hash = $1`, sum[:]); derr != nil {
			return errors.Join(err, wrap("drop reset token", derr))
		}
		return err
	}
	settings.Logger.Info("password reset mail sent", "job", job.ID)
	return nil
}

// insertReset stores the hash of a new reset token for the user whose
// address is $1 and returns that user's address as registered; it forgets
// the expired tokens of every user on the way.
const insertReset = `
	WITH expired AS (
		DELETE FROM password_resets WHERE expires_at <= $3
	)
	INSERT INTO password_resets (hash, user_id, created_at, expires_at)
	SELECT $2, id, $3, $4 FROM users WHERE lower(email) = lower($1)
	RETURNING (SELECT email FROM users WHERE id = user_id)`

// createReset makes and stores a reset token, valid for ttl, for the user
// whose address is email; ErrNotFound when there is none.
func (s *Store) createReset(ctx context.Context, email string, ttl time.Duration) (to, token string, err error) {
	raw := make([]byte, ResetTokenLength/2)
	if _, err := rand.Read(raw); err != nil {
		return "", "", fmt.Errorf("persistence: reset token: %w", err)
	}
	token = hex.EncodeToString(raw)
	sum := tokenHash(token)
	now := s.now()
	err = s.pool.QueryRow(ctx, insertReset, email, sum[:], now, now.Add(ttl)).Scan(&to)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", ErrNotFound
	}
	if err != nil {
		return "", "", wrap("create reset", err)
	}
	return to, token, nil
}

// resetMail is the mail that carries token to address to.
func resetMail(to, token string, ttl time.Duration) Mail {
	return Mail{To: to, Subject: "Reset your Microblog password", Text: strings.Join([]string{
		"Someone, perhaps you, asked to reset the password of the Microblog account of this address.",
		"",
		"Your reset token is:",
		"",
		"    " + token,
		"",
		"Send it with a new password to the API's password reset resource (the root's mb:password-reset",
		"link; its template \"reset\"), for example:",
		"",
		`    POST /api/password-reset  {"token": "` + token + `", "password": "<your new password>"}`,
		"",
		"It works once, for " + ttl.String() + " from when this mail was written, and logs you out everywhere.",
		"If you did not ask for it, ignore this mail: your password stays as it is.",
		"",
	}, "\n")}
}

// selectReset finds the username of the user of an unexpired reset token.
const selectReset = `
	SELECT u.username FROM password_resets r JOIN users u ON u.id = r.user_id
	WHERE r.hash = $1 AND r.expires_at > $2`

// resetPassword uses the reset token of $1, sets the user's password hash
// to $3, forgets the user's other reset tokens and revokes every login
// token, in one statement: of two uses of one token, one finds it.
const resetPassword = `
	WITH used AS (
		DELETE FROM password_resets WHERE hash = $1 AND expires_at > $2 RETURNING user_id
	), changed AS (
		UPDATE users SET password_hash = $3, updated_at = $2 WHERE id = (SELECT user_id FROM used) RETURNING id
	), others AS (
		DELETE FROM password_resets WHERE user_id = (SELECT id FROM changed) AND hash <> $1
	), revoked AS (
		DELETE FROM tokens WHERE user_id = (SELECT id FROM changed)
	)
	SELECT id FROM changed`

// ResetPassword sets the password of the user of reset token token to
// password, and logs that user out everywhere. The token is checked before
// the password is hashed, so that guesses cost no hash; ErrInvalidResetToken
// for a token unknown, used or expired, ErrPasswordIsUsername for a
// password that is the user's name (the token stays good).
func (s *Store) ResetPassword(ctx context.Context, token, password string) error {
	sum := tokenHash(token)
	var username string
	err := s.pool.QueryRow(ctx, selectReset, sum[:], s.now()).Scan(&username)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrInvalidResetToken
	}
	if err != nil {
		return wrap("reset password", err)
	}
	if strings.EqualFold(password, username) {
		return ErrPasswordIsUsername
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	var id int64
	err = s.pool.QueryRow(ctx, resetPassword, sum[:], s.now(), hash).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrInvalidResetToken
	}
	if err != nil {
		return wrap("reset password", err)
	}
	return nil
}
