package resources_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func messagePathOf(id int64) string { return fmt.Sprintf("/api/messages/%d", id) }

// message writes body to user to and returns the message's id.
func (s *testServer) message(t *testing.T, token string, to int64, body string) int64 {
	t.Helper()
	res := s.do(t, request{method: http.MethodPost, path: userPathOf(to) + "/messages", token: token,
		body: fmt.Sprintf(`{"body": %q}`, body)})
	if res.code != http.StatusCreated {
		t.Fatalf("message %q to %d: %s", body, to, res)
	}
	return int64(res.json(t)["id"].(float64))
}

// party is a user of a test and their token.
type party struct {
	id    int64
	token string
}

// messageServer is a test server with three users: susan, bob and carol.
func messageServer(t *testing.T) (srv *testServer, susan, bob, carol party) {
	t.Helper()
	srv = newTestServer(t)
	parties := []*party{&susan, &bob, &carol}
	for i, name := range []string{"susan", "bob", "carol"} {
		parties[i].id, parties[i].token = srv.user(t, name)
	}
	return srv, susan, bob, carol
}

// TestHALFormsClientWritesAMessage writes to bob as a generic HAL-FORMS
// client: from the root to bob by links, bob's template message, the
// Location it answers; then bob finds the message through the root's
// mb:messages.
func TestHALFormsClientWritesAMessage(t *testing.T) {
	t.Parallel()
	srv, susan, bob, _ := messageServer(t)
	token := susan.token
	c := &halClient{t: t, srv: srv, token: token}
	root := c.get("/api")
	usersHref, _ := c.link(root, "mb:users", nil)
	var bobHref string
	for _, u := range c.get(usersHref)["_embedded"].(map[string]any)["mb:users"].([]any) {
		if u := u.(map[string]any); u["username"] == "bob" {
			bobHref = c.mustLink(u, "self")
		}
	}
	forms, _ := srv.templates(t, token, bobHref)
	form, ok := forms["message"]
	if !ok || form.Method != http.MethodPost || propertyNames(form) != "body" || form.Title != "Write to bob" {
		t.Fatalf("bob's templates: %+v", forms)
	}
	res := srv.submit(t, token, form, map[string]string{"body": "  Lunch tomorrow?  "})
	if res.code != http.StatusCreated {
		t.Fatalf("the template message: %s", res)
	}
	self := res.header.Get("Location")
	if res.header.Get("Content-Location") != self || res.json(t)["body"] != "Lunch tomorrow?" ||
		!strings.Contains(res.header.Get("Link"), `</api/messages>; rel="invalidates"`) {
		t.Errorf("the new message %s: %s %v", self, res, res.header)
	}
	golden(t, "message.golden.json", srv.get(t, token, self, nil).body)
	body := form.Properties[0]
	for n, want := range map[int]int{body.MaxLength: http.StatusCreated, body.MaxLength + 1: http.StatusBadRequest} {
		if res := srv.submit(t, token, form, map[string]string{"body": strings.Repeat("é", n)}); res.code != want {
			t.Errorf("the template with %d characters: %s, want %d", n, res, want)
		}
	}

	c.token = bob.token
	page := c.get(c.mustLink(c.get("/api"), "mb:messages"))
	items := page["_embedded"].(map[string]any)["mb:messages"].([]any)
	// The first message, and the one the form took at its limit since.
	if len(items) != 2 || c.mustLink(items[1].(map[string]any), "self") != self {
		t.Fatalf("bob's messages: %v", page)
	}
	sender := c.get(c.mustLink(items[1].(map[string]any), "mb:sender"))
	if sender["username"] != "susan" {
		t.Errorf("mb:sender is %v", sender["username"])
	}
	// Nobody offers a message to oneself.
	if mine, _ := srv.templates(t, token, "/api/me"); mine["message"].Method != "" {
		t.Errorf("the caller's own user offers a message: %+v", mine["message"])
	}
}

