package resources_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

var formsAccept = map[string]string{"Accept": "application/prs.hal-forms+json"}

// template is a HAL-FORMS template as a client reads it.
type template struct {
	Title       string     `json:"title"`
	Method      string     `json:"method"`
	Target      string     `json:"target"`
	ContentType string     `json:"contentType"`
	Properties  []property `json:"properties"`
}

type property struct {
	Name      string `json:"name"`
	Prompt    string `json:"prompt"`
	Type      string `json:"type"`
	Required  bool   `json:"required"`
	Regex     string `json:"regex"`
	MinLength int    `json:"minLength"`
	MaxLength int    `json:"maxLength"`
	Value     string `json:"value"`
}

// templates GETs path as a HAL-FORMS client and returns its templates.
func (s *testServer) templates(t *testing.T, token, path string) (map[string]template, response) {
	t.Helper()
	res := s.do(t, request{method: http.MethodGet, path: path, token: token, header: formsAccept})
	if res.code != http.StatusOK {
		t.Fatalf("GET %s: %s", path, res)
	}
	var doc struct {
		Templates map[string]template `json:"_templates"`
	}
	if err := json.Unmarshal(res.body, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Templates, res
}

// submit sends a template with values as a HAL-FORMS client would.
func (s *testServer) submit(t *testing.T, token string, tmpl template, values map[string]string) response {
	t.Helper()
	req := request{method: tmpl.Method, path: tmpl.Target, token: token}
	if tmpl.Method == http.MethodGet {
		query := url.Values{}
		for k, v := range values {
			query.Set(k, v)
		}
		req.path += "?" + query.Encode()
		return s.do(t, req)
	}
	if len(tmpl.Properties) > 0 {
		b, _ := json.Marshal(values)
		req.body = string(b)
		req.header = map[string]string{"Content-Type": tmpl.ContentType}
	}
	return s.do(t, req)
}

func TestFormsDocuments(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	bob, bobToken := srv.user(t, "bob")
	mine := srv.post(t, token, "mine")
	theirs := srv.post(t, bobToken, "theirs")
	tests := []struct {
		path   string
		keys   string // the template keys, sorted; "" for a plain HAL answer
		golden string
	}{
		{"/api", "default search-posts search-users", "forms_root.golden.json"},
		{userPathOf(susan), "change-password default delete-account export revoke-others", "forms_user_self.golden.json"},
		{"/api/me", "change-password default delete-account export revoke-others", ""},
		{userPathOf(bob), "follow message", "forms_user_other.golden.json"},
		{postPathOf(mine), "default delete like reply", "forms_post.golden.json"},
		{postPathOf(theirs), "like reply", "forms_post_other.golden.json"},
		{postPathOf(theirs) + "/replies", "default", ""},
		{postPathOf(theirs) + "/likes", "", ""},
		{"/api/users", "default", ""},
		{"/api/posts", "default", ""},
		{"/api/feed", "default", ""},
		{userPathOf(susan) + "/posts", "default", ""},
		{userPathOf(bob) + "/posts", "", ""},
		{userPathOf(bob) + "/followers", "", ""},
	}
	for _, tt := range tests {
		tmpls, res := srv.templates(t, token, tt.path)
		var keys []string
		for k := range tmpls {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if got := strings.Join(keys, " "); got != tt.keys {
			t.Errorf("GET %s: templates %q, want %q", tt.path, got, tt.keys)
		}
		wantType := "application/prs.hal-forms+json"
		if tt.keys == "" {
			wantType = "application/hal+json"
		}
		if ct := res.header.Get("Content-Type"); ct != wantType {
			t.Errorf("GET %s: Content-Type %q, want %q", tt.path, ct, wantType)
		}
		if tt.golden != "" {
			golden(t, tt.golden, res.body)
		}
	}
}

// fill returns a value for p of n characters that satisfies its regex and
// type, as a careful form would produce.
func fill(p property, n int, seed string) string {
	if p.Type == "email" {
		domain := "@e.com"
		local := seed + strings.Repeat("a", max(n-len(domain)-len(seed), 1))
		return local + domain
	}
	return seed + strings.Repeat("a", max(n-len(seed), 0))
}

// TestFormsPromiseOnlyWhatTheServerTakes fills every template at the limits
// its properties state and submits it: what a form allows, the server
// accepts, and one character more, which a form refuses, the server
// refuses too.
func TestFormsPromiseOnlyWhatTheServerTakes(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	_, token := srv.user(t, "susan")
	for i, at := range []string{"max", "min"} {
		tmpls, _ := srv.templates(t, "", "/api")
		reg := tmpls["default"]
		values := map[string]string{}
		for _, p := range reg.Properties {
			n := p.MaxLength
			if at == "min" {
				n = max(p.MinLength, 1)
				if p.Type == "email" {
					n = 8
				}
			}
			values[p.Name] = fill(p, n, fmt.Sprintf("r%d", i))
			if p.Regex != "" && !regexp.MustCompile(p.Regex).MatchString(values[p.Name]) {
				t.Fatalf("the test's value for %s does not match %s", p.Name, p.Regex)
			}
		}
		srv.secrets = append(srv.secrets, values["password"])
		if res := srv.submit(t, "", reg, values); res.code != http.StatusCreated {
			t.Errorf("registration at %s lengths %v: %s", at, values, res)
		}
	}
	tmpls, _ := srv.templates(t, token, "/api/feed")
	newPost := tmpls["default"]
	body := newPost.Properties[0]
	for _, n := range []int{body.MaxLength, max(body.MinLength, 1)} {
		if res := srv.submit(t, token, newPost, map[string]string{"body": strings.Repeat("é", n)}); res.code != http.StatusCreated {
			t.Errorf("a post of %d characters: %s", n, res)
		}
	}
	if res := srv.submit(t, token, newPost, map[string]string{"body": strings.Repeat("é", body.MaxLength+1)}); res.code != http.StatusBadRequest {
		t.Errorf("a post of maxLength+1: %s", res)
	}
	if !regexp.MustCompile(body.Regex).MatchString("x") || regexp.MustCompile(body.Regex).MatchString(" \t\n") {
		t.Errorf("body regex %q does not say 'not only white space'", body.Regex)
	}
}

// TestOwnUserFormsAtTheirLimits fills the own user's profile and password
// forms at the longest values their properties allow, then the password at
// the shortest: the server takes each.
func TestOwnUserFormsAtTheirLimits(t *testing.T) {
	t.Parallel()
	srv, _, token, edit, pw := ownUserForms(t)
	values := asShown(edit, nil)
	if values["username"] != "susan" || values["email"] != "susan@example.com" || values["gravatar"] != "false" {
		t.Errorf("the edit form's current values: %v", values)
	}
	for _, p := range edit.Properties {
		if p.MaxLength > 0 {
			values[p.Name] = fill(p, p.MaxLength, "p")
		}
	}
	values["about_me"], values["gravatar"] = strings.Repeat("é", propertyOf(t, edit, "about_me").MaxLength), "true"
	res := srv.submit(t, token, edit, values)
	if res.code != http.StatusOK {
		t.Fatalf("the edit form at its limits: %s", res)
	}
	name := res.json(t)["username"].(string)
	password := propertyOf(t, pw, "password")
	old := "pw-of-susan"
	for _, n := range []int{password.MaxLength, password.MinLength} {
		next := fill(password, n, "n")
		if !admits(password, next) {
			t.Fatalf("the test's password of %d does not fit the form", n)
		}
		srv.secrets = append(srv.secrets, next)
		if res := srv.submit(t, token, pw, map[string]string{"old_password": old, "password": next}); res.code != http.StatusOK {
			t.Errorf("the password form with a password of %d characters: %s", n, res)
		}
		srv.login(t, name, next)
		old = next
	}
}

// ownUserForms is a test server with the user susan, her token, and the
// two templates of her own user: the profile and the password.
func ownUserForms(t *testing.T) (srv *testServer, susan int64, token string, edit, pw template) {
	t.Helper()
	srv = newTestServer(t)
	susan, token = srv.user(t, "susan")
	tmpls, _ := srv.templates(t, token, "/api/me")
	return srv, susan, token, tmpls["default"], tmpls["change-password"]
}

// asShown fills tmpl as a HAL-FORMS client does when the user changes
// only changes: every property, with the value the template shows ("" for
// one that shows none).
func asShown(tmpl template, changes map[string]string) map[string]string {
	values := map[string]string{}
	for _, p := range tmpl.Properties {
		values[p.Name] = p.Value
	}
	maps.Copy(values, changes)
	return values
}

func propertyNames(tmpl template) string {
	var names []string
	for _, p := range tmpl.Properties {
		names = append(names, p.Name)
	}
	return strings.Join(names, " ")
}

// TestOwnUserForms submits the own user's templates filled as a HAL-FORMS
// client fills them, every property with the value shown: the profile form
// saves unchanged values and clears about_me with "", and the password has
// a form of its own.
func TestOwnUserForms(t *testing.T) {
	t.Parallel()
	srv, susan, token, edit, pw := ownUserForms(t)
	if got := propertyNames(edit); got != "username email about_me gravatar" {
		t.Errorf("the default template's properties: %s", got)
	}
	if got := propertyNames(pw); got != "old_password password" || pw.Method != http.MethodPatch ||
		pw.Target != userPathOf(susan) {
		t.Errorf("the change-password template: %s %s with %q", pw.Method, pw.Target, got)
	}
	if res := srv.submit(t, token, edit, asShown(edit, nil)); res.code != http.StatusOK {
		t.Fatalf("the profile form sent back as shown: %s", res)
	}
	if res := srv.submit(t, token, edit, asShown(edit, map[string]string{"about_me": "Hello!"})); res.code != http.StatusOK ||
		res.json(t)["about_me"] != "Hello!" {
		t.Fatalf("about_me through the form: %s", res)
	}
	tmpls, _ := srv.templates(t, token, "/api/me")
	edit = tmpls["default"]
	if res := srv.submit(t, token, edit, asShown(edit, map[string]string{"about_me": ""})); res.code != http.StatusOK ||
		res.json(t)["about_me"] != "" {
		t.Errorf("about_me cleared through the form: %s", res)
	}
	srv.secrets = append(srv.secrets, "a-new-password")
	res := srv.submit(t, token, pw, asShown(pw, map[string]string{"old_password": "pw-of-susan", "password": "a-new-password"}))
	if res.code != http.StatusOK {
		t.Fatalf("the change-password form: %s", res)
	}
	srv.login(t, "susan", "a-new-password")
}

// emailCandidates are addresses that a form's email regex and the server
// must judge alike.
var emailCandidates = []string{
	"susan@example.com", "a@b", "a.b@c.d", "!#$%&'*+-/=?^_`{|}~@example.com", "josé@exämple.com", "用户@例子.广告",
	"a\u00a0b@c.d", "a..b@c.d", ".a@b.c", "a.@b.c", "a@b..c", "a@.b", "a@b.", "@b.c", "a@", "a", "", "a b@c.d",
	"a@b c", `"a b"@c.d`, `"a"@c.d`, "a(x)@b.c", "Al <a@b.c>", "<a@b.c>", "a@b@c", "a@[127.0.0.1]", "a,b@c.d",
	"a;b@c.d", "a:b@c.d", `a\b@c.d`, "a@b.c ", " a@b.c", "a\tb@c.d", "a\nb@c.d", "a\u037eb@c.d", "a\u007fb@c.d",
}

// TestEmailRegexAgreesWithServer: the email property's regex admits
// exactly the addresses the server takes, at registration and in the
// profile form.
func TestEmailRegexAgreesWithServer(t *testing.T) {
	t.Parallel()
	// Two servers, so that the addresses registered on one are not taken
	// on the other.
	srv, registering := newTestServer(t), newTestServer(t)
	_, token := srv.user(t, "susan")
	tmpls, _ := registering.templates(t, "", "/api")
	edit, _ := srv.templates(t, token, "/api/me")
	for _, tmpl := range []template{tmpls["default"], edit["default"]} {
		srv := srv
		if tmpl.Method == http.MethodPost {
			srv = registering
		}
		email := propertyOf(t, tmpl, "email")
		if email.Regex == "" {
			t.Fatalf("the email property of %q has no regex: a form cannot know the shape the server wants", tmpl.Title)
		}
		if described := emailSchemaPattern(t); described != email.Regex {
			t.Errorf("openapi.json's Email pattern %q is not the form's regex %q", described, email.Regex)
		}
		re := regexp.MustCompile(email.Regex)
		for i, addr := range emailCandidates {
			admitted := re.MatchString(addr) && len(utf16.Encode([]rune(addr))) <= email.MaxLength
			values := map[string]string{"username": fmt.Sprintf("e%d", i), "email": addr, "password": "12345678"}
			tok, want := "", http.StatusCreated
			if tmpl.Method != http.MethodPost {
				tok, want, values = token, http.StatusOK, asShown(tmpl, map[string]string{"email": addr})
			}
			res := srv.submit(t, tok, tmpl, values)
			if accepted := res.code == want; admitted != accepted {
				t.Errorf("%s: email %q: the form's regex admits it: %v; the server: %s", tmpl.Title, addr, admitted, res)
			}
		}
	}
}

// emailSchemaPattern is the pattern of the Email schema of openapi.json.
func emailSchemaPattern(t *testing.T) string {
	t.Helper()
	var doc struct {
		Components struct {
			Schemas struct {
				Email struct {
					Pattern string `json:"pattern"`
				} `json:"Email"`
			} `json:"schemas"`
		} `json:"components"`
	}
	decodeOpenAPI(t, &doc)
	return doc.Components.Schemas.Email.Pattern
}

func propertyOf(t *testing.T, tmpl template, name string) property {
	t.Helper()
	for _, p := range tmpl.Properties {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("template %q has no property %s", tmpl.Title, name)
	return property{}
}

// admits reports whether a HAL-FORMS client lets v through p: it counts
// minLength and maxLength in UTF-16 code units, as JavaScript does.
func admits(p property, v string) bool {
	n := len(utf16.Encode([]rune(v)))
	switch {
	case p.Required && v == "", p.MinLength > 0 && n < p.MinLength, p.MaxLength > 0 && n > p.MaxLength:
		return false
	}
	return p.Regex == "" || regexp.MustCompile(p.Regex).MatchString(v)
}

// TestFormLengthsInCodePoints fills the password and about_me of the
// registration form around their limits with characters of one, two and
// four bytes, counted as code points and as UTF-16 code units: whatever a
// client that counts code units admits, the server, which counts code
// points, takes. The prompts say how characters are counted.
func TestFormLengthsInCodePoints(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	tmpls, _ := srv.templates(t, "", "/api")
	reg := tmpls["default"]
	n := 0
	for _, name := range []string{"password", "about_me"} {
		p := propertyOf(t, reg, name)
		if !strings.Contains(p.Prompt, "code points") {
			t.Errorf("the prompt of %s does not say that characters are code points: %q", name, p.Prompt)
		}
		for _, length := range []int{p.MinLength - 1, p.MinLength, p.MinLength + 1, p.MaxLength - 1, p.MaxLength, p.MaxLength + 1} {
			for _, c := range []string{"a", "é", "😀"} {
				for _, v := range []string{strings.Repeat(c, max(length, 0)), strings.Repeat(c, max(length, 0)/2) + strings.Repeat("a", max(length, 0)-max(length, 0)/2)} {
					if !admits(p, v) {
						continue
					}
					n++
					values := map[string]string{"username": fmt.Sprintf("l%d", n), "email": fmt.Sprintf("l%d@example.com", n),
						"password": "12345678", name: v}
					if res := srv.submit(t, "", reg, values); res.code != http.StatusCreated {
						t.Errorf("%s of %d code points (%d UTF-16 units), admitted by the form: %s", name,
							utf8.RuneCountInString(v), len(utf16.Encode([]rune(v))), res)
					}
				}
			}
		}
	}
}

// TestHALFormsClient registers, logs in, posts, follows, unfollows and
// deletes a post from /api, by links and templates alone.
func TestHALFormsClient(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	srv.user(t, "bob")
	c := &halClient{t: t, srv: srv}

	rootTemplates, rootRes := srv.templates(t, "", "/api")
	root := rootRes.json(t)
	srv.secrets = append(srv.secrets, "a-long-password")
	res := srv.submit(t, "", rootTemplates["default"], map[string]string{
		"username": "alice", "email": "alice@example.com", "password": "a-long-password"})
	if res.code != http.StatusCreated {
		t.Fatalf("register through the root's template: %s", res)
	}
	res = srv.do(t, request{method: http.MethodPost, path: c.mustLink(root, "mb:tokens"),
		header: map[string]string{"Authorization": basic("alice", "a-long-password")}})
	if res.code != http.StatusOK {
		t.Fatalf("log in: %s", res)
	}
	c.token = res.json(t)["token"].(string)

	feedHref, _ := c.link(root, "mb:feed", nil)
	feed, _ := srv.templates(t, c.token, feedHref)
	res = srv.submit(t, c.token, feed["default"], map[string]string{"body": "my first post"})
	if res.code != http.StatusCreated {
		t.Fatalf("post through the feed's template: %s", res)
	}
	postHref := res.header.Get("Location")

	usersHref, _ := c.link(root, "mb:users", nil)
	var bobHref string
	for _, u := range c.get(usersHref)["_embedded"].(map[string]any)["mb:users"].([]any) {
		if u := u.(map[string]any); u["username"] == "bob" {
			bobHref = c.mustLink(u, "self")
		}
	}
	bob, _ := srv.templates(t, c.token, bobHref)
	if res := srv.submit(t, c.token, bob["follow"], nil); res.code != http.StatusCreated {
		t.Fatalf("follow through the template: %s", res)
	}
	bob, _ = srv.templates(t, c.token, bobHref)
	if _, ok := bob["unfollow"]; !ok || c.get(bobHref)["is_following"] != true {
		t.Fatalf("after following: templates %v", bob)
	}
	if res := srv.submit(t, c.token, bob["unfollow"], nil); res.code != http.StatusNoContent {
		t.Fatalf("unfollow through the template: %s", res)
	}
	if c.get(bobHref)["is_following"] != false {
		t.Error("still following after unfollow")
	}

	post, _ := srv.templates(t, c.token, postHref)
	if res := srv.submit(t, c.token, post["delete"], nil); res.code != http.StatusNoContent {
		t.Fatalf("delete through the template: %s", res)
	}
	if res := srv.do(t, request{method: http.MethodGet, path: postHref, token: c.token}); res.code != http.StatusNotFound {
		t.Errorf("the deleted post: %s", res)
	}
}
