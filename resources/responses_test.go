package resources_test

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"microblog/persistence"
)

// keptWorld is three users with a post, a reply, a like, follows and a
// notification, as the tests of kept responses read them.
type keptWorld struct {
	susan, bob, ann                int64
	susanToken, bobToken, annToken string
	post, reply                    int64
}

func newKeptWorld(t *testing.T, srv *testServer) keptWorld {
	t.Helper()
	var w keptWorld
	w.susan, w.susanToken = srv.user(t, "susan")
	w.bob, w.bobToken = srv.user(t, "bob")
	w.ann, w.annToken = srv.user(t, "ann")
	w.post = srv.post(t, w.bobToken, "hello #go @susan")
	srv.followByAPI(t, w.susanToken, w.susan, w.bob)
	w.reply = srv.reply(t, w.annToken, w.post, "hi @bob")
	srv.do(t, request{method: http.MethodPut, path: fmt.Sprintf("%s/likes/%d", postPathOf(w.post), w.ann), token: w.annToken})
	return w
}

// reply replies to post as the holder of token and returns the reply's id.
func (s *testServer) reply(t *testing.T, token string, post int64, body string) int64 {
	t.Helper()
	res := s.do(t, request{method: http.MethodPost, path: postPathOf(post) + "/replies", token: token,
		body: fmt.Sprintf(`{"body": %q}`, body)})
	if res.code != http.StatusCreated {
		t.Fatalf("reply %q: %s", body, res)
	}
	return int64(res.json(t)["id"].(float64))
}

// paths are the GETs whose responses are kept, as w's users read them.
func (w keptWorld) paths() []string {
	var paths []string
	for _, u := range []int64{w.susan, w.bob, w.ann} {
		p := userPathOf(u)
		paths = append(paths, p, p+"/followers", p+"/following", p+"/posts")
	}
	return append(paths, "/api/me", "/api/users", "/api/users?per_page=2", "/api/users/by-name/bob",
		"/api/posts", postPathOf(w.post), postPathOf(w.reply), postPathOf(w.post)+"/likes", postPathOf(w.post)+"/replies",
		"/api/feed", "/api/search/users?q=bo", "/api/search/posts?q=hello", "/api/tags/go", "/api/notifications")
}

// A GET whose response is kept is answered again with no statement at
// all, the same bytes and validators; a conditional GET of it is a 304
// without a body and with the same ETag and Vary (API.md, caching), and a
// HEAD the same headers without the body, neither with a statement.
func TestKeptResponsesReadNothing(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	w := newKeptWorld(t, srv)
	srv.settle(t)
	for _, path := range w.paths() {
		first, _ := srv.getCounted(t, path, w.susanToken)
		again, n := srv.getCounted(t, path, w.susanToken)
		if n != 0 {
			t.Errorf("GET %s again: %d statements, want 0", path, n)
		}
		if !bytes.Equal(first.body, again.body) || first.header.Get("ETag") != again.header.Get("ETag") ||
			first.header.Get("Last-Modified") != again.header.Get("Last-Modified") ||
			first.header.Get("Cache-Control") != again.header.Get("Cache-Control") ||
			first.header.Get("Content-Location") != again.header.Get("Content-Location") ||
			first.header.Get("Vary") != again.header.Get("Vary") {
			t.Errorf("GET %s: the kept response differs:\n%v %s\n%v %s", path, first.header, first.body, again.header, again.body)
		}
		before := srv.statements.n.Load()
		res := srv.get(t, w.susanToken, path, map[string]string{"If-None-Match": first.header.Get("ETag")})
		if res.code != http.StatusNotModified || len(res.body) != 0 || res.header.Get("ETag") != first.header.Get("ETag") ||
			res.header.Get("Vary") != first.header.Get("Vary") || srv.statements.n.Load() != before {
			t.Errorf("conditional GET %s: %d %v %q with %d statements, want 304 without a body, ETag %s, Vary %s and no "+
				"statement", path, res.code, res.header, res.body, srv.statements.n.Load()-before, first.header.Get("ETag"),
				first.header.Get("Vary"))
		}
		head := srv.do(t, request{method: http.MethodHead, path: path, token: w.susanToken})
		if head.code != http.StatusOK || len(head.body) != 0 || head.header.Get("ETag") != first.header.Get("ETag") ||
			head.header.Get("Content-Length") != strconv.Itoa(len(first.body)) ||
			head.header.Get("Content-Type") != first.header.Get("Content-Type") || srv.statements.n.Load() != before {
			t.Errorf("HEAD %s: %d %v %q with %d statements, want GET's headers without a body and no statement", path,
				head.code, head.header, head.body, srv.statements.n.Load()-before)
		}
	}
	metrics := srv.do(t, request{method: http.MethodGet, path: "/metrics"})
	want := fmt.Sprintf("\nmicroblog_kept_responses_served_total %d\n", 3*len(w.paths()))
	if !bytes.Contains(metrics.body, []byte(want)) {
		t.Errorf("/metrics lacks %q", want)
	}
}

