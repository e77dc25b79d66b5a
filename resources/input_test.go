package resources_test

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestNULInTextMembers sends U+0000, which no PostgreSQL text column holds,
// in every text member: each is a 400 naming the member, never the 500 of
// the database's refusal.
func TestNULInTextMembers(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	id, token := srv.user(t, "susan")
	tests := []struct {
		name, method, path, body, field string
	}{
		{"a post's body", http.MethodPost, "/api/posts", `{"body":"a\u0000b"}`, "body"},
		{"about_me at registration", http.MethodPost, "/api/users",
			`{"username": "bob", "email": "bob@example.com", "password": "12345678", "about_me": "a\u0000b"}`, "about_me"},
		{"a username", http.MethodPost, "/api/users", `{"username": "b\u0000b", "email": "b@example.com", "password": "12345678"}`, "username"},
		{"an email", http.MethodPost, "/api/users", `{"username": "bob", "email": "b\u0000b@example.com", "password": "12345678"}`, "email"},
		{"a password", http.MethodPost, "/api/users", `{"username": "bob", "email": "bob@example.com", "password": "1234\u00005678"}`, "password"},
		{"about_me in an update", http.MethodPatch, userPathOf(id), `{"about_me": "\u0000"}`, "about_me"},
		{"old_password", http.MethodPatch, userPathOf(id), `{"password": "a-new-password", "old_password": "\u0000"}`, "old_password"},
	}
	for _, tt := range tests {
		req := request{method: tt.method, path: tt.path, body: tt.body}
		if tt.method != http.MethodPost || tt.path != "/api/users" {
			req.token = token
		}
		res := srv.do(t, req)
		if res.code != http.StatusBadRequest || !namesField(res.json(t), tt.field) {
			t.Errorf("U+0000 in %s: %s, want a 400 naming %s", tt.name, res, tt.field)
		}
	}
}

// TestLoginCredentialsNotText logs in with Basic credentials that are not
// UTF-8 text: a 401 for the credentials, never the database's 500
// (SQLSTATE 22021).
func TestLoginCredentialsNotText(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	srv.register(t, "susan", "cat-in-the-hat")
	tests := []struct{ name, username, password string }{
		{"username \\xff", "\xff", "cat-in-the-hat"},
		{"username with NUL", "su\x00san", "cat-in-the-hat"},
		{"username not UTF-8", "su\xc3\x28san", "cat-in-the-hat"},
		{"password not UTF-8", "susan", "cat-in-the-\xffhat"},
		{"password with NUL", "susan", "cat-in-the-hat\x00"},
	}
	for _, tt := range tests {
		res := srv.do(t, request{method: http.MethodPost, path: "/api/tokens",
			header: map[string]string{"Authorization": basic(tt.username, tt.password)}})
		if res.code != http.StatusUnauthorized || res.header.Get("WWW-Authenticate") != `Basic realm="microblog"` {
			t.Errorf("%s: %s, want 401 with a Basic challenge", tt.name, res)
		}
	}
}

// TestPasswordRules checks the passwords refused beyond their length, at
// registration and on a change: only white space (Unicode's, after
// normalisation) and the username in any case, each a 400 naming password
// once.
func TestPasswordRules(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	id, token := srv.user(t, "susan-long")
	register := func(username, password string) string {
		b, _ := json.Marshal(map[string]string{"username": username, "email": username + "@example.com", "password": password})
		return string(b)
	}
	change := func(password string) string {
		b, _ := json.Marshal(map[string]string{"password": password, "old_password": "pw-of-susan-long"})
		return string(b)
	}
	tests := []struct {
		name, method, path, body string
	}{
		{"eight spaces", http.MethodPost, "/api/users", register("bob1", "        ")},
		{"ideographic spaces", http.MethodPost, "/api/users", register("bob2", "\u3000\u3000\u3000\u3000\u3000\u3000\u3000\u3000")},
		{"tabs, newlines and NEL", http.MethodPost, "/api/users", register("bob3", "\t\n\r\v\f\u0085\u00a0\u2028")},
		{"the username", http.MethodPost, "/api/users", register("bob-the-builder", "bob-the-builder")},
		{"the username in capitals", http.MethodPost, "/api/users", register("bob-the-builder2", "BOB-the-Builder2")},
		{"the username, full-width", http.MethodPost, "/api/users", register("bob-the-builder3", "ＢＯＢ-the-builder3")},
		{"a change to spaces", http.MethodPatch, userPathOf(id), change("          ")},
		{"a change to the username", http.MethodPatch, userPathOf(id), change("SUSAN-LONG")},
	}
	for _, tt := range tests {
		res := srv.do(t, request{method: tt.method, path: tt.path, body: tt.body, token: token})
		if res.code != http.StatusBadRequest {
			t.Errorf("%s: %s, want 400", tt.name, res)
			continue
		}
		params, _ := res.json(t)["invalid_params"].([]any)
		if len(params) != 1 || !namesField(res.json(t), "password") {
			t.Errorf("%s: %s, want one problem, naming password", tt.name, res.body)
		}
	}
}

