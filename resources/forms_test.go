package resources_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
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
		{"/api", "default", "forms_root.golden.json"},
		{userPathOf(susan), "default", "forms_user_self.golden.json"},
		{"/api/me", "default", ""},
		{userPathOf(bob), "follow", "forms_user_other.golden.json"},
		{postPathOf(mine), "default delete", "forms_post.golden.json"},
		{postPathOf(theirs), "", ""},
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

	tmpls, _ = srv.templates(t, token, "/api/me")
	edit := tmpls["default"]
	values := map[string]string{}
	for _, p := range edit.Properties {
		values[p.Name] = p.Value
	}
	if values["username"] != "susan" || values["email"] != "susan@example.com" {
		t.Errorf("the edit form's current values: %v", values)
	}
	delete(values, "password")
	delete(values, "old_password")
	values["about_me"] = strings.Repeat("é", 140)
	if res := srv.submit(t, token, edit, values); res.code != http.StatusOK {
		t.Errorf("the edit form sent back with its values: %s", res)
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
