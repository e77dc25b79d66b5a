package hal_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"microblog/hal"
)

// Links and rels are rendered without encoding/json, for speed. TestLinkJSON
// and FuzzLinkJSON hold them to the bytes encoding/json gives them, as it
// did before.

// trickyStrings need escaping, or look as if they might.
var trickyStrings = []string{
	"", "plain", "/api/users/1", `"quoted" \back\slashed\`, "\b\f\n\r\t", "\x00\x01\x1f\x7f",
	"<a href=x>&amp;</a>", "/api/search?q=a&b=<c>", "\u2028 and \u2029", "\u2027\u202a",
	"\xff", "a\xc3", "\xe2\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\ufffd", "日本語", "\U0001F600",
}

// jsonLink is the document of one link l under rel rendered with base, as
// encoding/json writes it with SetEscapeHTML(false).
func jsonLink(t *testing.T, rel string, l hal.Link, base string) string {
	t.Helper()
	if strings.HasPrefix(l.Href, "/") && !strings.HasPrefix(l.Href, "//") {
		l.Href = base + l.Href
	}
	encode := func(v any) string {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSuffix(buf.String(), "\n")
	}
	return `{"_links":{` + encode(rel) + ":" + encode(l) + "}}"
}

// checkLink compares the rendering of l under rel with base to jsonLink's.
func checkLink(t *testing.T, rel string, l hal.Link, base string) {
	t.Helper()
	got, err := hal.New(nil).AddLink(rel, l).AppendJSON(nil, base)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(jsonLink(t, rel, l, base), string(got)); diff != "" {
		t.Errorf("rel %q, link %+v, base %q: (-want +got)\n%s", rel, l, base, diff)
	}
}

func TestLinkJSON(t *testing.T) {
	for _, s := range trickyStrings {
		for _, base := range []string{"", "/prefix", "/p\"q", "/cut\xe2\x80"} {
			checkLink(t, s, hal.Link{Href: "/" + s, Type: s, Name: s}, base)
			checkLink(t, "self", hal.Link{Href: s, Templated: true, Type: s, Deprecation: s, Name: s,
				Profile: s, Title: s, Hreflang: s}, base)
		}
	}
}

func FuzzLinkJSON(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s, "/"+s, s, "/prefix", false)
		f.Add("self", s, s, "", true)
	}
	f.Fuzz(func(t *testing.T, rel, href, attr, base string, templated bool) {
		checkLink(t, rel, hal.Link{Href: href, Templated: templated, Type: attr, Deprecation: attr,
			Name: attr, Profile: attr, Title: attr, Hreflang: attr}, base)
	})
}

// benchUser has the members of a user as resources renders one to another
// user; hal cannot import resources, so the shape is copied here.
type benchUser struct {
	ID             int64      `json:"id"`
	Username       string     `json:"username"`
	Email          string     `json:"email,omitempty"`
	LastSeen       *time.Time `json:"last_seen"`
	AboutMe        string     `json:"about_me"`
	PostCount      int64      `json:"post_count"`
	FollowerCount  int64      `json:"follower_count"`
	FollowingCount int64      `json:"following_count"`
	IsFollowing    *bool      `json:"is_following,omitempty"`
}