// What an instance keeps agrees with the database after every kind of
// change, made through another instance: instance b, which keeps
// responses, answers each user's GETs as instance c, which keeps none,
// once b has heard the change. Each round reads everything through b
// twice, so that the second reads what the first kept.
func TestKeptResponsesAgreeWithTheDatabase(t *testing.T) {
	t.Parallel()
	a := newTestServer(t)
	b := newTestServerAt(t, a.url)
	c := newTestServerAt(t, a.url, keepingNothing)
	w := newKeptWorld(t, a)
	readers := map[string]string{"susan": w.susanToken, "bob": w.bobToken, "ann": w.annToken}
	var kept int
	agree := func(after string) {
		t.Helper()
		b.settle(t)
		for _, round := range []int{1, 2} {
			for name, token := range readers {
				for _, path := range w.paths() {
					before := b.statements.n.Load()
					got := b.get(t, token, path, nil)
					if b.statements.n.Load() == before {
						kept++
					}
					want := c.get(t, token, path, nil)
					if got.code != want.code || !bytes.Equal(got.body, want.body) ||
						got.header.Get("ETag") != want.header.Get("ETag") {
						t.Fatalf("after %s, %s's GET %s (round %d):\nkept:  %s %s\nwant:  %s %s", after, name, path,
							round, got.header.Get("ETag"), got, want.header.Get("ETag"), want)
					}
				}
			}
		}
	}
	agree("the start")
	changes := keptChanges(t, w, a, b, c)
	for _, ch := range changes {
		ch.change()
		agree(ch.name)
	}
	// Every round's second reading could come from memory.
	if reads := (len(changes) + 1) * 2 * len(readers) * len(w.paths()); kept < reads/4 {
		t.Errorf("b answered %d of %d GETs without a statement, want at least a quarter", kept, reads)
	}
}

// A token ended through one instance is refused by every other within
// persistence.StaleAfter, though they had checked it from memory: a logout,
// a revocation of the user's other sessions, a password change. An expired
// token is refused at once.
func TestTokenEndsOnEveryInstance(t *testing.T) {
	t.Parallel()
	a := newTestServer(t)
	b := newTestServerAt(t, a.url)
	susan, _ := a.user(t, "susan")
	path := userPathOf(susan)
	known := func(token string) { b.keep(t, path, token) }
	refusedWithin := func(what, token string) {
		t.Helper()
		start := time.Now()
		for b.get(t, token, path, nil).code != http.StatusUnauthorized {
			if time.Since(start) > persistence.StaleAfter {
				t.Fatalf("after %s, b still accepted the token %s later", what, time.Since(start))
			}
			time.Sleep(time.Millisecond)
		}
		t.Logf("after %s, b refused the token %s later", what, time.Since(start).Round(time.Microsecond))
	}

	token := a.login(t, "susan", "pw-of-susan")
	known(token)
	a.do(t, request{method: http.MethodDelete, path: "/api/tokens", token: token, unheard: true})
	refusedWithin("a logout", token)

	kept, other := a.login(t, "susan", "pw-of-susan"), a.login(t, "susan", "pw-of-susan")
	known(other)
	res := a.do(t, request{method: http.MethodDelete, path: path + "/sessions", token: kept, unheard: true})
	if res.code/100 != 2 {
		t.Fatalf("revoke the other sessions: %s", res)
	}
	refusedWithin("a revocation of the other sessions", other)

	other = a.login(t, "susan", "pw-of-susan")
	known(other)
	res = a.do(t, request{method: http.MethodPatch, path: path, token: kept,
		body: `{"password": "a new password", "old_password": "pw-of-susan"}`, unheard: true})
	if res.code != http.StatusOK {
		t.Fatalf("change the password: %s", res)
	}
	refusedWithin("a password change", other)

	known(kept)
	b.clock.Advance(time.Hour) // the tokens' lifetime
	if res := b.get(t, kept, path, nil); res.code != http.StatusUnauthorized {
		t.Errorf("an expired token: %s, want 401", res)
	}
}

