package persistence

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Session is a live token as its user sees it: never the token or its
// hash, but its public id, its times and the client it was issued to.
type Session struct {
	ID         int64
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time
	// UserAgent is the User-Agent of the login, "" when it sent none.
	UserAgent string
	// Current tells whether it is the session of the token that asked.
	Current bool
}

// columns are the columns of a session s and where a scan puts them. The
// statement that reads them joins used (callerCTE) on the session, so that
// the asking token shows the use it is making now.
func (x *Session) columns() []column {
	return []column{{name: "id", dest: int8Dest{&x.ID}}, {name: "created_at", dest: timeDest{&x.CreatedAt}},
		{name: "last_used_at", dest: timeDest{&x.LastUsedAt},
			expr: func(a string) string { return "coalesce(used.last_used_at, " + a + ".last_used_at)" }},
		{name: "expires_at", dest: timeDest{&x.ExpiresAt}}, {name: "user_agent", dest: textDest{&x.UserAgent}},
		{name: "current", dest: boolDest{&x.Current}, expr: func(a string) string { return a + ".hash = $1" }}}
}

// maxUserAgent is how many characters of a User-Agent a session keeps, as
// the schema bounds it.
const maxUserAgent = 256

// cleanUserAgent is what a session keeps of the User-Agent ua: valid UTF-8
// (a byte that is not becomes U+FFFD) without control or formatting
// characters (which could reorder or hide what a list shows), trimmed, and
// cut to maxUserAgent characters.
func cleanUserAgent(ua string) string {
	ua = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.In(r, unicode.Cc, unicode.Cf) {
			return -1
		}
		return r
	}, ua))
	n := 0
	for i := range ua {
		if n == maxUserAgent {
			return strings.TrimSpace(ua[:i])
		}
		n++
	}
	return ua
}

// CallerSession is one of the caller's sessions.
type CallerSession struct {
	Caller  User
	Session Session
}

// selectCallerAndSession reads the caller and their live session $3:
// anyone else's is not there.
var selectCallerAndSession = callerCTE + `
	SELECT ` + callerColumns + `, ` + columnList("s", new(Session).columns()) + callerFrom + `
	LEFT JOIN tokens s ON s.id = $3 AND s.user_id = u.id AND s.expires_at > $2
	LEFT JOIN used ON used.id = s.id`

// SessionFor returns the user holding token and their session id, in one
// statement; ErrNotFound if it is not one of theirs or not live.
func (s *Store) SessionFor(ctx context.Context, token string, id int64) (CallerSession, error) {
	var x Session
	caller, found, err := oneAsCaller(ctx, s, fmt.Sprintf("session %d", id), selectCallerAndSession, token,
		[]any{id}, dests(x.columns()), &x, &x.ID)
	return CallerSession{Caller: caller, Session: found}, err
}

// SessionPage is a page of the caller's sessions.
type SessionPage struct {
	Caller   User
	Sessions []Session
	Listing
}

// sessionsOf is the list of the live sessions of the owner o, newest
// first, when the owner is the caller u (nobody else's are listed), from
// tokens_sessions_idx; n counts them.
var sessionsOf = list{from: "tokens tk", where: "tk.user_id = o.id AND o.id = u.id AND tk.expires_at > $2",
	at: "tk.created_at", id: "tk.id", total: "n.total"}

// selectSessions is a page of sessionsOf with the check of the token, in
// one statement: the caller's columns, the owner's id (NULL for no such
// user), the total, the key of the previous page's cursor, then the
// session, NULL but for the caller, the owner and the total when the page
// is empty.
var selectSessions = callerCTE + `
	SELECT ` + callerColumns + `, o.id, n.total, pv.at, pv.id, ` + columnList("s", new(Session).columns()) +
	callerFrom + `
	LEFT JOIN users o ON o.id = $3
	LEFT JOIN LATERAL (
		SELECT count(*) AS total FROM tokens WHERE user_id = o.id AND o.id = u.id AND expires_at > $2
	) n ON true` + sessionsOf.joins(4) + `
	LEFT JOIN LATERAL (SELECT * FROM tokens WHERE id = k.id LIMIT 1) s ON true
	LEFT JOIN used ON used.id = s.id
	ORDER BY ` + sessionsOf.order()

// Sessions returns the user holding token and a page of the live sessions
// of user owner, newest first, and how many there are, in one statement;
// ErrNotFound if there is no such user. Only the caller's own are listed:
// for anyone else's the page is empty, and the caller tells why.
func (s *Store) Sessions(ctx context.Context, token string, owner int64, p Page) (SessionPage, error) {
	var (
		page          SessionPage
		x             Session
		found, prevID *int64
		prevAt        *time.Time
	)
	dest := append([]any{&found, &page.Total, &prevAt, &prevID}, dests(x.columns())...)
	var err error
	page.Caller, page.Sessions, err = collectAsCaller(ctx, s, selectSessions, token,
		append([]any{owner}, p.args(sessionsOf)...), dest, &x, &x.ID)
	switch {
	case err != nil:
		return SessionPage{}, wrap(fmt.Sprintf("sessions of %d", owner), err)
	case found == nil:
		return SessionPage{}, ErrNotFound
	}
	page.Prev = cursorOf(prevAt, prevID)
	if n := len(page.Sessions); n > 0 {
		last := page.Sessions[n-1]
		page.Next = &Cursor{At: last.CreatedAt, ID: last.ID}
	}
	return page, nil
}

const deleteSession = `DELETE FROM tokens WHERE id = $1 AND user_id = $2 AND expires_at > $3`

// RevokeSession ends the live session id of user, or gives ErrNotFound
// when user has no such session: someone else's is never touched.
func (s *Store) RevokeSession(ctx context.Context, user, id int64) error {
	tag, err := s.pool.Exec(ctx, deleteSession, id, user, s.now())
	if err != nil {
		return wrap(fmt.Sprintf("revoke session %d", id), err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

const deleteOtherSessions = `DELETE FROM tokens WHERE user_id = $1 AND hash <> $2`

// RevokeOtherSessions ends every session of user but that of token.
func (s *Store) RevokeOtherSessions(ctx context.Context, user int64, token string) error {
	sum := tokenHash(token)
	if _, err := s.pool.Exec(ctx, deleteOtherSessions, user, sum[:]); err != nil {
		return wrap(fmt.Sprintf("revoke the other sessions of %d", user), err)
	}
	return nil
}