// TestPasswordNormalisation registers a password in one Unicode form and
// logs in with another: NFKC makes them one password, at registration, at
// login and on a change.
func TestPasswordNormalisation(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	nfc, nfd := "p\u00e4ssw\u00f6rd-caf\u00e9", "pa\u0308sswo\u0308rd-cafe\u0301"
	id := srv.register(t, "susan", nfc)
	token := srv.login(t, "susan", nfd)
	// Full-width letters are their ASCII selves in form KC.
	body, _ := json.Marshal(map[string]string{"password": "ｆｕｌｌ-ｗｉｄｔｈ-1", "old_password": nfd})
	if res := srv.do(t, request{method: http.MethodPatch, path: userPathOf(id), body: string(body), token: token}); res.code != http.StatusOK {
		t.Fatalf("change the password: %s", res)
	}
	srv.login(t, "susan", "full-width-1")
}

// TestOwnEmailIsNotStored checks Cache-Control where a representation
// carries the caller's email: private, no-store on their own user however
// it is reached (registration, GET, a 304, an update) and on a page of
// users that shows them; everything else stays private, no-cache.
func TestOwnEmailIsNotStored(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	res := srv.do(t, request{method: http.MethodPost, path: "/api/users",
		body: `{"username": "susan", "email": "susan@example.com", "password": "pw-of-susan"}`})
	if got := res.header.Get("Cache-Control"); res.code != http.StatusCreated || got != "private, no-store" {
		t.Errorf("registration: %d, Cache-Control %q, want 201 and private, no-store", res.code, got)
	}
	token := srv.login(t, "susan", "pw-of-susan")
	id := int64(res.json(t)["id"].(float64))
	bob, _ := srv.user(t, "bob")
	carol, _ := srv.user(t, "carol")
	srv.follow(t, id, bob)
	srv.follow(t, carol, bob)
	me := srv.do(t, request{method: http.MethodGet, path: "/api/me", token: token})
	tests := []struct {
		name string
		req  request
		want string
	}{
		{"/api/me", request{method: http.MethodGet, path: "/api/me"}, "private, no-store"},
		{"own user", request{method: http.MethodGet, path: userPathOf(id)}, "private, no-store"},
		{"own user, 304", request{method: http.MethodGet, path: "/api/me",
			header: map[string]string{"If-None-Match": me.header.Get("ETag")}}, "private, no-store"},
		{"own user, updated", request{method: http.MethodPatch, path: userPathOf(id), body: `{"about_me": "hi"}`}, "private, no-store"},
		{"users, showing the caller", request{method: http.MethodGet, path: "/api/users"}, "private, no-store"},
		{"followers, showing the caller", request{method: http.MethodGet, path: userPathOf(bob) + "/followers"}, "private, no-store"},
		{"someone else", request{method: http.MethodGet, path: userPathOf(bob)}, "private, no-cache"},
		{"users, not showing the caller", request{method: http.MethodGet, path: "/api/users?page=2&per_page=1"}, "private, no-cache"},
		{"following, not showing the caller", request{method: http.MethodGet, path: userPathOf(carol) + "/following"}, "private, no-cache"},
		{"the feed", request{method: http.MethodGet, path: "/api/feed"}, "private, no-cache"},
	}
	for _, tt := range tests {
		tt.req.token = token
		res := srv.do(t, tt.req)
		if got := res.header.Get("Cache-Control"); res.code >= 300 && res.code != http.StatusNotModified || got != tt.want {
			t.Errorf("%s: %d, Cache-Control %q, want %q", tt.name, res.code, got, tt.want)
		}
	}
}
