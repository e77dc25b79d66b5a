package resources_test

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// halCache is what a caching HAL client such as Ketting keeps: the state of
// each resource (its members less _links, _embedded and _templates) by its
// self href, from every document it gets and from every resource embedded
// in one, at any depth, the embedded ones stored after their parent.
type halCache map[string]map[string]any

func (c halCache) store(doc map[string]any) {
	if self, ok := doc["_links"].(map[string]any)["self"].(map[string]any); ok {
		state := maps.Clone(doc)
		delete(state, "_links")
		delete(state, "_embedded")
		delete(state, "_templates")
		c[self["href"].(string)] = state
	}
	embedded, _ := doc["_embedded"].(map[string]any)
	for _, v := range embedded {
		items, ok := v.([]any)
		if !ok {
			items = []any{v}
		}
		for _, item := range items {
			if r, ok := item.(map[string]any); ok {
				c.store(r)
			}
		}
	}
}

// TestCachingClientKeepsFullUsers GETs two users, then walks what a client
// walks (the pages of posts, the feed, a post, the pages of users), storing
// every representation by self as Ketting does: each user's cached state
// is still the whole user, and no post embedded in a user embeds that user
// again.
func TestCachingClientKeepsFullUsers(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	bob, bobToken := srv.user(t, "bob")
	srv.follow(t, susan, bob)
	mine := srv.post(t, token, "mine")
	srv.post(t, bobToken, "theirs")
	c := &halClient{t: t, srv: srv, token: token}
	cache := halCache{}
	get := func(path string) map[string]any {
		doc := c.get(path)
		cache.store(doc)
		return doc
	}
	want := map[string]map[string]any{}
	for _, id := range []int64{susan, bob} {
		user := get(userPathOf(id))
		want[userPathOf(id)] = maps.Clone(cache[userPathOf(id)])
		for _, p := range user["_embedded"].(map[string]any)["mb:posts"].([]any) {
			if embedded, _ := p.(map[string]any)["_embedded"].(map[string]any); embedded["author"] != nil {
				t.Errorf("a post embedded in user %d embeds its author again: %v", id, p)
			}
		}
		get(c.mustLink(user, "mb:posts"))
		get(c.mustLink(user, "mb:followers"))
		get(c.mustLink(user, "mb:following"))
	}
	for _, path := range []string{"/api/posts", "/api/feed", postPathOf(mine), "/api/users"} {
		get(path)
	}
	for path, full := range want {
		if diff := cmp.Diff(full, cache[path]); diff != "" {
			t.Errorf("the cached state of %s after walking pages (-the user +cached):\n%s", path, diff)
		}
	}
}

// TestPagedCollectionLinksAreTemplated: every link to a paged collection is
// templated {?page,per_page}, users' too, so that a client's per_page is
// not dropped.
func TestPagedCollectionLinksAreTemplated(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	bob, _ := srv.user(t, "bob")
	c := &halClient{t: t, srv: srv, token: token}
	for _, doc := range []map[string]any{c.get(userPathOf(susan)), c.get(userPathOf(bob)),
		c.get("/api/users")["_embedded"].(map[string]any)["mb:users"].([]any)[1].(map[string]any)} {
		self := c.mustLink(doc, "self")
		for rel, suffix := range map[string]string{"mb:followers": "/followers", "mb:following": "/following", "mb:posts": "/posts"} {
			l := doc["_links"].(map[string]any)[rel].(map[string]any)
			if l["href"] != self+suffix+"{?page,per_page}" || l["templated"] != true {
				t.Errorf("%s of %s: %v, want %s templated", rel, self, l, self+suffix+"{?page,per_page}")
				continue
			}
			href, _ := c.link(doc, rel, map[string]string{"per_page": "5"})
			if page := c.get(href); page["_meta"].(map[string]any)["per_page"] != float64(5) {
				t.Errorf("%s of %s with per_page 5: %v", rel, self, page["_meta"])
			}
		}
	}
}

// gravatarHash is the hash of an email address in its Gravatar URL.
func gravatarHash(email string) string {
	sum := md5.Sum([]byte(strings.ToLower(email)))
	return hex.EncodeToString(sum[:])
}

