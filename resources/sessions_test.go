package resources_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// session is a login of the sessions tests: its token and its session's
// URL, as the answer to POST /api/tokens names them.
type session struct {
	token, self string
	id          float64
}

// sessionsServer records every body it sends, to check that none shows a
// token or its hash.
type sessionsServer struct {
	*testServer
	bodies [][]byte
	tokens []string
}

func (s *sessionsServer) do(t *testing.T, req request) response {
	t.Helper()
	res := s.testServer.do(t, req)
	s.bodies = append(s.bodies, res.body)
	return res
}

// newSessionsServer is a test server where susan and bob are registered,
// and their ids.
func newSessionsServer(t *testing.T) (srv *sessionsServer, susan, bob int64) {
	t.Helper()
	srv = &sessionsServer{testServer: newTestServer(t)}
	return srv, srv.register(t, "susan", "pw-of-susan"), srv.register(t, "bob", "pw-of-bob")
}

// loginAs logs username in from the client userAgent ("" sends none).
func (s *sessionsServer) loginAs(t *testing.T, username, userAgent string) session {
	t.Helper()
	hdr := map[string]string{"Authorization": basic(username, "pw-of-"+username)}
	if userAgent != "" {
		hdr["User-Agent"] = userAgent
	}
	res := s.testServer.do(t, request{method: http.MethodPost, path: "/api/tokens", header: hdr})
	if res.code != http.StatusOK || res.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("login %s: %s", username, res)
	}
	body := res.json(t)
	x := session{token: body["token"].(string), self: href(body, "self")}
	x.id, _ = body["id"].(float64)
	if want := fmt.Sprintf("/api/tokens/%d", int64(x.id)); x.id < 1 || x.self != want || href(body, "mb:me") != "/api/me" {
		t.Fatalf("login %s: id %v and self %q, want a positive id and self %s: %s", username, body["id"], x.self, want, res)
	}
	s.tokens = append(s.tokens, x.token)
	return x
}

// checkNoSecrets checks that no body sent (but the logins', which carry
// their own token) shows a token or the hex of its hash.
func (s *sessionsServer) checkNoSecrets(t *testing.T) {
	t.Helper()
	for _, token := range s.tokens {
		sum := sha256.Sum256([]byte(token))
		for _, secret := range []string{token, hex.EncodeToString(sum[:])} {
			for _, b := range s.bodies {
				if bytes.Contains(bytes.ToLower(b), []byte(secret)) {
					t.Errorf("a response shows a token or its hash: %s", b)
				}
			}
		}
	}
}

// sessionsOf returns the sessions listed at path, asked for with token.
func (s *sessionsServer) sessionsOf(t *testing.T, token, path string) []map[string]any {
	t.Helper()
	res := s.do(t, request{method: http.MethodGet, path: path, token: token})
	if res.code != http.StatusOK || res.header.Get("Cache-Control") != "private, no-cache" || res.header.Get("ETag") == "" {
		t.Fatalf("GET %s: %d Cache-Control %q ETag %q, want 200 private, no-cache with an ETag: %s", path, res.code,
			res.header.Get("Cache-Control"), res.header.Get("ETag"), res)
	}
	var out []map[string]any
	embedded, _ := res.json(t)["_embedded"].(map[string]any)
	list, _ := embedded["mb:sessions"].([]any)
	for _, x := range list {
		out = append(out, x.(map[string]any))
	}
	return out
}

// sessionsLink is the mb:sessions of the caller's own user, without its
// template.
func (s *sessionsServer) sessionsLink(t *testing.T, token string) string {
	t.Helper()
	res := s.do(t, request{method: http.MethodGet, path: "/api/me", token: token})
	link := href(res.json(t), "mb:sessions")
	path, ok := strings.CutSuffix(link, "{?page,per_page}")
	if !ok {
		t.Fatalf("mb:sessions of /api/me is %q, want a link templated with {?page,per_page}: %s", link, res)
	}
	return path
}

