package resources_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"microblog/resources"
)

// TestIfModifiedSinceSameSecond: a change within the second that
// If-Modified-Since names is a change. A client that sends back the
// Last-Modified it read gets 200 with the new body, never a 304 that keeps
// its old copy, though the new Last-Modified names the same second.
func TestIfModifiedSinceSameSecond(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	_, token := srv.user(t, "susan")
	bob, bobToken := srv.user(t, "bob")
	post := srv.post(t, bobToken, "hello")
	for _, tt := range []struct{ path, member, body string }{
		{userPathOf(bob), "about_me", `{"about_me": %q}`},
		{postPathOf(post), "body", `{"body": %q}`},
	} {
		for attempt := 0; ; attempt++ {
			lm := srv.get(t, token, tt.path, nil).header.Get("Last-Modified")
			value := fmt.Sprintf("change %d", attempt)
			changed := srv.do(t, request{method: http.MethodPatch, path: tt.path, token: bobToken, body: fmt.Sprintf(tt.body, value)})
			if changed.code != http.StatusOK {
				t.Fatalf("PATCH %s: %s", tt.path, changed)
			}
			if changed.header.Get("Last-Modified") != lm {
				// The change fell in the next second: try again, at
				// the start of that one.
				if attempt == 5 {
					t.Fatalf("PATCH %s: never within the second of the Last-Modified read before", tt.path)
				}
				continue
			}
			res := srv.get(t, token, tt.path, map[string]string{"If-Modified-Since": lm})
			if res.code != http.StatusOK || res.json(t)[tt.member] != value {
				t.Errorf("GET %s If-Modified-Since %s after a change in that second: %d %s, want 200 with %s %q",
					tt.path, lm, res.code, res.body, tt.member, value)
			}
			break
		}
	}
}

// write is a conditional write and the status it must get.
type write struct {
	method, path, body string
	header             map[string]string
	want               int
}

func (srv *testServer) check(t *testing.T, token string, writes ...write) {
	t.Helper()
	for _, w := range writes {
		res := srv.do(t, request{method: w.method, path: w.path, token: token, body: w.body, header: w.header})
		if res.code != w.want {
			t.Errorf("%s %s %v: %s, want %d", w.method, w.path, w.header, res, w.want)
		}
	}
}

// long ago and a day ahead, as HTTP dates.
var (
	longAgo = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat)
	ahead   = time.Now().Add(24 * time.Hour).UTC().Format(http.TimeFormat)
)

// TestConditionalWritesOfUsersAndPosts: If-None-Match (* or a current
// tag, compared weakly) and If-Unmodified-Since (a change since) refuse a
// write of a user or a post with 412, in the order of RFC 9110 13.2.2;
// an invalid date is ignored.
func TestConditionalWritesOfUsersAndPosts(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	post := srv.post(t, token, "hello")
	for _, tt := range []struct{ path, body string }{
		{userPathOf(susan), `{"about_me": "x"}`},
		{postPathOf(post), `{"body": "x"}`},
	} {
		tag := srv.get(t, token, tt.path, nil).header.Get("ETag")
		formsTag := srv.get(t, token, tt.path, formsAccept).header.Get("ETag")
		patch := func(header map[string]string, want int) write {
			return write{http.MethodPatch, tt.path, tt.body, header, want}
		}
		srv.check(t, token,
			patch(map[string]string{"If-None-Match": "*"}, http.StatusPreconditionFailed),
			patch(map[string]string{"If-None-Match": `"other", ` + tag}, http.StatusPreconditionFailed),
			patch(map[string]string{"If-None-Match": "W/" + formsTag}, http.StatusPreconditionFailed),
			patch(map[string]string{"If-Unmodified-Since": longAgo}, http.StatusPreconditionFailed),
			// If-Match wins: If-Unmodified-Since is not looked at.
			patch(map[string]string{"If-Match": `"nope"`, "If-Unmodified-Since": ahead}, http.StatusPreconditionFailed),
			// Both true, then If-None-Match false.
			patch(map[string]string{"If-Match": tag, "If-None-Match": "*"}, http.StatusPreconditionFailed),
			patch(map[string]string{"If-Unmodified-Since": "yesterday"}, http.StatusOK),
		)
		tag = srv.get(t, token, tt.path, nil).header.Get("ETag")
		srv.check(t, token,
			patch(map[string]string{"If-Match": tag, "If-Unmodified-Since": longAgo}, http.StatusOK),
			patch(map[string]string{"If-Unmodified-Since": ahead, "If-None-Match": `"other"`}, http.StatusOK),
		)
	}
	srv.check(t, token,
		write{http.MethodDelete, postPathOf(post), "", map[string]string{"If-None-Match": "*"}, http.StatusPreconditionFailed},
		write{http.MethodDelete, postPathOf(post), "", map[string]string{"If-Unmodified-Since": longAgo}, http.StatusPreconditionFailed},
		write{http.MethodDelete, postPathOf(post), "", map[string]string{"If-Unmodified-Since": ahead}, http.StatusNoContent},
	)
}

