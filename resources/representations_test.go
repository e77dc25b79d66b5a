package resources_test

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
)

// getCounted GETs path as token from s and returns the response and the
// SQL statements it took.
func (s *testServer) getCounted(t *testing.T, path, token string) (response, int64) {
	t.Helper()
	before := s.statements.n.Load()
	res := s.do(t, request{method: http.MethodGet, path: path, token: token})
	if res.code != http.StatusOK {
		t.Fatalf("GET %s: %s", path, res)
	}
	return res, s.statements.n.Load() - before
}

// A user's representation is kept by its entity tag: the next GET of the
// same version reads only the versions (one statement) and sends the same
// bytes, and any change that the representation shows, made through this
// instance or another, is served at once.
func TestKeptUserRepresentations(t *testing.T) {
	t.Parallel()
	a := newTestServer(t)
	b := newTestServerAt(t, a.url) // another instance over the same database
	susan, susanToken := a.user(t, "susan")
	_, bobToken := a.user(t, "bob")
	post := a.post(t, susanToken, "Hello")
	path := userPathOf(susan)

	a.getCounted(t, path, bobToken) // prepares the statements
	a.do(t, request{method: http.MethodPatch, path: path, token: susanToken, body: `{"about_me": "one"}`})
	first, missed := a.getCounted(t, path, bobToken)
	again, kept := a.getCounted(t, path, bobToken)
	if !bytes.Equal(first.body, again.body) || first.header.Get("ETag") != again.header.Get("ETag") {
		t.Errorf("the kept representation differs:\n%s\n%s", first, again)
	}
	if kept != 1 || missed != 2 {
		t.Errorf("statements: %d for a new version, %d for a kept one; want 2 and 1", missed, kept)
	}

	changes := []struct {
		name   string
		change func()
		shows  string
	}{
		{"an edit through this instance", func() {
			a.do(t, request{method: http.MethodPatch, path: path, token: susanToken, body: `{"about_me": "two"}`})
		}, `"about_me":"two"`},
		{"an edit through another instance", func() {
			b.do(t, request{method: http.MethodPatch, path: path, token: susanToken, body: `{"about_me": "three"}`})
		}, `"about_me":"three"`},
		{"the caller's like of an embedded post", func() {
			b.do(t, request{method: http.MethodPut, path: fmt.Sprintf("%s/likes/%d", postPathOf(post), susan+1), token: bobToken})
		}, `"like_count":1,"liked":true`},
		{"the caller's follow", func() {
			b.do(t, request{method: http.MethodPut, path: fmt.Sprintf("%s/following/%d", userPathOf(susan+1), susan), token: bobToken})
		}, `"is_following":true`},
		{"a new post", func() { b.post(t, susanToken, "Again") }, `"body":"Again"`},
	}
	for _, c := range changes {
		before, _ := a.getCounted(t, path, bobToken)
		c.change()
		after, _ := a.getCounted(t, path, bobToken)
		if !bytes.Contains(after.body, []byte(c.shows)) || before.header.Get("ETag") == after.header.Get("ETag") {
			t.Errorf("after %s: ETag %s then %s, body without %s:\n%s", c.name, before.header.Get("ETag"),
				after.header.Get("ETag"), c.shows, after.body)
		}
	}

	// The owner's representation, with the email, is the owner's alone.
	own, _ := a.getCounted(t, path, susanToken)
	other, _ := a.getCounted(t, path, bobToken)
	if !bytes.Contains(own.body, []byte(`"email"`)) || bytes.Contains(other.body, []byte(`"email"`)) {
		t.Errorf("the email is shown to the wrong caller:\nsusan: %s\nbob: %s", own.body, other.body)
	}
}