// status sends method path with token and fails the test unless the
// answer is want.
func (s *sessionsServer) status(t *testing.T, method, path, token string, want int) response {
	t.Helper()
	res := s.do(t, request{method: method, path: path, token: token})
	if res.code != want {
		t.Errorf("%s %s: %s, want %d", method, path, res, want)
	}
	return res
}

// TestSessionsList logs susan in twice with different User-Agents: her
// own user links her sessions, newest first, each with its times, its
// client and whether it is the one that asks, and never a token.
func TestSessionsList(t *testing.T) {
	t.Parallel()
	srv, susan, bob := newSessionsServer(t)
	phone := srv.loginAs(t, "susan", "Phone/1.0")
	srv.clock.Advance(time.Second)
	laptop := srv.loginAs(t, "susan", "Laptop/2.0\x01\u202e\tevil\xff")
	path := srv.sessionsLink(t, laptop.token)
	if path != userPathOf(susan)+"/sessions" {
		t.Errorf("mb:sessions = %s, want %s/sessions", path, userPathOf(susan))
	}
	if href(srv.do(t, request{method: http.MethodGet, path: userPathOf(bob), token: laptop.token}).json(t), "mb:sessions") != "" {
		t.Error("someone else's user links mb:sessions")
	}
	list := srv.sessionsOf(t, laptop.token, path)
	want := []struct {
		self, userAgent string
		current         bool
		created         time.Time
	}{
		{laptop.self, "Laptop/2.0evil\ufffd", true, epoch.Add(time.Second)},
		{phone.self, "Phone/1.0", false, epoch},
	}
	if len(list) != len(want) {
		t.Fatalf("%d sessions, want %d: %v", len(list), len(want), list)
	}
	for i, w := range want {
		x := list[i]
		if href(x, "self") != w.self || x["user_agent"] != w.userAgent || x["current"] != w.current ||
			x["created_at"] != w.created.Format(time.RFC3339Nano) || x["last_used_at"] != x["created_at"] ||
			x["expires_at"] != w.created.Add(time.Hour).Format(time.RFC3339Nano) {
			t.Errorf("session %d = %v, want self %s, user_agent %q, current %v, created and last used at %v", i, x,
				w.self, w.userAgent, w.current, w.created)
		}
	}
	if list := srv.sessionsOf(t, phone.token, path); len(list) != 2 || list[1]["current"] != true || list[0]["current"] != false {
		t.Errorf("as the phone, current is not the phone's: %v", list)
	}
	golden(t, "sessions_page.golden.json", srv.do(t, request{method: http.MethodGet, path: path, token: laptop.token}).body)
	srv.checkNoSecrets(t)
}

// TestSessionLastUsed: a session's last_used_at moves when its token is
// used, at most once a minute, and the list shows the use it is itself.
func TestSessionLastUsed(t *testing.T) {
	t.Parallel()
	srv, _, _ := newSessionsServer(t)
	phone := srv.loginAs(t, "susan", "Phone/1.0")
	laptop := srv.loginAs(t, "susan", "")
	lastUsed := func(token, self string) string {
		t.Helper()
		res := srv.status(t, http.MethodGet, self, token, http.StatusOK)
		return res.json(t)["last_used_at"].(string)
	}
	at := func(d time.Duration) string { return epoch.Add(d).Format(time.RFC3339Nano) }
	if got := lastUsed(laptop.token, phone.self); got != at(0) {
		t.Errorf("the phone's session, unused since its login: last used at %s, want %s", got, at(0))
	}
	srv.clock.Advance(2 * time.Minute)
	srv.status(t, http.MethodGet, "/api/me", phone.token, http.StatusOK)
	srv.clock.Advance(30 * time.Second) // within the minute: not recorded
	srv.status(t, http.MethodGet, "/api/me", phone.token, http.StatusOK)
	if got := lastUsed(laptop.token, phone.self); got != at(2*time.Minute) {
		t.Errorf("the phone's session used at +2m and +2m30s: last used at %s, want %s", got, at(2*time.Minute))
	}
	// The laptop's read of itself is a use, which its answer shows.
	if got := lastUsed(laptop.token, laptop.self); got != at(150*time.Second) {
		t.Errorf("the laptop's session as it reads itself: last used at %s, want %s", got, at(150*time.Second))
	}
	res := srv.status(t, http.MethodGet, laptop.self, laptop.token, http.StatusOK)
	if x := res.json(t); x["user_agent"] != nil || x["current"] != true {
		t.Errorf("a session whose login sent no User-Agent, read by its token: %s", res)
	}
	srv.checkNoSecrets(t)
}

