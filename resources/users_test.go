package resources_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func TestRegister(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)

	res := srv.do(t, request{method: http.MethodPost, path: "/api/users",
		body: `{"username": "susan", "email": "susan@example.com", "password": "cat-in-the-hat", "about_me": "Hello, my name is Susan!"}`})

	if res.code != http.StatusCreated {
		t.Fatalf("register: %s", res)
	}
	body := res.json(t)
	if got, want := res.header.Get("Location"), userPathOf(int64(body["id"].(float64))); got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if body["email"] != "susan@example.com" || body["about_me"] != "Hello, my name is Susan!" || body["last_seen"] != nil {
		t.Errorf("new user: %s", res.body)
	}
	if _, ok := body["password"]; ok {
		t.Error("the new user shows its password")
	}
}

func TestRegisterValidation(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	srv.register(t, "taken", "pw-of-taken")
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name, body string
		status     int
		field      string // "" when the problem is about the whole body
		message    string
	}{
		{"missing username", `{"email": "a@example.com", "password": "12345678"}`, 400, "", "must include username, email and password fields"},
		{"missing email", `{"username": "a", "password": "12345678"}`, 400, "", "must include username, email and password fields"},
		{"missing password", `{"username": "a", "email": "a@example.com"}`, 400, "", "must include username, email and password fields"},
		{"empty object", `{}`, 400, "", "must include username, email and password fields"},
		{"username taken", `{"username": "taken", "email": "a@example.com", "password": "12345678"}`, 400, "username", "please use a different username"},
		{"username taken in another case", `{"username": "TAKEN", "email": "a@example.com", "password": "12345678"}`, 400, "username", "please use a different username"},
		{"email taken", `{"username": "a", "email": "taken@example.com", "password": "12345678"}`, 400, "email", "please use a different email address"},
		{"email taken in another case", `{"username": "a", "email": "Taken@EXAMPLE.com", "password": "12345678"}`, 400, "email", "please use a different email address"},
		{"empty username", `{"username": "", "email": "a@example.com", "password": "12345678"}`, 400, "username", ""},
		{"username of 65", `{"username": "` + long(65) + `", "email": "a@example.com", "password": "12345678"}`, 400, "username", ""},
		{"username with a space", `{"username": "su san", "email": "a@example.com", "password": "12345678"}`, 400, "username", ""},
		{"username with a slash", `{"username": "su/san", "email": "a@example.com", "password": "12345678"}`, 400, "username", ""},
		{"username not ASCII", `{"username": "süsan", "email": "a@example.com", "password": "12345678"}`, 400, "username", ""},
		{"username a number", `{"username": 5, "email": "a@example.com", "password": "12345678"}`, 400, "username", "username must be a string"},
		{"email null", `{"username": "a", "email": null, "password": "12345678"}`, 400, "email", "email must be a string"},
		{"email invalid", `{"username": "a", "email": "not an email", "password": "12345678"}`, 400, "email", ""},
		{"email with a name", `{"username": "a", "email": "Al <a@example.com>", "password": "12345678"}`, 400, "email", ""},
		{"two emails", `{"username": "a", "email": "a@example.com, b@example.com", "password": "12345678"}`, 400, "email", ""},
		{"email of 121", `{"username": "a", "email": "` + long(109) + `@example.com", "password": "12345678"}`, 400, "email", "email must be at most 120 characters"},
		{"password of 7", `{"username": "a", "email": "a@example.com", "password": "1234567"}`, 400, "password", "password must be at least 8 characters"},
		{"password of 257", `{"username": "a", "email": "a@example.com", "password": "` + long(257) + `"}`, 400, "password", "password must be at most 256 characters"},
		{"password a list", `{"username": "a", "email": "a@example.com", "password": ["x"]}`, 400, "password", "password must be a string"},
		{"about_me of 141", `{"username": "a", "email": "a@example.com", "password": "12345678", "about_me": "` + long(141) + `"}`, 400, "about_me", "about_me must be at most 140 characters"},
		{"null body", `null`, 400, "", ""},
		{"array body", `[]`, 400, "", ""},
		{"string body", `"x"`, 400, "", ""},
		{"number body", `5`, 400, "", ""},
		{"malformed", `{"username": "a",`, 400, "", ""},
		{"trailing data", `{"username": "a", "email": "a@example.com", "password": "12345678"} {}`, 400, "", ""},
	}
	for _, tt := range tests {
		res := srv.do(t, request{method: http.MethodPost, path: "/api/users", body: tt.body})
		if res.code != tt.status {
			t.Errorf("%s: %s, want %d", tt.name, res, tt.status)
			continue
		}
		p := res.json(t)
		if tt.message != "" && p["message"] != tt.message {
			t.Errorf("%s: message %v, want %q", tt.name, p["message"], tt.message)
		}
		if p["message"] == nil || p["message"] == "" {
			t.Errorf("%s: no message saying what is wrong: %s", tt.name, res.body)
		}
		if tt.field != "" && !namesField(p, tt.field) {
			t.Errorf("%s: invalid_params does not name %s: %s", tt.name, tt.field, res.body)
		}
	}
}

