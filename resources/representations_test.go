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
// same version, when the whole response is not kept (responses.go), reads
// only the versions (one statement) and sends the same bytes, and any
// change that the representation shows, made through this instance or
// another, is served at once.
func TestKeptUserRepresentations(t *testing.T) {
	t.Parallel()
	a := newTestServer(t, keepingNothing)
	b := newTestServerAt(t, a.url, keepingNothing) // another instance over the same database
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

// What every caller sees alike of a user is rendered once per version and
// shared by the pages that list them; what one caller alone sees (email,
// is_following, the follow links) is theirs, and a change shows at once
// where pages are not kept whole (responses.go).
func TestSharedUserParts(t *testing.T) {
	t.Parallel()
	a := newTestServer(t, keepingNothing)
	b := newTestServerAt(t, a.url, keepingNothing)
	susan, susanToken := a.user(t, "susan")
	bob, bobToken := a.user(t, "bob")
	list := "/api/users?per_page=10"
	a.getCounted(t, list, bobToken)
	a.getCounted(t, list, susanToken)

	b.do(t, request{method: http.MethodPatch, path: userPathOf(susan), token: susanToken, body: `{"about_me": "changed"}`})
	b.do(t, request{method: http.MethodPut, path: fmt.Sprintf("%s/following/%d", userPathOf(bob), susan), token: bobToken})
	bobs, _ := a.getCounted(t, list, bobToken)
	susans, _ := a.getCounted(t, list, susanToken)
	users := func(res response) []any {
		return res.json(t)["_embedded"].(map[string]any)["mb:users"].([]any)
	}
	for _, u := range users(bobs) {
		u := u.(map[string]any)
		links := u["_links"].(map[string]any)
		switch int64(u["id"].(float64)) {
		case susan:
			if u["about_me"] != "changed" || u["is_following"] != true || u["follower_count"] != 1.0 || u["email"] != nil ||
				links["mb:unfollow"].(map[string]any)["href"] != fmt.Sprintf("%s/following/%d", userPathOf(bob), susan) {
				t.Errorf("susan as bob sees her: %v", u)
			}
		case bob:
			if u["email"] != "bob@example.com" || u["is_following"] != nil || links["edit"] == nil {
				t.Errorf("bob as he sees himself: %v", u)
			}
		}
	}
	for _, u := range users(susans) {
		u := u.(map[string]any)
		links := u["_links"].(map[string]any)
		switch int64(u["id"].(float64)) {
		case susan:
			if u["about_me"] != "changed" || u["email"] != "susan@example.com" || u["is_following"] != nil || links["edit"] == nil {
				t.Errorf("susan as she sees herself: %v", u)
			}
		case bob:
			if u["email"] != nil || u["is_following"] != false ||
				links["mb:follow"].(map[string]any)["href"] != fmt.Sprintf("%s/following/%d", userPathOf(susan), bob) {
				t.Errorf("bob as susan sees him: %v", u)
			}
		}
	}
}

// What every caller sees alike of a post is shared by the pages that list
// it; a change shows at once where pages are not kept whole, and what the
// caller alone sees is theirs.
func TestSharedPostParts(t *testing.T) {
	t.Parallel()
	a := newTestServer(t, keepingNothing)
	b := newTestServerAt(t, a.url, keepingNothing)
	susan, susanToken := a.user(t, "susan")
	bob, bobToken := a.user(t, "bob")
	parent := a.post(t, susanToken, "parent")
	res := a.do(t, request{method: http.MethodPost, path: postPathOf(parent) + "/replies", token: bobToken, body: `{"body": "reply"}`})
	reply := int64(res.json(t)["id"].(float64))
	mention := a.post(t, susanToken, "hello @bob")
	list := "/api/posts?per_page=10"
	a.getCounted(t, list, bobToken)
	a.getCounted(t, list, susanToken)

	b.do(t, request{method: http.MethodDelete, path: postPathOf(parent), token: susanToken})
	b.do(t, request{method: http.MethodPatch, path: userPathOf(bob), token: bobToken, body: `{"username": "robert"}`})
	b.do(t, request{method: http.MethodPut, path: fmt.Sprintf("%s/likes/%d", postPathOf(mention), bob), token: bobToken})
	posts := func(token string) map[int64]map[string]any {
		res, _ := a.getCounted(t, list, token)
		byID := map[int64]map[string]any{}
		for _, p := range res.json(t)["_embedded"].(map[string]any)["mb:posts"].([]any) {
			p := p.(map[string]any)
			byID[int64(p["id"].(float64))] = p
		}
		return byID
	}
	link := func(p map[string]any, rel string) any {
		l, _ := p["_links"].(map[string]any)[rel].(map[string]any)
		if l == nil {
			return nil
		}
		if name, ok := l["name"]; ok {
			return name
		}
		return l["href"]
	}
	likeOf := func(user int64) string { return fmt.Sprintf("%s/likes/%d", postPathOf(mention), user) }
	bobs, susans := posts(bobToken), posts(susanToken)
	if r := bobs[reply]; r == nil || link(r, "mb:in-reply-to") != nil || link(r, "author") != "robert" || link(r, "edit") == nil {
		t.Errorf("the reply as bob sees it after its parent went and he was renamed: %v", r)
	}
	if m := bobs[mention]; m["liked"] != true || m["like_count"] != 1.0 || link(m, "mb:unlike") != likeOf(bob) || link(m, "edit") != nil {
		t.Errorf("the post bob liked, as he sees it: %v", m)
	}
	if m := susans[mention]; m["liked"] != false || m["like_count"] != 1.0 || link(m, "mb:like") != likeOf(susan) || link(m, "edit") == nil {
		t.Errorf("the post bob liked, as its author sees it: %v", m)
	}
	mentions := susans[mention]["_links"].(map[string]any)["mb:mentions"].([]any)
	if len(mentions) != 1 || mentions[0].(map[string]any)["name"] != "robert" {
		t.Errorf("the mention of the renamed bob: %v", mentions)
	}
}
