package persistence_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"microblog/persistence"
)

// TestSessionUserAgent: a session keeps what can be shown of the login's
// User-Agent: valid UTF-8 without control or formatting characters, at
// most 256 characters, and nothing for none.
func TestSessionUserAgent(t *testing.T) {
	t.Parallel()
	s, _ := persistence.NewTestStore(t)
	ctx := t.Context()
	createUser(t, s, "susan")
	tests := []struct{ sent, kept string }{
		{"curl/8.5.0", "curl/8.5.0"},
		{"", ""},
		{" \t\r\n\x00 ", ""},
		{"a\x00b\x1bc\x7fd\u0085e\u202ef\u200bg", "abcdefg"},
		{"bad \xff\xfe bytes", "bad \ufffd\ufffd bytes"},
		{strings.Repeat("é", 300), strings.Repeat("é", 256)},
		{strings.Repeat("x", 255) + " y", strings.Repeat("x", 255)},
	}
	for _, tt := range tests {
		tok, err := s.LoginFrom(ctx, "susan", "12345678", time.Hour, tt.sent)
		if err != nil {
			t.Fatalf("login from %q: %v", tt.sent, err)
		}
		cs, err := s.SessionFor(ctx, tok.Value, tok.ID)
		if err != nil {
			t.Fatalf("session %d: %v", tok.ID, err)
		}
		if cs.Session.UserAgent != tt.kept || !cs.Session.Current || cs.Session.ID != tok.ID {
			t.Errorf("login from %q: session %+v, want user agent %q, current", tt.sent, cs.Session, tt.kept)
		}
	}
}

// TestSessionsAreTheirUsers: no user reads, lists or revokes bob's
// sessions, and revoking the others of a user leaves bob's alone.
func TestSessionsAreTheirUsers(t *testing.T) {
	t.Parallel()
	s, _ := persistence.NewTestStore(t)
	ctx := t.Context()
	ids, toks := messageUsers(t, s, 2)
	bobs, err := s.Sessions(ctx, toks[1], ids[1], persistence.Page{Limit: 10})
	if err != nil || len(bobs.Sessions) != 1 {
		t.Fatalf("bob's sessions: %+v, %v", bobs, err)
	}
	bob := bobs.Sessions[0].ID
	if _, err := s.SessionFor(ctx, toks[0], bob); !errors.Is(err, persistence.ErrNotFound) {
		t.Errorf("u0 reads bob's session: %v, want ErrNotFound", err)
	}
	if err := s.RevokeSession(ctx, ids[0], bob); !errors.Is(err, persistence.ErrNotFound) {
		t.Errorf("u0 revokes bob's session: %v, want ErrNotFound", err)
	}
	page, err := s.Sessions(ctx, toks[0], ids[1], persistence.Page{Limit: 10})
	if err != nil || len(page.Sessions) != 0 || page.Total != 0 || page.Caller.ID != ids[0] {
		t.Errorf("u0 lists bob's sessions: %+v, %v; want none, and u0 as the caller", page, err)
	}
	if _, err := s.Sessions(ctx, toks[0], 99999, persistence.Page{Limit: 10}); !errors.Is(err, persistence.ErrNotFound) {
		t.Errorf("the sessions of no user: %v, want ErrNotFound", err)
	}
	if err := s.RevokeOtherSessions(ctx, ids[0], toks[0]); err != nil {
		t.Fatal(err)
	}
	for i, tok := range toks {
		if _, err := s.Authenticate(ctx, tok); err != nil {
			t.Errorf("token %d after u0 revoked their other sessions: %v", i, err)
		}
	}
}
