package persistence_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"microblog/persistence"
)

// messageUsers creates n users, u0 to u(n-1), and returns their ids and a
// token of each.
func messageUsers(t *testing.T, s *persistence.Store, n int) ([]int64, []string) {
	t.Helper()
	ctx := t.Context()
	var ids []int64
	var tokens []string
	for i := range n {
		name := fmt.Sprintf("u%d", i)
		u, err := s.CreateUser(ctx, persistence.NewUser{Username: name, Email: name + "@example.com", Password: "12345678"})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := s.Login(ctx, name, "12345678", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		ids, tokens = append(ids, u.ID), append(tokens, tok.Value)
	}
	return ids, tokens
}

// TestSendAndReadMessages writes messages and reads them as each party
// and as a third user, who cannot tell them from messages that do not
// exist.
func TestSendAndReadMessages(t *testing.T) {
	t.Parallel()
	s, _ := persistence.NewTestStore(t)
	ctx := t.Context()
	ids, tokens := messageUsers(t, s, 3)
	m, err := s.SendMessage(ctx, ids[0], ids[1], "hello")
	if err != nil {
		t.Fatal(err)
	}
	if m.Body != "hello" || m.Sender.ID != ids[0] || m.Sender.Username != "u0" || m.Recipient.ID != ids[1] ||
		m.Recipient.Username != "u1" || m.CreatedAt.IsZero() {
		t.Errorf("sent: %+v", m)
	}
	for i, token := range tokens[:2] {
		cm, err := s.MessageFor(ctx, token, m.ID)
		if err != nil || cm.Caller.ID != ids[i] || cm.Message.ID != m.ID || cm.Message.Body != "hello" ||
			cm.Message.Sender.Username != "u0" || cm.Message.Recipient.Username != "u1" {
			t.Errorf("read by u%d: %+v, %v", i, cm, err)
		}
	}
	for _, id := range []int64{m.ID, m.ID + 1} {
		if cm, err := s.MessageFor(ctx, tokens[2], id); !errors.Is(err, persistence.ErrNotFound) || cm.Caller.ID != ids[2] {
			t.Errorf("message %d read by u2: %+v, %v; want ErrNotFound with the caller", id, cm, err)
		}
	}
	if _, err := s.MessageFor(ctx, "00000000000000000000000000000000", m.ID); !errors.Is(err, persistence.ErrInvalidToken) {
		t.Errorf("a dead token: %v", err)
	}
	if _, err := s.SendMessage(ctx, ids[0], ids[0], "me"); !errors.Is(err, persistence.ErrSelfMessage) {
		t.Errorf("to oneself: %v, want ErrSelfMessage", err)
	}
	if _, err := s.SendMessage(ctx, ids[0], 999999, "nobody"); !errors.Is(err, persistence.ErrNotFound) {
		t.Errorf("to nobody: %v, want ErrNotFound", err)
	}
}

// TestMessagePagesMatchOffsetPages walks the messages of a user, sent and
// received, by cursor both ways, as page_test.go walks the other lists:
// with ties in the time, which the id breaks, and messages of others
// between them.
func TestMessagePagesMatchOffsetPages(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t)
	ids, tokens := messageUsers(t, s, 3)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// u0 writes to u1, u1 to u0, u2 to u0 and u1 to u2 in turn, two at
	// each instant: 30 of the 40 are u0's.
	pairs := [][2]int64{{ids[0], ids[1]}, {ids[1], ids[0]}, {ids[2], ids[0]}, {ids[1], ids[2]}}
	for i := range 40 {
		p := pairs[i%4]
		if _, err := pool.Exec(t.Context(), `INSERT INTO messages (sender_id, recipient_id, body, created_at) VALUES ($1, $2, $3, $4)`,
			p[0], p[1], fmt.Sprintf("message %d", i), base.Add(time.Duration(i/2)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	list := func(ctx context.Context, p persistence.Page) ([]int64, persistence.Listing, error) {
		page, err := s.Messages(ctx, tokens[0], p)
		out := make([]int64, len(page.Messages))
		for i, m := range page.Messages {
			out[i] = m.ID
			if m.Sender.ID != ids[0] && m.Recipient.ID != ids[0] {
				t.Errorf("message %d of u%d to u%d in the list of u0", m.ID, m.Sender.ID, m.Recipient.ID)
			}
		}
		return out, page.Listing, err
	}
	for _, limit := range []int64{1, 3, 7, 100} {
		t.Run(fmt.Sprintf("by %d", limit), func(t *testing.T) { checkCursorWalk(t, list, limit, 30) })
	}
	if page, err := s.Messages(t.Context(), tokens[2], persistence.Page{Limit: 100}); err != nil || page.Total != 20 ||
		len(page.Messages) != 20 || page.Caller.ID != ids[2] {
		t.Errorf("the messages of u2: %d of %d, caller %d, %v; want 20", len(page.Messages), page.Total, page.Caller.ID, err)
	}
	if _, err := s.Messages(t.Context(), "00000000000000000000000000000000", persistence.Page{Limit: 10}); !errors.Is(err, persistence.ErrInvalidToken) {
		t.Errorf("a dead token: %v", err)
	}
}

// TestMessagePageReadsAPageOfEachIndex reads a page deep in the 2,000
// messages of a user after a cursor and counts the index entries that
// PostgreSQL's statistics record: about a page from each of the two
// indexes, never all of the user's messages, and no scan of the table. Its
// total comes from the user's mailbox, not from counting.
func TestMessagePageReadsAPageOfEachIndex(t *testing.T) {
	t.Parallel()
	s, pool := singleConnectionStore(t)
	ctx := t.Context()
	ids, tokens := messageUsers(t, s, 3)
	// u0 writes 1,000 messages to u1 and gets 1,000 from u2; u1 writes
	// 1,000 to u2. All at different times, interleaved.
	_, err := pool.Exec(ctx, `
		INSERT INTO messages (sender_id, recipient_id, body, created_at)
		SELECT (ARRAY[$1, $3, $2]::bigint[])[g % 3 + 1], (ARRAY[$2, $1, $3]::bigint[])[g % 3 + 1], 'message ' || g,
		       '2026-01-01'::timestamptz + g * interval '1 second'
		FROM generate_series(1, 3000) g`, ids[0], ids[1], ids[2])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE messages`); err != nil {
		t.Fatal(err)
	}
	deep, err := s.Messages(ctx, tokens[0], persistence.Page{Offset: 1500, Limit: 10})
	if err != nil || deep.Next == nil || deep.Total != 2000 {
		t.Fatalf("page 151: %d messages of %d, %v", len(deep.Messages), deep.Total, err)
	}
	before := messageReads(t, pool)
	page, err := s.Messages(ctx, tokens[0], persistence.Page{Limit: 10, After: deep.Next})
	if err != nil || len(page.Messages) != 10 || page.Total != 2000 || page.Prev == nil {
		t.Fatalf("page 152 by cursor: %d messages of %d, prev %v, %v", len(page.Messages), page.Total, page.Prev, err)
	}
	reads := messageReads(t, pool).minus(before)
	t.Logf("page 152 by cursor: %d index entries read, %d scans of messages", reads.entries, reads.seqScans)
	if reads.entries == 0 || reads.entries > 4*(10+1) || reads.seqScans != 0 {
		t.Errorf("page 152 by cursor read %d entries of the two indexes and scanned the table %d times; "+
			"want at most 44 and none", reads.entries, reads.seqScans)
	}
}

// indexReads is what PostgreSQL's statistics count of the reads of
// messages: the entries read from its two indexes of parties, and its
// sequential scans.
type indexReads struct{ entries, seqScans int64 }

func (r indexReads) minus(o indexReads) indexReads {
	return indexReads{r.entries - o.entries, r.seqScans - o.seqScans}
}

// messageReads reads the statistics of messages as postScans does.
func messageReads(t *testing.T, pool *pgxpool.Pool) indexReads {
	t.Helper()
	if _, err := pool.Exec(t.Context(), `SELECT pg_stat_force_next_flush()`); err != nil {
		t.Fatal(err)
	}
	var r indexReads
	err := pool.QueryRow(t.Context(), `
		SELECT (SELECT sum(idx_tup_read)::bigint FROM pg_stat_user_indexes
		        WHERE indexrelname IN ('messages_sender_idx', 'messages_recipient_idx')),
		       (SELECT coalesce(seq_scan, 0) FROM pg_stat_user_tables WHERE relname = 'messages')`).
		Scan(&r.entries, &r.seqScans)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestMessageCountsFollowTheRows writes and deletes messages between the
// same users in both directions at once, then deletes a user: every
// mailbox counts the rows of its user, and the trigger neither loses an
// update nor deadlocks.
func TestMessageCountsFollowTheRows(t *testing.T) {
	t.Parallel()
	s, pool := persistence.NewTestStore(t)
	ctx := t.Context()
	ids, _ := messageUsers(t, s, 4)
	// Every ordered pair of the four, so that each pair writes both ways.
	var pairs [][2]int64
	for _, from := range ids {
		for _, to := range ids {
			if from != to {
				pairs = append(pairs, [2]int64{from, to})
			}
		}
	}
	var wg sync.WaitGroup
	for w := range 48 {
		pair := pairs[w%len(pairs)]
		wg.Go(func() {
			for i := range 20 {
				if err := writeOrUnwrite(ctx, s, pool, pair, i%3 == 2); err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	checkMailboxes(t, pool, 4)
	if _, err := pool.Exec(ctx, `DELETE FROM users WHERE id = $1`, ids[3]); err != nil {
		t.Fatal(err)
	}
	checkMailboxes(t, pool, 3)
}

// writeOrUnwrite writes a message from pair[0] to pair[1], or deletes the
// oldest message pair[0] wrote.
func writeOrUnwrite(ctx context.Context, s *persistence.Store, pool *pgxpool.Pool, pair [2]int64, unwrite bool) error {
	if unwrite {
		_, err := pool.Exec(ctx, `DELETE FROM messages WHERE id = (SELECT min(id) FROM messages WHERE sender_id = $1)`, pair[0])
		return err
	}
	_, err := s.SendMessage(ctx, pair[0], pair[1], "hello")
	return err
}

// checkMailboxes checks that each of the users users has a mailbox whose
// count is the number of their messages.
func checkMailboxes(t *testing.T, pool *pgxpool.Pool, users int) {
	t.Helper()
	rows, err := pool.Query(t.Context(), `
		SELECT u.id, coalesce(b.message_count, 0),
		       (SELECT count(*) FROM messages WHERE u.id IN (sender_id, recipient_id))
		FROM users u LEFT JOIN mailboxes b ON b.user_id = u.id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id, counted, rowCount int64
		if err := rows.Scan(&id, &counted, &rowCount); err != nil {
			t.Fatal(err)
		}
		n++
		if counted != rowCount {
			t.Errorf("user %d: mailbox counts %d messages, the table has %d", id, counted, rowCount)
		}
	}
	if rows.Err() != nil || n != users {
		t.Errorf("%d users, want %d: %v", n, users, rows.Err())
	}
}