// TestRegisterValidationBoundaries registers users at the limits that must
// pass: 64-character username, 120-character email, 8- and 256-character
// passwords, 140-character about_me.
func TestRegisterValidationBoundaries(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	long := func(n int) string { return strings.Repeat("a", n) }
	for i, body := range []string{
		`{"username": "` + long(64) + `", "email": "b1@example.com", "password": "12345678"}`,
		`{"username": "b.2_-X", "email": "` + long(108) + `@example.com", "password": "` + long(256) + `", "about_me": "` + long(140) + `"}`,
	} {
		if res := srv.do(t, request{method: http.MethodPost, path: "/api/users", body: body}); res.code != http.StatusCreated {
			t.Errorf("boundary %d: %s", i, res)
		}
	}
}

func namesField(problem map[string]any, field string) bool {
	params, _ := problem["invalid_params"].([]any)
	for _, p := range params {
		if m, ok := p.(map[string]any); ok && m["name"] == field && m["reason"] != "" {
			return true
		}
	}
	return false
}

func TestRegisterBodies(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	valid := `{"username": "a", "email": "a@example.com", "password": "12345678"}`
	tests := []struct {
		name, contentType, body string
		status                  int
	}{
		{"form-encoded", "application/x-www-form-urlencoded", "username=a&email=a%40example.com&password=12345678", http.StatusUnsupportedMediaType},
		{"text", "text/plain", valid, http.StatusUnsupportedMediaType},
		{"no content type", "", valid, http.StatusUnsupportedMediaType},
		{"latin-1", "application/json; charset=iso-8859-1", valid, http.StatusUnsupportedMediaType},
		{"merge patch on POST", "application/merge-patch+json", valid, http.StatusUnsupportedMediaType},
		{"2 MiB", "application/json", `{"username": "` + strings.Repeat("a", 2<<20) + `"}`, http.StatusRequestEntityTooLarge},
		{"invalid UTF-8", "application/json", "{\"username\": \"\xff\", \"email\": \"a@example.com\", \"password\": \"12345678\"}", http.StatusBadRequest},
		{"empty", "application/json", "", http.StatusBadRequest},
		{"HAL", "application/hal+json", valid, http.StatusCreated},
	}
	for _, tt := range tests {
		hr := request{method: http.MethodPost, path: "/api/users", body: tt.body, header: map[string]string{"Content-Type": tt.contentType}}
		res := srv.do(t, hr)
		if res.code != tt.status {
			t.Errorf("%s: %s, want %d", tt.name, res, tt.status)
		}
	}
}

func TestRegisterRace(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	const n = 50
	codes := make([]int, n)
	messages := make([]any, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body := fmt.Sprintf(`{"username": "racer", "email": "racer%d@example.com", "password": "12345678"}`, i)
			res := srv.do(t, request{method: http.MethodPost, path: "/api/users", body: body})
			codes[i] = res.code
			if res.code != http.StatusCreated {
				messages[i] = res.json(t)["message"]
			}
		})
	}
	wg.Wait()
	created := 0
	for i, code := range codes {
		switch {
		case code == http.StatusCreated:
			created++
		case code != http.StatusBadRequest || messages[i] != "please use a different username":
			t.Errorf("racer %d: %d %v", i, code, messages[i])
		}
	}
	if created != 1 {
		t.Errorf("%d registrations of one username succeeded, want exactly 1", created)
	}
}

func TestEmailUnicodeNormalisation(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	composed, decomposed := "jos\u00e9@example.com", "jose\u0301@example.com"
	res := srv.do(t, request{method: http.MethodPost, path: "/api/users",
		body: `{"username": "jose1", "email": "` + composed + `", "password": "12345678"}`})
	if res.code != http.StatusCreated {
		t.Fatalf("first: %s", res)
	}
	res = srv.do(t, request{method: http.MethodPost, path: "/api/users",
		body: `{"username": "jose2", "email": "` + decomposed + `", "password": "12345678"}`})
	if res.code != http.StatusBadRequest || res.json(t)["message"] != "please use a different email address" {
		t.Errorf("the same address decomposed: %s", res)
	}
}