// TestAvatarFromTheAPI: a user's mb:avatar is an identicon the API serves,
// drawn from the id, to anyone and cacheable; nothing another user reads
// holds the hash of the email.
func TestAvatarFromTheAPI(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	bob, bobToken := srv.user(t, "bob")
	srv.post(t, token, "hello")
	for _, path := range []string{userPathOf(susan), "/api/users", "/api/posts", userPathOf(susan) + "/posts", "/api/me"} {
		if res := srv.get(t, bobToken, path, nil); strings.Contains(string(res.body), gravatarHash("susan@example.com")) {
			t.Errorf("GET %s by bob holds the hash of susan's email: %s", path, res.body)
		}
	}
	c := &halClient{t: t, srv: srv, token: bobToken}
	avatar := c.get(userPathOf(susan))["_links"].(map[string]any)["mb:avatar"].(map[string]any)
	if want := userPathOf(susan) + "/avatar"; avatar["href"] != want || avatar["type"] != "image/svg+xml" {
		t.Fatalf("mb:avatar %v, want %s of type image/svg+xml", avatar, want)
	}
	img := fetch(t, srv.handler, http.MethodGet, avatar["href"].(string), nil)
	tag := img.header.Get("ETag")
	if img.code != http.StatusOK || img.header.Get("Content-Type") != "image/svg+xml" || tag == "" ||
		!strings.HasPrefix(img.header.Get("Cache-Control"), "public") || !strings.HasPrefix(string(img.body), "<svg ") {
		t.Fatalf("GET %s without a token: %d %v %.60s", avatar["href"], img.code, img.header, img.body)
	}
	if again := fetch(t, srv.handler, http.MethodGet, avatar["href"].(string), map[string]string{"Accept": "image/*"}); string(again.body) != string(img.body) {
		t.Error("the identicon is not the same twice")
	}
	if other := fetch(t, srv.handler, http.MethodGet, userPathOf(bob)+"/avatar", nil); string(other.body) == string(img.body) {
		t.Error("two users have the same identicon")
	}
	for _, tt := range []struct {
		path   string
		header map[string]string
		want   int
	}{
		{avatar["href"].(string), map[string]string{"If-None-Match": tag}, http.StatusNotModified},
		{avatar["href"].(string), map[string]string{"Accept": "application/json"}, http.StatusNotAcceptable},
		{"/api/users/0/avatar", nil, http.StatusNotFound},
		{"/api/users/x/avatar", nil, http.StatusNotFound},
	} {
		if res := fetch(t, srv.handler, http.MethodGet, tt.path, tt.header); res.code != tt.want {
			t.Errorf("GET %s %v: %d, want %d", tt.path, tt.header, res.code, tt.want)
		}
	}
	if head := fetch(t, srv.handler, http.MethodHead, avatar["href"].(string), nil); head.code != http.StatusOK || len(head.body) != 0 {
		t.Errorf("HEAD %s: %d with %d bytes", avatar["href"], head.code, len(head.body))
	}
}

// TestGravatarOptIn: only a user who sets gravatar gets a Gravatar URL as
// mb:avatar, and may set it back; gravatar takes true or false, as JSON or
// as the strings a form sends.
func TestGravatarOptIn(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	_, bobToken := srv.user(t, "bob")
	path := userPathOf(susan)
	gravatar := "https://www.gravatar.com/avatar/" + gravatarHash("susan@example.com") + "?d=identicon&s=128"
	for _, tt := range []struct {
		body   string
		want   int
		avatar string
	}{
		{`{"gravatar": true}`, http.StatusOK, gravatar},
		{`{"gravatar": false}`, http.StatusOK, path + "/avatar"},
		{`{"gravatar": "true"}`, http.StatusOK, gravatar},
		{`{"gravatar": "yes"}`, http.StatusBadRequest, gravatar},
		{`{"gravatar": 1}`, http.StatusBadRequest, gravatar},
		{`{"gravatar": null}`, http.StatusBadRequest, gravatar},
		{`{"gravatar": "false"}`, http.StatusOK, path + "/avatar"},
	} {
		res := srv.do(t, request{method: http.MethodPatch, path: path, token: token, body: tt.body})
		if res.code != tt.want || (tt.want == http.StatusBadRequest && !namesField(res.json(t), "gravatar")) {
			t.Errorf("PATCH %s: %s, want %d", tt.body, res, tt.want)
		}
		seen := srv.get(t, bobToken, path, nil).json(t)
		if got := seen["_links"].(map[string]any)["mb:avatar"].(map[string]any)["href"]; got != tt.avatar ||
			seen["gravatar"] != (tt.avatar == gravatar) {
			t.Errorf("after PATCH %s, bob sees gravatar %v and mb:avatar %v, want %s", tt.body, seen["gravatar"], got, tt.avatar)
		}
	}
}

// TestTagsHoldNoEmail: a post's ETag does not change when its author's
// email does, so no one can test a guessed address against it.
func TestTagsHoldNoEmail(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	_, bobToken := srv.user(t, "bob")
	post := srv.post(t, token, "hello")
	before := srv.get(t, bobToken, postPathOf(post), nil).header.Get("ETag")
	if res := srv.do(t, request{method: http.MethodPatch, path: userPathOf(susan), token: token,
		body: fmt.Sprintf(`{"email": %q}`, "susan@example.org")}); res.code != http.StatusOK {
		t.Fatalf("change the email: %s", res)
	}
	if after := srv.get(t, bobToken, postPathOf(post), nil).header.Get("ETag"); after != before {
		t.Errorf("the post's tag changed with its author's email: %s, then %s", before, after)
	}
}