// A change made through one instance shows on another within
// persistence.StaleAfter, in practice within milliseconds, and so it does
// to the other clients of the instance that made it; the client that made
// it sees it at once.
func TestStalenessAcrossInstances(t *testing.T) {
	t.Parallel()
	a := newTestServer(t)
	b := newTestServerAt(t, a.url)
	susan, susanToken := a.user(t, "susan")
	_, bobToken := a.user(t, "bob")
	path := userPathOf(susan)
	keptOn := func(s *testServer) { s.keep(t, path, bobToken) }
	showsTo := func(s *testServer, token, about string) bool {
		return bytes.Contains(s.get(t, token, path, nil).body, []byte(`"about_me":"`+about+`"`))
	}
	shows := func(s *testServer, about string) bool { return showsTo(s, bobToken, about) }
	lagOf := func(s *testServer, about string) time.Duration {
		start := time.Now()
		for !shows(s, about) {
			if time.Since(start) > persistence.StaleAfter {
				t.Fatalf("%s not shown %s after it", about, time.Since(start))
			}
			time.Sleep(100 * time.Microsecond)
		}
		return time.Since(start)
	}

	var here, there []time.Duration
	for i := range 20 {
		keptOn(a)
		keptOn(b)
		showsTo(a, susanToken, "") // susan's own user, kept for her
		about := "edit " + strconv.Itoa(i)
		a.do(t, request{method: http.MethodPatch, path: path, token: susanToken, body: `{"about_me": "` + about + `"}`,
			unheard: true})
		if !showsTo(a, susanToken, about) {
			t.Fatalf("susan, who made edit %d through a, does not see it at once", i)
		}
		here = append(here, lagOf(a, about))
		there = append(there, lagOf(b, about))
	}
	for _, lags := range [][]time.Duration{here, there} {
		slices.Sort(lags)
	}
	t.Logf("a's edits shown to another client after %s (median), %s (most) on a; %s and %s on b; of 20",
		here[len(here)/2].Round(time.Microsecond), here[len(here)-1].Round(time.Microsecond),
		there[len(there)/2].Round(time.Microsecond), there[len(there)-1].Round(time.Microsecond))
}