// TestMessageReaders: the sender and the recipient read a message, with
// the same validators; a third user and a missing id get the same 404.
func TestMessageReaders(t *testing.T) {
	t.Parallel()
	srv, susan, bob, carol := messageServer(t)
	token, bobToken, carolToken := susan.token, bob.token, carol.token
	id := srv.message(t, token, bob.id, "psst")
	var tags []string
	for _, tok := range []string{token, bobToken} {
		res := srv.get(t, tok, messagePathOf(id), nil)
		doc := res.json(t)
		links := doc["_links"].(map[string]any)
		if res.code != http.StatusOK || doc["body"] != "psst" || links["mb:sender"].(map[string]any)["href"] != userPathOf(susan.id) ||
			links["mb:recipient"].(map[string]any)["name"] != "bob" || res.header.Get("Last-Modified") == "" {
			t.Errorf("GET as a party: %s", res)
		}
		tags = append(tags, res.header.Get("ETag"))
		if res := srv.get(t, tok, messagePathOf(id), map[string]string{"If-None-Match": tags[0]}); res.code != http.StatusNotModified {
			t.Errorf("If-None-Match: %s", res)
		}
	}
	if tags[0] != tags[1] {
		t.Errorf("the parties see different tags: %v", tags)
	}
	notFound := srv.get(t, bobToken, messagePathOf(id+1), nil)
	for _, tt := range []struct{ token, path string }{{carolToken, messagePathOf(id)}, {token, messagePathOf(id + 1)},
		{carolToken, "/api/messages/01"}, {carolToken, "/api/messages/x"}} {
		res := srv.get(t, tt.token, tt.path, nil)
		if res.code != http.StatusNotFound || string(res.body) != string(notFound.body) {
			t.Errorf("GET %s as another: %s, want the 404 of a missing message", tt.path, res)
		}
	}
	if res := srv.do(t, request{method: http.MethodHead, path: messagePathOf(id), token: carolToken}); res.code != http.StatusNotFound {
		t.Errorf("HEAD as another: %s", res)
	}
	// A rename shows in the message's links, and so in its tag.
	srv.do(t, request{method: http.MethodPatch, path: userPathOf(bob.id), token: bobToken, body: `{"username": "robert"}`})
	res := srv.get(t, token, messagePathOf(id), map[string]string{"If-None-Match": tags[0]})
	if res.code != http.StatusOK || res.json(t)["_links"].(map[string]any)["mb:recipient"].(map[string]any)["name"] != "robert" {
		t.Errorf("after the recipient's rename: %s", res)
	}
}

// TestMessageRefusals: a message's body is refused as a post's is, with
// the same problem; a message to oneself is a 400 of its own type, and to
// nobody a 404.
func TestMessageRefusals(t *testing.T) {
	t.Parallel()
	srv, me, bob, _ := messageServer(t)
	token, toBob := me.token, userPathOf(bob.id)+"/messages"
	for _, body := range []string{`{"body": ""}`, `{"body": " \t\n "}`, `{}`, `{"body": 5}`,
		`{"body": "` + strings.Repeat("é", 141) + `"}`, `{"body": "a\u0000b"}`, `[]`} {
		post := srv.do(t, request{method: http.MethodPost, path: "/api/posts", token: token, body: body})
		res := srv.do(t, request{method: http.MethodPost, path: toBob, token: token, body: body})
		if res.code != http.StatusBadRequest || string(res.body) != string(post.body) {
			t.Errorf("body %.30s: %s, want the post's %s", body, res, post)
		}
	}
	if res := srv.do(t, request{method: http.MethodPost, path: toBob, token: token,
		body: `{"body": "  ` + strings.Repeat("é", 140) + `  "}`}); res.code != http.StatusCreated {
		t.Errorf("140 characters: %s", res)
	}
	res := srv.do(t, request{method: http.MethodPost, path: userPathOf(me.id) + "/messages", token: token, body: `{"body": "me"}`})
	if res.code != http.StatusBadRequest || !strings.HasSuffix(res.json(t)["type"].(string), "/api/problems/cannot-message-self") {
		t.Errorf("to oneself: %s", res)
	}
	for _, path := range []string{userPathOf(bob.id+100) + "/messages", "/api/users/x/messages", "/api/users/01/messages"} {
		if res := srv.do(t, request{method: http.MethodPost, path: path, token: token, body: `{"body": "hi"}`}); res.code != http.StatusNotFound {
			t.Errorf("POST %s: %s", path, res)
		}
	}
	for _, tt := range []struct {
		req  request
		want int
	}{
		{request{method: http.MethodPost, path: toBob, body: `{"body": "hi"}`}, http.StatusUnauthorized},
		{request{method: http.MethodPost, path: toBob, token: token, body: `{"body": "hi"}`,
			header: map[string]string{"If-Match": "*"}}, http.StatusPreconditionFailed},
		{request{method: http.MethodPost, path: userPathOf(bob.id+100) + "/messages", token: token, body: `{"body": "hi"}`,
			header: map[string]string{"If-Match": "*"}}, http.StatusNotFound},
		{request{method: http.MethodGet, path: toBob, token: token}, http.StatusMethodNotAllowed},
		{request{method: http.MethodGet, path: "/api/messages?page=0", token: token}, http.StatusBadRequest},
		{request{method: http.MethodGet, path: "/api/messages?after=nonsense", token: token}, http.StatusBadRequest},
		{request{method: http.MethodGet, path: "/api/messages?page=0", token: strings.Repeat("0", 32)}, http.StatusUnauthorized},
	} {
		if res := srv.do(t, tt.req); res.code != tt.want {
			t.Errorf("%s %s: %s, want %d", tt.req.method, tt.req.path, res, tt.want)
		}
	}
}