func TestGetUser(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	bob, _ := srv.user(t, "bob")
	srv.follow(t, bob, susan)

	self := srv.do(t, request{method: http.MethodGet, path: userPathOf(susan), token: token})
	other := srv.do(t, request{method: http.MethodGet, path: userPathOf(bob), token: token})

	if self.code != http.StatusOK || other.code != http.StatusOK {
		t.Fatalf("GET users: %s; %s", self, other)
	}
	golden(t, "user_self.golden.json", self.body)
	golden(t, "user_other.golden.json", other.body)
	if got := self.header.Get("Vary"); got != "Accept, Authorization" {
		t.Errorf("Vary = %q, want Accept, Authorization", got)
	}
}

func TestMe(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	id, token := srv.user(t, "susan")

	res := srv.do(t, request{method: http.MethodGet, path: "/api/me", token: token})

	if res.code != http.StatusOK {
		t.Fatalf("GET /api/me: %s", res)
	}
	if got := res.header.Get("Content-Location"); got != userPathOf(id) {
		t.Errorf("Content-Location = %q, want %q", got, userPathOf(id))
	}
	if body := res.json(t); body["email"] != "susan@example.com" || body["id"] != float64(id) {
		t.Errorf("me: %s", res.body)
	}
}

func TestUserIDs(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	_, token := srv.user(t, "susan")
	for _, id := range []string{"abc", "0", "-1", "99999999999999999999", "1.5", "2", "1e3"} {
		for _, suffix := range []string{"", "/followers", "/following"} {
			res := srv.do(t, request{method: http.MethodGet, path: "/api/users/" + id + suffix, token: token})
			if res.code != http.StatusNotFound {
				t.Errorf("GET /api/users/%s%s: %s, want 404", id, suffix, res)
			}
		}
		res := srv.do(t, request{method: http.MethodPatch, path: "/api/users/" + id, token: token, body: `{"about_me": "x"}`})
		if res.code != http.StatusNotFound {
			t.Errorf("PATCH /api/users/%s: %s, want 404", id, res)
		}
	}
}

func TestUpdateUser(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	id, token := srv.user(t, "susan")
	path := userPathOf(id)

	res := srv.do(t, request{method: http.MethodPut, path: path, token: token,
		body: `{"username": "Susan2", "email": "s2@example.com", "about_me": "new"}`})
	if res.code != http.StatusOK {
		t.Fatalf("PUT: %s", res)
	}
	if b := res.json(t); b["username"] != "Susan2" || b["email"] != "s2@example.com" || b["about_me"] != "new" {
		t.Errorf("after PUT: %s", res.body)
	}

	// PATCH changes only what it names.
	res = srv.do(t, request{method: http.MethodPatch, path: path, token: token, body: `{"about_me": "newer"}`})
	if b := res.json(t); res.code != http.StatusOK || b["username"] != "Susan2" || b["about_me"] != "newer" {
		t.Errorf("after PATCH: %s", res)
	}
	// A merge patch removes about_me with null.
	res = srv.do(t, request{method: http.MethodPatch, path: path, token: token, body: `{"about_me": null}`,
		header: map[string]string{"Content-Type": "application/merge-patch+json"}})
	if b := res.json(t); res.code != http.StatusOK || b["about_me"] != "" {
		t.Errorf("after merge patch: %s", res)
	}
	// A client may send back what it read, links and read-only members
	// included: nothing changes and nothing is refused.
	got := srv.do(t, request{method: http.MethodGet, path: path, token: token})
	res = srv.do(t, request{method: http.MethodPut, path: path, token: token, body: string(got.body)})
	if res.code != http.StatusOK {
		t.Errorf("PUT of what GET returned: %s", res)
	}
	// Changing only the case of one's own username is allowed.
	res = srv.do(t, request{method: http.MethodPatch, path: path, token: token, body: `{"username": "susan2"}`})
	if res.code != http.StatusOK {
		t.Errorf("PATCH to another case of one's own name: %s", res)
	}
}