// An instance that stops hearing changes stops answering from memory:
// after persistence.StaleAfter it reads everything again.
func TestDeafInstanceReadsAgain(t *testing.T) {
	t.Parallel()
	a := newTestServer(t)
	b := newTestServerAt(t, a.url)
	susan, susanToken := a.user(t, "susan")
	_, bobToken := a.user(t, "bob")
	path := userPathOf(susan)
	b.keep(t, path, bobToken)
	b.stopFollowing()
	a.do(t, request{method: http.MethodPatch, path: path, token: susanToken, body: `{"about_me": "unheard"}`, unheard: true})
	start := time.Now()
	for !bytes.Contains(b.get(t, bobToken, path, nil).body, []byte(`"about_me":"unheard"`)) {
		if time.Since(start) > persistence.StaleAfter+100*time.Millisecond {
			t.Fatalf("b, no longer looking for changes, still does not show the edit %s after it", time.Since(start))
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("b, no longer looking for changes, read the edit again %s after it", time.Since(start).Round(time.Millisecond))
}

// The client that made a change sees it at once, even before its instance
// has heard of it: here its instance hears nothing more, and still kept
// what the client read before.
func TestWriterSeesItsWrite(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	path := userPathOf(susan)
	srv.keep(t, path, token)
	srv.stopFollowing()
	srv.do(t, request{method: http.MethodPatch, path: path, token: token, body: `{"about_me": "mine"}`, unheard: true})
	if res := srv.get(t, token, path, nil); !bytes.Contains(res.body, []byte(`"about_me":"mine"`)) {
		t.Errorf("the writer's next GET: %s, want its edit", res)
	}
}

// keptChange is one change that TestKeptResponsesAgreeWithTheDatabase
// makes, by name.
type keptChange struct {
	name   string
	change func()
}

// keptChanges are the changes of w made through a, one of each kind that
// kept responses show; the passing minute moves the clocks of servers.
func keptChanges(t *testing.T, w keptWorld, a *testServer, servers ...*testServer) []keptChange {
	return []keptChange{
		{"a post", func() { a.post(t, w.annToken, "hello again #go") }},
		{"a follow", func() { a.followByAPI(t, w.annToken, w.ann, w.susan) }},
		{"an unfollow", func() {
			a.do(t, request{method: http.MethodDelete, path: fmt.Sprintf("/api/users/%d/following/%d", w.susan, w.bob),
				token: w.susanToken})
		}},
		{"a like", func() {
			a.do(t, request{method: http.MethodPut, path: fmt.Sprintf("%s/likes/%d", postPathOf(w.post), w.susan),
				token: w.susanToken})
		}},
		{"an unlike", func() {
			a.do(t, request{method: http.MethodDelete, path: fmt.Sprintf("%s/likes/%d", postPathOf(w.post), w.ann),
				token: w.annToken})
		}},
		{"an edit of a post", func() {
			a.do(t, request{method: http.MethodPut, path: postPathOf(w.post), token: w.bobToken,
				body: `{"body": "hello #golang @ann"}`})
		}},
		{"a reply", func() { a.reply(t, w.susanToken, w.reply, "and to you @ann") }},
		{"a change of about_me", func() {
			a.do(t, request{method: http.MethodPatch, path: userPathOf(w.ann), token: w.annToken, body: `{"about_me": "hello"}`})
		}},
		{"a rename", func() {
			a.do(t, request{method: http.MethodPatch, path: userPathOf(w.bob), token: w.bobToken, body: `{"username": "robert"}`})
		}},
		{"a rename into a search", func() {
			a.do(t, request{method: http.MethodPatch, path: userPathOf(w.ann), token: w.annToken, body: `{"username": "bonnie"}`})
		}},
		{"a message", func() { a.message(t, w.annToken, w.susan, "psst") }},
		{"notifications read", func() {
			page, _ := a.notifications(t, w.susanToken, "/api/notifications", nil)
			newest := page["_embedded"].(map[string]any)["mb:notifications"].([]any)[0].(map[string]any)["id"].(float64)
			a.do(t, request{method: http.MethodPost, path: "/api/notifications", token: w.susanToken,
				body: `{"up_to": ` + strconv.FormatFloat(newest, 'f', -1, 64) + `}`})
		}},
		{"a registration", func() { a.register(t, "dave", "pw-of-dave") }},
		{"a deleted reply", func() {
			a.do(t, request{method: http.MethodDelete, path: postPathOf(w.reply), token: w.annToken})
		}},
		{"a minute, and every user seen again", func() {
			for _, s := range servers {
				s.clock.Advance(2 * time.Minute)
			}
		}},
		{"a logout", func() { a.do(t, request{method: http.MethodDelete, path: "/api/tokens", token: w.bobToken}) }},
	}
}

// keep GETs path as token from s until s answers it from what it kept:
// the first GET records the token's use, the next is kept, and the third
// must take no statement.
func (s *testServer) keep(t *testing.T, path, token string) {
	t.Helper()
	s.getCounted(t, path, token)
	s.settle(t)
	s.getCounted(t, path, token)
	if _, n := s.getCounted(t, path, token); n != 0 {
		t.Fatalf("GET %s: %d statements, want it kept", path, n)
	}
}
