package resources_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestReplyAndLikeByTemplates replies to a post and likes it through the
// templates a HAL-FORMS client is offered, and follows the links that come
// back: the counts, liked, like and unlike, mb:in-reply-to and the lists.
func TestReplyAndLikeByTemplates(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	_, token := srv.user(t, "susan")
	_, bobToken := srv.user(t, "bob")
	post := srv.post(t, token, "what do you think?")

	forms, _ := srv.templates(t, bobToken, postPathOf(post))
	res := srv.submit(t, bobToken, forms["reply"], map[string]string{"body": "I agree"})
	if res.code != http.StatusCreated {
		t.Fatalf("reply: %s", res)
	}
	reply := res.json(t)
	if href, _ := reply["_links"].(map[string]any)["mb:in-reply-to"].(map[string]any)["href"].(string); href != postPathOf(post) {
		t.Errorf("the reply's mb:in-reply-to is %q, want %s", href, postPathOf(post))
	}
	if res := srv.submit(t, bobToken, forms["like"], nil); res.code != http.StatusCreated || res.header.Get("Location") == "" {
		t.Errorf("like: %s, want 201 with Location", res)
	}
	if res := srv.submit(t, bobToken, forms["like"], nil); res.code != http.StatusNoContent {
		t.Errorf("like again: %s, want 204", res)
	}
	forms, res = srv.templates(t, bobToken, postPathOf(post))
	doc := res.json(t)
	if doc["reply_count"] != 1.0 || doc["like_count"] != 1.0 || doc["liked"] != true || forms["unlike"].Method != http.MethodDelete {
		t.Errorf("after a reply and a like: reply_count %v, like_count %v, liked %v, unlike %+v",
			doc["reply_count"], doc["like_count"], doc["liked"], forms["unlike"])
	}
	c := &halClient{t: t, srv: srv, token: bobToken}
	likesHref, _ := c.link(doc, "mb:likes", nil)
	if got := c.walkNames(likesHref, "mb:users", "username"); len(got) != 1 || got[0] != "bob" {
		t.Errorf("the post's likers: %q, want [bob]", got)
	}
	repliesHref, _ := c.link(doc, "mb:replies", nil)
	if got := c.walkNames(repliesHref, "mb:posts", "body"); len(got) != 1 || got[0] != "I agree" {
		t.Errorf("the post's replies: %q, want [I agree]", got)
	}
	unlike := c.mustLink(doc, "mb:unlike")
	if res := srv.do(t, request{method: http.MethodDelete, path: unlike, token: token}); res.code != http.StatusForbidden {
		t.Errorf("susan takes back bob's like: %s, want 403", res)
	}
	for range 2 {
		if res := srv.submit(t, bobToken, forms["unlike"], nil); res.code != http.StatusNoContent {
			t.Errorf("unlike: %s, want 204", res)
		}
	}
	doc = srv.do(t, request{method: http.MethodGet, path: postPathOf(post), token: bobToken}).json(t)
	if doc["like_count"] != 0.0 || doc["liked"] != false || !strings.Contains(c.mustLink(doc, "mb:like"), "/likes/") {
		t.Errorf("after unlike: like_count %v, liked %v", doc["like_count"], doc["liked"])
	}
}

// TestRepliesAndLikesBadInput: a reply to a post that is not there, or to
// one deleted; an empty reply; a like of no post.
func TestRepliesAndLikesBadInput(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	post := srv.post(t, token, "soon gone")
	if res := srv.do(t, request{method: http.MethodPost, path: postPathOf(post) + "/replies", token: token,
		body: `{"body": "  "}`}); res.code != http.StatusBadRequest {
		t.Errorf("an empty reply: %s, want 400", res)
	}
	res := srv.do(t, request{method: http.MethodPost, path: postPathOf(post) + "/replies", token: token, body: `{"body": "child"}`})
	if res.code != http.StatusCreated {
		t.Fatalf("reply: %s", res)
	}
	child := res.json(t)["_links"].(map[string]any)["self"].(map[string]any)["href"].(string)
	if res := srv.do(t, request{method: http.MethodDelete, path: postPathOf(post), token: token}); res.code != http.StatusNoContent {
		t.Fatalf("delete the parent: %s", res)
	}
	for _, path := range []string{postPathOf(post) + "/replies", "/api/posts/999999/replies"} {
		if res := srv.do(t, request{method: http.MethodPost, path: path, token: token, body: `{"body": "late"}`}); res.code != http.StatusNotFound {
			t.Errorf("POST %s: %s, want 404", path, res)
		}
	}
	doc := srv.do(t, request{method: http.MethodGet, path: child, token: token}).json(t)
	if _, ok := doc["_links"].(map[string]any)["mb:in-reply-to"]; ok {
		t.Errorf("a reply whose parent is gone still links it: %v", doc["_links"])
	}
	like := "/api/posts/999999/likes/" + strings.TrimPrefix(userPathOf(susan), "/api/users/")
	for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodGet} {
		if res := srv.do(t, request{method: m, path: like, token: token}); res.code != http.StatusNotFound {
			t.Errorf("%s %s: %s, want 404", m, like, res)
		}
	}
}

// TestLikeChangesTheAuthorsETag: a like of one of the posts a user shows
// changes the user's ETag, though it does not write the user's row.
func TestLikeChangesTheAuthorsETag(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	bob, bobToken := srv.user(t, "bob")
	post := srv.post(t, token, "like me")
	etag := srv.do(t, request{method: http.MethodGet, path: userPathOf(susan), token: bobToken}).header.Get("ETag")
	like := postPathOf(post) + "/likes/" + strings.TrimPrefix(userPathOf(bob), "/api/users/")
	if res := srv.do(t, request{method: http.MethodPut, path: like, token: bobToken}); res.code != http.StatusCreated {
		t.Fatalf("like: %s", res)
	}
	res := srv.do(t, request{method: http.MethodGet, path: userPathOf(susan), token: bobToken,
		header: map[string]string{"If-None-Match": etag}})
	if res.code != http.StatusOK || !strings.Contains(string(res.body), `"like_count":1`) {
		t.Errorf("susan after bob's like, with the ETag from before: %s, want 200 with the like", res)
	}
}

// TestReplyIsAPost: a reply is a post in every other way (API.md section
// 14): it is in its author's feed and posts, on its tag's page, and its
// mentions are links.
func TestReplyIsAPost(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	bob, bobToken := srv.user(t, "bob")
	post := srv.post(t, token, "a question")
	res := srv.do(t, request{method: http.MethodPost, path: postPathOf(post) + "/replies", token: bobToken,
		body: `{"body": "#answers for @susan"}`})
	if res.code != http.StatusCreated {
		t.Fatalf("reply: %s", res)
	}
	reply := int64(res.json(t)["id"].(float64))
	for _, path := range []string{"/api/feed", userPathOf(bob) + "/posts", "/api/tags/answers", "/api/posts"} {
		if ids := embeddedPostIDs(srv.do(t, request{method: http.MethodGet, path: path, token: bobToken}).json(t)); !slices.Contains(ids, reply) {
			t.Errorf("GET %s: posts %v, want the reply %d among them", path, ids, reply)
		}
	}
	links := srv.do(t, request{method: http.MethodGet, path: postPathOf(reply), token: bobToken}).json(t)["_links"].(map[string]any)
	if !equalJSON(links["mb:mentions"], []any{map[string]any{"href": userPathOf(susan), "name": "susan"}}) {
		t.Errorf("the reply's mentions: %v, want susan", links["mb:mentions"])
	}
}