// TestRevokeSession revokes a session by the template of its item: its
// token is refused from then on and it leaves the list; the presented
// token can revoke itself so too.
func TestRevokeSession(t *testing.T) {
	t.Parallel()
	srv, _, _ := newSessionsServer(t)
	phone := srv.loginAs(t, "susan", "Phone/1.0")
	laptop := srv.loginAs(t, "susan", "Laptop/2.0")
	tmpls, _ := srv.templates(t, laptop.token, phone.self)
	revoke, ok := tmpls["revoke"]
	if !ok || revoke.Method != http.MethodDelete || revoke.Target != phone.self {
		t.Fatalf("the phone's session offers %v, want the template revoke: DELETE %s", tmpls, phone.self)
	}
	res := srv.submit(t, laptop.token, revoke, nil)
	if res.code != http.StatusNoContent || !strings.Contains(res.header.Get("Link"), "/sessions>; rel=\"invalidates\"") {
		t.Errorf("revoke: %s Link %q, want 204 naming the sessions", res, res.header.Get("Link"))
	}
	srv.status(t, http.MethodGet, "/api/me", phone.token, http.StatusUnauthorized)
	srv.status(t, http.MethodGet, phone.self, laptop.token, http.StatusNotFound)
	srv.status(t, http.MethodDelete, phone.self, laptop.token, http.StatusNotFound)
	if list := srv.sessionsOf(t, laptop.token, srv.sessionsLink(t, laptop.token)); len(list) != 1 || href(list[0], "self") != laptop.self {
		t.Errorf("after the phone's revocation the sessions are %v, want the laptop's alone", list)
	}
	srv.status(t, http.MethodDelete, laptop.self, laptop.token, http.StatusNoContent)
	srv.status(t, http.MethodGet, "/api/me", laptop.token, http.StatusUnauthorized)
	srv.checkNoSecrets(t)
}

// TestRevokeOtherSessions: the template revoke-others, on the list and on
// the own user, leaves only the presented token working; DELETE
// /api/tokens still revokes only the presented one.
func TestRevokeOtherSessions(t *testing.T) {
	t.Parallel()
	srv, _, bob := newSessionsServer(t)
	bobs := srv.loginAs(t, "bob", "")
	others := []session{srv.loginAs(t, "susan", "A"), srv.loginAs(t, "susan", "B")}
	laptop := srv.loginAs(t, "susan", "Laptop/2.0")
	path := srv.sessionsLink(t, laptop.token)
	own, _ := srv.templates(t, laptop.token, "/api/me")
	listed, _ := srv.templates(t, laptop.token, path)
	revoke := listed["revoke-others"]
	if revoke.Method != http.MethodDelete || revoke.Target != path || own["revoke-others"].Target != path {
		t.Fatalf("revoke-others: %v on the list, %v on the own user, want DELETE %s on both", revoke, own["revoke-others"], path)
	}
	if res := srv.submit(t, laptop.token, revoke, nil); res.code != http.StatusNoContent {
		t.Errorf("revoke-others: %s", res)
	}
	for _, x := range others {
		srv.status(t, http.MethodGet, "/api/me", x.token, http.StatusUnauthorized)
	}
	srv.status(t, http.MethodGet, "/api/me", laptop.token, http.StatusOK)
	srv.status(t, http.MethodGet, "/api/me", bobs.token, http.StatusOK)
	if list := srv.sessionsOf(t, laptop.token, path); len(list) != 1 || list[0]["current"] != true {
		t.Errorf("after revoke-others the sessions are %v, want the one that asks", list)
	}
	srv.status(t, http.MethodDelete, userPathOf(bob)+"/sessions", laptop.token, http.StatusForbidden)
	srv.status(t, http.MethodDelete, userPathOf(99999)+"/sessions", laptop.token, http.StatusNotFound)
	srv.status(t, http.MethodGet, "/api/me", bobs.token, http.StatusOK)
	srv.status(t, http.MethodDelete, "/api/tokens", laptop.token, http.StatusNoContent)
	srv.status(t, http.MethodGet, "/api/me", laptop.token, http.StatusUnauthorized)
	srv.status(t, http.MethodGet, "/api/me", bobs.token, http.StatusOK)
	srv.checkNoSecrets(t)
}