func TestUpdateUserRefused(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	id, token := srv.user(t, "susan")
	bob, _ := srv.user(t, "bob")
	path := userPathOf(id)
	tests := []struct {
		name, method, path, contentType, body string
		status                                int
		field                                 string
	}{
		{"another user", http.MethodPut, userPathOf(bob), "", `{"about_me": "x"}`, http.StatusForbidden, ""},
		{"another user, PATCH", http.MethodPatch, userPathOf(bob), "", `{"about_me": "x"}`, http.StatusForbidden, ""},
		{"unknown user", http.MethodPut, userPathOf(999), "", `{"about_me": "x"}`, http.StatusNotFound, ""},
		{"taken username", http.MethodPut, path, "", `{"username": "BOB"}`, http.StatusBadRequest, "username"},
		{"taken email", http.MethodPut, path, "", `{"email": "bob@example.com"}`, http.StatusBadRequest, "email"},
		{"bad username", http.MethodPut, path, "", `{"username": "no spaces"}`, http.StatusBadRequest, "username"},
		{"bad email", http.MethodPatch, path, "", `{"email": "nope"}`, http.StatusBadRequest, "email"},
		{"long about_me", http.MethodPatch, path, "", `{"about_me": "` + strings.Repeat("é", 141) + `"}`, http.StatusBadRequest, "about_me"},
		{"about_me a number", http.MethodPatch, path, "", `{"about_me": 5}`, http.StatusBadRequest, "about_me"},
		{"null username in a merge patch", http.MethodPatch, path, "application/merge-patch+json", `{"username": null}`, http.StatusBadRequest, "username"},
		{"null about_me in a PUT", http.MethodPut, path, "", `{"about_me": null}`, http.StatusBadRequest, "about_me"},
		{"password without old_password", http.MethodPut, path, "", `{"password": "new-password"}`, http.StatusBadRequest, "old_password"},
		{"password with a wrong old_password", http.MethodPut, path, "", `{"password": "new-password", "old_password": "wrong-one"}`, http.StatusBadRequest, "old_password"},
		{"short password", http.MethodPut, path, "", `{"password": "short", "old_password": "pw-of-susan"}`, http.StatusBadRequest, "password"},
		{"merge patch on PUT", http.MethodPut, path, "application/merge-patch+json", `{"about_me": "x"}`, http.StatusUnsupportedMediaType, ""},
		{"form on PATCH", http.MethodPatch, path, "application/x-www-form-urlencoded", `about_me=x`, http.StatusUnsupportedMediaType, ""},
		{"null body", http.MethodPut, path, "", `null`, http.StatusBadRequest, ""},
		{"array body", http.MethodPatch, path, "", `[]`, http.StatusBadRequest, ""},
	}
	for _, tt := range tests {
		hdr := map[string]string{}
		if tt.contentType != "" {
			hdr["Content-Type"] = tt.contentType
		}
		res := srv.do(t, request{method: tt.method, path: tt.path, token: token, body: tt.body, header: hdr})
		if res.code != tt.status {
			t.Errorf("%s: %s, want %d", tt.name, res, tt.status)
			continue
		}
		if tt.field != "" && !namesField(res.json(t), tt.field) {
			t.Errorf("%s: invalid_params does not name %s: %s", tt.name, tt.field, res.body)
		}
	}
	if res := srv.do(t, request{method: http.MethodPatch, path: path, token: token, body: `{"x": 1}`,
		header: map[string]string{"Content-Type": "text/plain"}}); res.header.Get("Accept-Patch") == "" {
		t.Errorf("415 on PATCH without Accept-Patch: %v", res.header)
	}
	// Nothing of the refused updates stuck.
	b := srv.do(t, request{method: http.MethodGet, path: path, token: token}).json(t)
	if b["username"] != "susan" || b["email"] != "susan@example.com" || b["about_me"] != "" {
		t.Errorf("after refused updates: %v", b)
	}
	srv.login(t, "susan", "pw-of-susan")
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	id, token := srv.user(t, "susan")
	srv.secrets = append(srv.secrets, "a-new-password")

	res := srv.do(t, request{method: http.MethodPatch, path: userPathOf(id), token: token,
		body: `{"password": "a-new-password", "old_password": "pw-of-susan"}`})

	if res.code != http.StatusOK {
		t.Fatalf("change password: %s", res)
	}
	srv.login(t, "susan", "a-new-password")
	old := srv.do(t, request{method: http.MethodPost, path: "/api/tokens",
		header: map[string]string{"Authorization": basic("susan", "pw-of-susan")}})
	if old.code != http.StatusUnauthorized {
		t.Errorf("login with the old password: %s", old)
	}
}

func TestEmailOnlyForYourself(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	bob, _ := srv.user(t, "bob")
	srv.follow(t, bob, susan)
	srv.follow(t, susan, bob)
	for _, path := range []string{userPathOf(bob), "/api/users", userPathOf(susan) + "/followers",
		userPathOf(susan) + "/following", userPathOf(bob) + "/followers"} {
		res := srv.do(t, request{method: http.MethodGet, path: path, token: token})
		if strings.Contains(string(res.body), "bob@example.com") {
			t.Errorf("GET %s shows bob's email to susan: %s", path, res.body)
		}
	}
	var listed struct {
		Embedded struct {
			Users []map[string]any `json:"mb:users"`
		} `json:"_embedded"`
	}
	res := srv.do(t, request{method: http.MethodGet, path: "/api/users", token: token})
	if err := json.Unmarshal(res.body, &listed); err != nil {
		t.Fatal(err)
	}
	for _, u := range listed.Embedded.Users {
		if (u["email"] != nil) != (u["id"] == float64(susan)) {
			t.Errorf("in the list, user %v email %v", u["id"], u["email"])
		}
	}
}