// TestIfUnmodifiedSinceSatisfiesRequireIfMatch: with --require-if-match, a
// write that shows what it read by If-Unmodified-Since is no 428.
func TestIfUnmodifiedSinceSatisfiesRequireIfMatch(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(c *resources.Config) { c.RequireIfMatch = true })
	susan, token := srv.user(t, "susan")
	post := srv.post(t, token, "hello")
	srv.check(t, token,
		write{http.MethodPatch, userPathOf(susan), `{"about_me": "x"}`, map[string]string{"If-Unmodified-Since": ahead}, http.StatusOK},
		write{http.MethodPut, postPathOf(post), `{"body": "x"}`, map[string]string{"If-Unmodified-Since": ahead}, http.StatusOK},
		write{http.MethodPatch, postPathOf(post), `{"body": "y"}`, map[string]string{"If-Unmodified-Since": longAgo}, http.StatusPreconditionFailed},
		write{http.MethodPatch, postPathOf(post), `{"body": "y"}`, map[string]string{"If-Unmodified-Since": "soon"}, http.StatusPreconditionRequired},
		write{http.MethodPatch, postPathOf(post), `{"body": "y"}`, map[string]string{"If-None-Match": `"other"`}, http.StatusPreconditionRequired},
		write{http.MethodDelete, postPathOf(post), "", map[string]string{"If-Unmodified-Since": ahead}, http.StatusNoContent},
	)
}

// TestConditionalPost: a POST to /api/posts is conditional on the
// collection it adds to, which always exists.
func TestConditionalPost(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	_, token := srv.user(t, "susan")
	srv.post(t, token, "first")
	tag := srv.get(t, token, "/api/posts", nil).header.Get("ETag")
	formsTag := srv.get(t, token, "/api/posts", formsAccept).header.Get("ETag")
	post := func(header map[string]string, want int) write {
		return write{http.MethodPost, "/api/posts", `{"body": "more"}`, header, want}
	}
	srv.check(t, token,
		post(map[string]string{"If-Match": `"nope"`}, http.StatusPreconditionFailed),
		post(map[string]string{"If-None-Match": "*"}, http.StatusPreconditionFailed),
		post(map[string]string{"If-None-Match": tag}, http.StatusPreconditionFailed),
		post(map[string]string{"If-Match": formsTag}, http.StatusCreated),
		// The collection has changed since that tag.
		post(map[string]string{"If-Match": tag}, http.StatusPreconditionFailed),
		post(map[string]string{"If-Match": "*", "If-None-Match": `"other"`}, http.StatusCreated),
		// The collection has no Last-Modified: the date is ignored.
		post(map[string]string{"If-Unmodified-Since": longAgo}, http.StatusCreated),
	)
	// Registration adds to /api/users, of which an anonymous client holds
	// no copy.
	if res := srv.do(t, request{method: http.MethodPost, path: "/api/users", header: map[string]string{"If-Match": `"nope"`},
		body: `{"username": "bob", "email": "bob@example.com", "password": "pw-of-bob"}`}); res.code != http.StatusPreconditionFailed {
		t.Errorf("POST /api/users If-Match \"nope\": %s, want 412", res)
	}
}

// TestConditionalFollow: a follow's validators are an ETag and a
// Last-Modified made from when it began; one that does not exist has none,
// so If-Match on it fails, and If-None-Match: * fails on one that does.
func TestConditionalFollow(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	bob, _ := srv.user(t, "bob")
	path := userPathOf(susan) + "/following/" + fmt.Sprint(bob)
	follow := func(method string, header map[string]string, want int) write {
		return write{method, path, "", header, want}
	}
	srv.check(t, token,
		follow(http.MethodPut, map[string]string{"If-Match": "*"}, http.StatusPreconditionFailed),
		follow(http.MethodPut, map[string]string{"If-Match": `"nope"`}, http.StatusPreconditionFailed),
		follow(http.MethodDelete, map[string]string{"If-Match": "*"}, http.StatusPreconditionFailed),
		// No follow, no date: If-Unmodified-Since is ignored.
		follow(http.MethodDelete, map[string]string{"If-Unmodified-Since": longAgo}, http.StatusNoContent),
	)
	if res := srv.do(t, request{method: http.MethodPut, path: path, token: token, header: map[string]string{"If-None-Match": "*"}}); res.code/100 != 2 {
		t.Fatalf("PUT %s If-None-Match * when not following: %s", path, res)
	}
	got := srv.get(t, token, path, nil)
	tag := got.header.Get("ETag")
	if got.code != http.StatusNoContent || tag == "" || got.header.Get("Last-Modified") == "" {
		t.Fatalf("GET %s: %d with ETag %q and Last-Modified %q", path, got.code, tag, got.header.Get("Last-Modified"))
	}
	if res := srv.get(t, token, path, map[string]string{"If-None-Match": tag}); res.code != http.StatusNotModified {
		t.Errorf("GET %s If-None-Match its tag: %s, want 304", path, res)
	}
	srv.check(t, token,
		follow(http.MethodPut, map[string]string{"If-None-Match": "*"}, http.StatusPreconditionFailed),
		follow(http.MethodPut, map[string]string{"If-Match": `"nope"`}, http.StatusPreconditionFailed),
		follow(http.MethodPut, map[string]string{"If-Unmodified-Since": longAgo}, http.StatusPreconditionFailed),
		follow(http.MethodPut, map[string]string{"If-Match": tag}, http.StatusNoContent),
		follow(http.MethodDelete, map[string]string{"If-None-Match": tag}, http.StatusPreconditionFailed),
		follow(http.MethodDelete, map[string]string{"If-Match": tag}, http.StatusNoContent),
	)
	// Followed again later, it is another follow: the old tag is stale.
	srv.clock.Advance(time.Minute)
	if res := srv.do(t, request{method: http.MethodPut, path: path, token: token}); res.code/100 != 2 {
		t.Fatalf("PUT %s: %s", path, res)
	}
	srv.check(t, token, follow(http.MethodDelete, map[string]string{"If-Match": tag}, http.StatusPreconditionFailed))
	// Following oneself is a 400 before any precondition.
	self := userPathOf(susan) + "/following/" + fmt.Sprint(susan)
	srv.check(t, token, write{http.MethodPut, self, "", map[string]string{"If-Match": `"nope"`}, http.StatusBadRequest})
}