// TestSomeoneElsesSessions: another user's session is not found, to read
// or to revoke, and stays; their list is forbidden; ids that name no
// session and bad paging are refused as everywhere.
func TestSomeoneElsesSessions(t *testing.T) {
	t.Parallel()
	srv, _, bob := newSessionsServer(t)
	susans := srv.loginAs(t, "susan", "")
	bobs := srv.loginAs(t, "bob", "")
	srv.status(t, http.MethodGet, bobs.self, susans.token, http.StatusNotFound)
	srv.status(t, http.MethodHead, bobs.self, susans.token, http.StatusNotFound)
	srv.status(t, http.MethodDelete, bobs.self, susans.token, http.StatusNotFound)
	srv.status(t, http.MethodGet, "/api/me", bobs.token, http.StatusOK)
	srv.status(t, http.MethodGet, bobs.self, bobs.token, http.StatusOK)
	srv.status(t, http.MethodGet, userPathOf(bob)+"/sessions", susans.token, http.StatusForbidden)
	srv.status(t, http.MethodGet, userPathOf(99999)+"/sessions", susans.token, http.StatusNotFound)
	for _, id := range []string{"abc", "0", "-1", "01", "+1", "99999999999999999999", "99999"} {
		srv.status(t, http.MethodGet, "/api/tokens/"+id, susans.token, http.StatusNotFound)
		srv.status(t, http.MethodDelete, "/api/tokens/"+id, susans.token, http.StatusNotFound)
	}
	path := srv.sessionsLink(t, susans.token)
	for _, q := range []string{"page=0", "per_page=0", "page=x", "after=nonsense"} {
		srv.status(t, http.MethodGet, path+"?"+q, susans.token, http.StatusBadRequest)
	}
	srv.status(t, http.MethodGet, path, "", http.StatusUnauthorized)
	srv.status(t, http.MethodGet, susans.self, "0123456789abcdef0123456789abcdef", http.StatusUnauthorized)
	srv.status(t, http.MethodDelete, susans.self, "0123456789abcdef0123456789abcdef", http.StatusUnauthorized)
	srv.status(t, http.MethodGet, "/api/me", susans.token, http.StatusOK)
	srv.status(t, http.MethodGet, "/api/me", bobs.token, http.StatusOK)
	srv.checkNoSecrets(t)
}

// TestSessionCaching: a session and the list are private, tagged by their
// body, and a conditional GET of an unchanged one is a 304.
func TestSessionCaching(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	_, token := srv.user(t, "susan")
	checkETag(t, srv, token, "/api/tokens/1", func() { srv.clock.Advance(2 * time.Minute) })
	checkETag(t, srv, token, "/api/users/1/sessions", func() { srv.login(t, "susan", "pw-of-susan") })
	tmpls, res := srv.templates(t, token, "/api/tokens/1")
	if _, ok := tmpls["revoke"]; !ok {
		t.Errorf("GET /api/tokens/1 as HAL-FORMS: no template revoke: %s", res)
	}
	golden(t, "session_forms.golden.json", res.body)
}
