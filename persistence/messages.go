package persistence

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrSelfMessage means a user asked to write a message to themself.
var ErrSelfMessage = errors.New("cannot message oneself")

// Message is a private message, with the parts of its sender and its
// recipient that it shows. A message is never changed, only written.
type Message struct {
	ID        int64
	Body      string
	CreatedAt time.Time
	// Sender and Recipient are the two parties, as a post shows its
	// author: their id and username, and the version and time of their
	// user's last change as the read saw them.
	Sender    Author
	Recipient Author
}

// columns are the columns of a message row and where a scan puts them.
func (m *Message) columns() []column {
	return []column{{name: "id", dest: int8Dest{&m.ID}}, {name: "body", dest: textDest{&m.Body}},
		{name: "created_at", dest: timeDest{&m.CreatedAt}}}
}

// messageAndParties is the select list of a message m, its sender s and
// its recipient r, which Message.dests scans.
var messageAndParties = columnList("m", new(Message).columns()) + ", " + columnList("s", new(Author).columns()) +
	", " + columnList("r", new(Author).columns())

// dests are the destinations of messageAndParties.
func (m *Message) dests() []any { return dests(m.columns(), m.Sender.columns(), m.Recipient.columns()) }

// insertMessage writes a message; the trigger messages_notify tells the
// recipient of it in the same transaction, and messages_count counts it
// for both parties.
var insertMessage = `
	WITH m AS (
		INSERT INTO messages (sender_id, recipient_id, body, created_at) VALUES ($1, $2, $3, $4)
		RETURNING *
	)
	SELECT ` + messageAndParties + `
	FROM m JOIN users s ON s.id = m.sender_id JOIN users r ON r.id = m.recipient_id`

// SendMessage stores a message with body from sender to recipient. An
// unknown recipient gives ErrNotFound, and a message to oneself
// ErrSelfMessage.
func (s *Store) SendMessage(ctx context.Context, sender, recipient int64, body string) (Message, error) {
	var m Message
	err := s.pool.QueryRow(ctx, insertMessage, sender, recipient, body, s.now()).Scan(m.dests()...)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23503": // foreign_key_violation
		return Message{}, ErrNotFound
	case errors.As(err, &pgErr) && pgErr.Code == "23514" && pgErr.ConstraintName == "messages_check":
		return Message{}, ErrSelfMessage // check_violation: sender <> recipient
	case err != nil:
		return Message{}, wrap(fmt.Sprintf("message %d to %d", sender, recipient), err)
	}
	return m, nil
}

// CallerMessage is a message as the holder of a token, one of its two
// parties, reads it.
type CallerMessage struct {
	Caller  User
	Message Message
}

// selectCallerAndMessage reads the caller and message $3, if the caller
// sent or received it: to anyone else it is not there. The parties' rows
// are those before this statement records the caller's last_seen, which a
// message does not show.
var selectCallerAndMessage = callerCTE + `
	SELECT ` + callerColumns + `, ` + messageAndParties + callerFrom + `
	LEFT JOIN messages m ON m.id = $3 AND u.id IN (m.sender_id, m.recipient_id)
	LEFT JOIN users s ON s.id = m.sender_id
	LEFT JOIN users r ON r.id = m.recipient_id`

// MessageFor returns the user holding token and message id, in one
// statement; ErrNotFound if there is no such message or the user neither
// sent nor received it.
func (s *Store) MessageFor(ctx context.Context, token string, id int64) (CallerMessage, error) {
	var (
		cm  CallerMessage
		m   Message
		err error
	)
	cm.Caller, cm.Message, err = oneAsCaller(ctx, s, fmt.Sprintf("message %d", id), selectCallerAndMessage, token,
		[]any{id}, m.dests(), &m, &m.ID)
	return cm, err
}

// MessagePage is a page of the messages the caller sent and received.
type MessagePage struct {
	Caller   User
	Messages []Message
	Listing
}

// messagesOf is the list of the messages the caller u sent or received,
// newest first, counted in their mailbox o. It is the union of the
// messages as their sender's and as their recipient's, each read in its
// own index (messages_sender_idx, messages_recipient_idx), which
// PostgreSQL merges in order (a Merge Append): a page after a cursor reads
// about a page from each index, however deep it is. The party is picked
// outside the union, so that the planner sees the order of both indexes;
// picked in each branch, it sorts every message of the user instead, as
// it reads an OR of the two conditions through a bitmap. No message is in
// both branches: nobody writes to themself.
var messagesOf = list{
	from: `(SELECT created_at, id, sender_id AS party FROM messages
		UNION ALL SELECT created_at, id, recipient_id FROM messages) e`,
	where: "e.party = u.id", at: "e.created_at", id: "e.id", total: "coalesce(o.message_count, 0)"}

// selectMessages is a page of messagesOf with the check of the token, in
// one statement: the caller's columns, the total, the key of the previous
// page's cursor, then the message and its parties, all NULL but the caller
// and the total when the page is empty. A caller who never sent or
// received a message has no mailbox: their total is 0.
var selectMessages = callerCTE + `
	SELECT ` + callerColumns + `, ` + messagesOf.total + `, pv.at, pv.id, ` + messageAndParties + `
	` + callerFrom + `
	LEFT JOIN mailboxes o ON o.user_id = u.id` + messagesOf.joins(3) + `
	LEFT JOIN LATERAL (SELECT * FROM messages WHERE id = k.id LIMIT 1) m ON true
	LEFT JOIN LATERAL (SELECT * FROM users WHERE id = m.sender_id LIMIT 1) s ON true
	LEFT JOIN LATERAL (SELECT * FROM users WHERE id = m.recipient_id LIMIT 1) r ON true
	ORDER BY ` + messagesOf.order()

// Messages returns the user holding token and a page of the messages they
// sent and received, newest first, and how many there are.
func (s *Store) Messages(ctx context.Context, token string, p Page) (MessagePage, error) {
	var (
		page   MessagePage
		m      Message
		total  int64
		prevAt *time.Time
		prevID *int64
	)
	dest := append([]any{&total, &prevAt, &prevID}, m.dests()...)
	var err error
	page.Caller, page.Messages, err = collectAsCaller(ctx, s, selectMessages, token, p.args(messagesOf), dest, &m, &m.ID)
	if err != nil {
		return MessagePage{}, wrap("messages", err)
	}
	// The total and the previous cursor are the same in every row.
	page.Total, page.Prev = total, cursorOf(prevAt, prevID)
	if n := len(page.Messages); n > 0 {
		page.Next = &Cursor{At: page.Messages[n-1].CreatedAt, ID: page.Messages[n-1].ID}
	}
	return page, nil
}