// TestMessagesPaging walks the caller's messages, sent and received, by
// next and back by prev: newest first, ties in time broken by id, without
// the messages of others, as their totals say.
func TestMessagesPaging(t *testing.T) {
	t.Parallel()
	srv, susan, bob, carol := messageServer(t)
	token := susan.token
	var want []string // susan's, oldest first
	for i := range 12 {
		if i%2 == 0 {
			srv.clock.Advance(time.Second) // two at each instant
		}
		switch i % 3 {
		case 0:
			want = append(want, messagePathOf(srv.message(t, token, bob.id, fmt.Sprint("to bob ", i))))
		case 1:
			want = append(want, messagePathOf(srv.message(t, carol.token, susan.id, fmt.Sprint("from carol ", i))))
		}
		srv.message(t, bob.token, carol.id, fmt.Sprint("not susan's ", i))
	}
	slices.Reverse(want)
	c := &halClient{t: t, srv: srv, token: token}
	href, _ := c.link(c.get("/api"), "mb:messages", map[string]string{"per_page": "3"})
	var got []string
	var pages []map[string]any
	for len(pages) < 10 {
		page := c.get(href)
		pages = append(pages, page)
		if page["_meta"].(map[string]any)["total_items"] != float64(len(want)) {
			t.Fatalf("%s: _meta %v, want %d items", href, page["_meta"], len(want))
		}
		got = append(got, c.selves(page, "mb:messages")...)
		var ok bool
		if href, ok = c.link(page, "next", nil); !ok {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("by next: %v, want %v", got, want)
	}
	for i := len(pages) - 1; i > 0; i-- {
		prev := c.get(c.mustLink(pages[i], "prev"))
		if back, ahead := c.selves(prev, "mb:messages"), c.selves(pages[i-1], "mb:messages"); !slices.Equal(back, ahead) {
			t.Errorf("page %d by prev: %v, by next: %v", i, back, ahead)
		}
	}
	golden(t, "messages_page2.golden.json", srv.get(t, token, c.mustLink(pages[2], "prev"), nil).body)
}

// selves are the self links of the resources doc embeds under rel.
func (c *halClient) selves(doc map[string]any, rel string) []string {
	c.t.Helper()
	var hrefs []string
	for _, item := range doc["_embedded"].(map[string]any)[rel].([]any) {
		hrefs = append(hrefs, c.mustLink(item.(map[string]any), "self"))
	}
	return hrefs
}

// TestMessageNotifiesItsRecipient: a message is a notification of the
// recipient, written with it, and of nobody else.
func TestMessageNotifiesItsRecipient(t *testing.T) {
	t.Parallel()
	srv, susan, bob, _ := messageServer(t)
	id := srv.message(t, susan.token, bob.id, "hello")
	rows, err := srv.pool.Query(context.Background(), `SELECT user_id, type, actor_id, message_id FROM notifications`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var user, actor, message int64
		var kind string
		if err := rows.Scan(&user, &kind, &actor, &message); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d %s from %d: %d", user, kind, actor, message))
	}
	if want := []string{fmt.Sprintf("%d message from %d: %d", bob.id, susan.id, id)}; !slices.Equal(got, want) {
		t.Errorf("notifications %q, want %q: the recipient's only", got, want)
	}
}

// TestMessageStatements: a message and a page of messages, the token
// check included, are one statement each.
func TestMessageStatements(t *testing.T) {
	t.Parallel()
	srv, susan, bob, _ := messageServer(t)
	token := susan.token
	var id int64
	for i := range 30 {
		id = srv.message(t, token, bob.id, fmt.Sprint("to bob ", i))
		srv.message(t, bob.token, susan.id, fmt.Sprint("to susan ", i))
	}
	next := fmt.Sprint(srv.get(t, token, "/api/messages?per_page=7", nil).json(t)["_links"].(map[string]any)["next"].(map[string]any)["href"])
	for _, path := range []string{messagePathOf(id), "/api/messages?per_page=100", next, "/api/messages?page=8&per_page=7"} {
		srv.get(t, token, path, nil)
		before := srv.statements.n.Load()
		if res := srv.get(t, token, path, nil); res.code != http.StatusOK {
			t.Errorf("GET %s: %s", path, res)
		}
		if n := srv.statements.n.Load() - before; n != 1 {
			t.Errorf("GET %s: %d SQL statements, want 1", path, n)
		}
	}
}

// TestMessageWritePreferences: a client that prefers return=minimal gets
// the new message's Location and validators without its body, and
// If-None-Match: * holds on the target, which has no representation.
func TestMessageWritePreferences(t *testing.T) {
	t.Parallel()
	srv, susan, bob, _ := messageServer(t)
	res := srv.do(t, request{method: http.MethodPost, path: userPathOf(bob.id) + "/messages", token: susan.token,
		body: `{"body": "short"}`, header: map[string]string{"Prefer": "return=minimal", "If-None-Match": "*"}})
	if res.code != http.StatusCreated || len(res.body) != 0 || res.header.Get("ETag") == "" ||
		res.header.Get("Preference-Applied") != "return=minimal" || res.header.Get("Content-Location") != "" {
		t.Fatalf("return=minimal: %s %v", res, res.header)
	}
	read := srv.get(t, bob.token, res.header.Get("Location"), nil)
	if read.code != http.StatusOK || read.header.Get("ETag") != res.header.Get("ETag") {
		t.Errorf("GET Location: %s, ETag %q, want the write's %q", read, read.header.Get("ETag"), res.header.Get("ETag"))
	}
}
