package resources_test

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var invalidatesLink = regexp.MustCompile(`<([^>]*)>; rel="invalidates"`)

// invalidated is what the Link header of res says the request changed.
func invalidated(res response) []string {
	var uris []string
	for _, v := range res.header.Values("Link") {
		for _, m := range invalidatesLink.FindAllStringSubmatch(v, -1) {
			uris = append(uris, m[1])
		}
	}
	slices.Sort(uris)
	return uris
}

// TestWriteHints: every successful write names, in Link rel="invalidates",
// what it changed that a client may hold, and a response that carries a
// representation names it in Content-Location, so that a caching client
// neither serves a stale copy nor GETs what it was just sent.
func TestWriteHints(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	bob, _ := srv.user(t, "bob")
	me, follow := userPathOf(susan), fmt.Sprintf("%s/following/%d", userPathOf(susan), bob)
	res := srv.do(t, request{method: http.MethodPost, path: "/api/posts", token: token, body: `{"body": "hello"}`})
	post := res.header.Get("Location")
	postWrite := []string{"/api/feed", "/api/me", "/api/posts", me, me + "/posts"}
	for _, tt := range []struct {
		req             request
		want            int
		location        string
		invalidates     []string
		contentLocation string
	}{
		{request{method: http.MethodPost, path: "/api/posts", body: `{"body": "again"}`}, http.StatusCreated, "", postWrite, ""},
		{request{method: http.MethodPatch, path: post, body: `{"body": "edited"}`}, http.StatusOK, post,
			append([]string{post}, postWrite...), post},
		{request{method: http.MethodPut, path: me, body: `{"about_me": "hi"}`}, http.StatusOK, me,
			[]string{"/api/me", "/api/users", me}, me},
		{request{method: http.MethodPut, path: follow}, http.StatusNoContent, "",
			[]string{"/api/feed", "/api/me", me, me + "/following", follow, userPathOf(bob), userPathOf(bob) + "/followers"}, ""},
		{request{method: http.MethodDelete, path: follow}, http.StatusNoContent, "",
			[]string{"/api/feed", "/api/me", me, me + "/following", follow, userPathOf(bob), userPathOf(bob) + "/followers"}, ""},
		{request{method: http.MethodDelete, path: post}, http.StatusNoContent, "", append([]string{post}, postWrite...), ""},
	} {
		tt.req.token = token
		res := srv.do(t, tt.req)
		if res.code/100 != tt.want/100 {
			t.Errorf("%s %s: %s, want %d", tt.req.method, tt.req.path, res, tt.want)
			continue
		}
		if tt.req.method == http.MethodPost {
			tt.contentLocation = res.header.Get("Location")
		}
		want := slices.Sorted(slices.Values(tt.invalidates))
		if diff := cmp.Diff(want, invalidated(res)); diff != "" {
			t.Errorf("%s %s: Link rel=invalidates (-want +got):\n%s", tt.req.method, tt.req.path, diff)
		}
		if got := res.header.Get("Content-Location"); got != tt.contentLocation {
			t.Errorf("%s %s: Content-Location %q, want %q", tt.req.method, tt.req.path, got, tt.contentLocation)
		}
	}
	// A write that fails changes nothing.
	res = srv.do(t, request{method: http.MethodPatch, path: post, token: token, body: `{"body": "gone"}`})
	if res.code != http.StatusNotFound || len(invalidated(res)) != 0 || res.header.Get("Content-Location") != "" {
		t.Errorf("PATCH of a deleted post: %s, Link %v, Content-Location %q", res, res.header.Values("Link"), res.header.Get("Content-Location"))
	}
}

// TestPreferReturnMinimal: Prefer: return=minimal gives a write's answer
// without the representation: 204, or 201 with its Location for a
// creation, with the new validators and Preference-Applied.
func TestPreferReturnMinimal(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	susan, token := srv.user(t, "susan")
	post := srv.post(t, token, "hello")
	minimal := map[string]string{"Prefer": "return=minimal"}
	for _, tt := range []struct {
		req  request
		want int
	}{
		{request{method: http.MethodPost, path: "/api/posts", token: token, body: `{"body": "more"}`, header: minimal}, http.StatusCreated},
		{request{method: http.MethodPut, path: postPathOf(post), token: token, body: `{"body": "edited"}`, header: minimal}, http.StatusNoContent},
		{request{method: http.MethodPatch, path: userPathOf(susan), token: token, body: `{"about_me": "hi"}`,
			header: map[string]string{"Prefer": `respond-async, RETURN="minimal"; x=y`}}, http.StatusNoContent},
		{request{method: http.MethodPost, path: "/api/users", header: minimal,
			body: `{"username": "bob", "email": "bob@example.com", "password": "pw-of-bob"}`}, http.StatusCreated},
	} {
		res := srv.do(t, tt.req)
		if res.code != tt.want || len(res.body) != 0 || res.header.Get("Preference-Applied") != "return=minimal" ||
			res.header.Get("ETag") == "" || res.header.Get("Content-Location") != "" || len(invalidated(res)) == 0 {
			t.Errorf("%s %s Prefer %s: %s, Preference-Applied %q, ETag %q, Content-Location %q, Link %v; want %d without a body",
				tt.req.method, tt.req.path, tt.req.header["Prefer"], res, res.header.Get("Preference-Applied"), res.header.Get("ETag"),
				res.header.Get("Content-Location"), res.header.Values("Link"), tt.want)
		}
		if tt.want == http.StatusCreated && res.header.Get("Location") == "" {
			t.Errorf("%s %s Prefer return=minimal: 201 without Location", tt.req.method, tt.req.path)
		}
	}
	// return=representation is what a write gives anyway.
	res := srv.do(t, request{method: http.MethodPatch, path: postPathOf(post), token: token, body: `{"body": "full"}`,
		header: map[string]string{"Prefer": "return=representation"}})
	if res.code != http.StatusOK || res.json(t)["body"] != "full" || res.header.Get("Preference-Applied") != "return=representation" {
		t.Errorf("PATCH Prefer return=representation: %s, Preference-Applied %q", res, res.header.Get("Preference-Applied"))
	}
	// A read has nothing to leave out.
	if res := srv.get(t, token, postPathOf(post), minimal); res.code != http.StatusOK || res.header.Get("Preference-Applied") != "" {
		t.Errorf("GET Prefer return=minimal: %s, Preference-Applied %q", res, res.header.Get("Preference-Applied"))
	}
}
