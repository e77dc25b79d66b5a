package persistence_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"microblog/persistence"
)

func TestHashtags(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", persistence.MaxTagLength)
	tests := []struct {
		body string
		want []string
	}{
		{"no tags here", nil},
		{"#Go and #go and #GO", []string{"go"}},
		{"#b then #a then #b", []string{"b", "a"}},
		{"C# and issue#4 and ##double are not tags", nil},
		{"#snake_case2026, #Café! (#über)", []string{"snake_case2026", "café", "über"}},
		{"#Cafe\u0301 is #café", []string{"café"}},
		{"#" + long + " fits, #" + long + "b does not", []string{long}},
		{"#tag#next", []string{"tag"}},
		{"#日本語 #123", []string{"日本語", "123"}},
		{"# alone, #-dash, #.", nil},
		{"end #", nil},
	}
	for _, tt := range tests {
		if got := persistence.Hashtags(tt.body); !slices.Equal(got, tt.want) {
			t.Errorf("Hashtags(%q) = %q, want %q", tt.body, got, tt.want)
		}
	}
}

func TestNormalizeTag(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"Go": "go", "CAFE\u0301": "café", "snake_case": "snake_case"} {
		if got, ok := persistence.NormalizeTag(in); !ok || got != want {
			t.Errorf("NormalizeTag(%q) = %q, %v, want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "a b", "#go", "go!", strings.Repeat("x", persistence.MaxTagLength+1)} {
		if got, ok := persistence.NormalizeTag(in); ok {
			t.Errorf("NormalizeTag(%q) = %q, want no tag", in, got)
		}
	}
}

func TestMentions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body string
		want []string
	}{
		{"hi @susan and @Susan and @SUSAN.", []string{"susan"}},
		{"mail bob@example.com, not a mention", nil},
		{"@a.b.c. ends a sentence; @x-y_z, @@twice", []string{"a.b.c", "x-y_z"}},
		{"@ alone and @. nothing", nil},
		{"@café stops at the é", []string{"caf"}},
	}
	for _, tt := range tests {
		if got := persistence.Mentions(tt.body); !slices.Equal(got, tt.want) {
			t.Errorf("Mentions(%q) = %q, want %q", tt.body, got, tt.want)
		}
	}
}

// TestPostTagsAndMentions checks what a post stores of its body: its tags,
// as the tag pages list them, and only the users who exist, in order, with
// their current usernames; and that an edit and a deletion keep the tag
// pages and their totals in step.
func TestPostTagsAndMentions(t *testing.T) {
	t.Parallel()
	s, _ := persistence.NewTestStore(t)
	ctx := t.Context()
	ann := createUser(t, s, "ann")
	bob := createUser(t, s, "Bob")
	token := login(t, s, "ann")

	p, err := s.WritePost(ctx, ann.ID, "Hello @bob and @nobody and @ann #Go #news #go")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Tags, []string{"go", "news"}) {
		t.Errorf("tags %q, want [go news]", p.Tags)
	}
	want := []persistence.Mention{{ID: bob.ID, Username: "Bob"}, {ID: ann.ID, Username: "ann"}}
	if got := p.Mentions(); !slices.Equal(got, want) {
		t.Errorf("mentions %v, want %v", got, want)
	}
	tagged := func(tag string) (int64, []int64) {
		t.Helper()
		_, page, err := s.Tagged(ctx, token, tag, persistence.Page{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		return page.Total, postIDs(page.Posts)
	}
	if total, ids := tagged("go"); total != 1 || !slices.Equal(ids, []int64{p.ID}) {
		t.Errorf("#go: total %d, posts %v, want 1, [%d]", total, ids, p.ID)
	}

	if _, err := s.UpdatePost(ctx, p.ID, ann.ID, "Now only #news, hi @ann", nil); err != nil {
		t.Fatal(err)
	}
	if total, ids := tagged("go"); total != 0 || len(ids) != 0 {
		t.Errorf("#go after the edit: total %d, posts %v, want none", total, ids)
	}
	got, err := s.Post(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Tags, []string{"news"}) || !slices.Equal(got.Mentions(), want[1:]) {
		t.Errorf("after the edit: tags %q, mentions %v", got.Tags, got.Mentions())
	}
	if err := s.DeletePost(ctx, p.ID, ann.ID, nil); err != nil {
		t.Fatal(err)
	}
	if total, ids := tagged("news"); total != 0 || len(ids) != 0 {
		t.Errorf("#news after the deletion: total %d, posts %v, want none", total, ids)
	}
	if total, ids := tagged("never-used"); total != 0 || len(ids) != 0 {
		t.Errorf("an unused tag: total %d, posts %v, want none", total, ids)
	}
}

// TestSearchUsersOrder checks the order of username matches: the username
// itself, then those it begins, then the rest, each by username in any
// case; the characters special to LIKE are taken literally; and paging
// by cursor goes through every match once.
func TestSearchUsersOrder(t *testing.T) {
	t.Parallel()
	s, _ := persistence.NewTestStore(t)
	ctx := t.Context()
	for _, name := range []string{"xsue", "Sue_b", "sue", "a.sue", "suez", "bob", "Sue-a", "s_e", "s.e"} {
		createUser(t, s, name)
	}
	token := login(t, s, "bob")
	search := func(q string, p persistence.Page) persistence.UserPage {
		t.Helper()
		page, err := s.SearchUsers(ctx, token, q, p)
		if err != nil {
			t.Fatal(err)
		}
		return page
	}
	names := func(us []persistence.User) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.Username)
		}
		return out
	}
	page := search("SUE", persistence.Page{Limit: 10})
	want := []string{"sue", "Sue-a", "Sue_b", "suez", "a.sue", "xsue"}
	if got := names(page.Users); !slices.Equal(got, want) || page.Total != 6 {
		t.Errorf("q=SUE: %q (total %d), want %q (total 6)", got, page.Total, want)
	}
	if got := names(search("_", persistence.Page{Limit: 10}).Users); !slices.Equal(got, []string{"s_e", "Sue_b"}) {
		t.Errorf("q=_: %q, want [s_e Sue_b]: '_' is not a wildcard", got)
	}
	if got := search("%", persistence.Page{Limit: 10}); len(got.Users) != 0 || got.Total != 0 {
		t.Errorf("q=%%: %q, want nothing: '%%' is not a wildcard", names(got.Users))
	}

	var walked []string
	p := persistence.Page{Limit: 4}
	for range 3 {
		page := search("sue", p)
		walked = append(walked, names(page.Users)...)
		if page.Next == nil {
			break
		}
		p.After = page.Next
		// A user who registers between pages changes nothing before the
		// cursor.
		createUser(t, s, "asue"+strings.Repeat("x", len(walked)))
	}
	if want := append(want[:5:5], "asuexxxx", "xsue"); !slices.Equal(walked, want) {
		t.Errorf("paged by cursor: %q, want %q", walked, want)
	}
}

// TestSearchPosts checks the web-search syntax with English stemming:
// words, phrases, exclusion and or; relevance first, then newest first;
// and queries with nothing to find.
func TestSearchPosts(t *testing.T) {
	t.Parallel()
	s, _ := persistence.NewTestStore(t)
	ctx := t.Context()
	ann, token := createUser(t, s, "ann"), login(t, s, "ann")
	bodies := []string{
		"Running in the rain",          // 0
		"I ran and I run, run run run", // 1
		"The rain in Spain",            // 2
		"cats and dogs",                // 3
		"dogs, not cats: dogs",         // 4
		"a cat nap in the sun",         // 5
	}
	ids := make([]int64, len(bodies))
	for i, b := range bodies {
		p, err := s.WritePost(ctx, ann.ID, b)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = p.ID
	}
	search := func(q string, p persistence.Page) persistence.PostPage {
		t.Helper()
		_, page, err := s.SearchPosts(ctx, token, q, p)
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		return page
	}
	tests := []struct {
		q    string
		want []int
	}{
		{"runs", []int{1, 0}}, // stemmed; more occurrences rank higher
		{"rain", []int{2, 0}}, // equal rank: newest first
		{`"rain in spain"`, []int{2}},
		{"cats -dogs", []int{5}},
		{"spain or nap", []int{5, 2}},
		{"CAT", []int{5, 4, 3}},
		{"a:b & c | !d (", nil}, // tsquery's operators are words here
	}
	for _, tt := range tests {
		var want []int64
		for _, i := range tt.want {
			want = append(want, ids[i])
		}
		page := search(tt.q, persistence.Page{Limit: 10})
		if got := postIDs(page.Posts); !slices.Equal(got, want) || page.Total != int64(len(want)) {
			t.Errorf("%q: %v (total %d), want %v", tt.q, got, page.Total, want)
		}
	}
	for _, q := range []string{"-", "or", `"`, "the", "-cats", "!!!"} {
		if _, _, err := s.SearchPosts(ctx, token, q, persistence.Page{Limit: 10}); !errors.Is(err, persistence.ErrNothingToFind) {
			t.Errorf("%q: %v, want ErrNothingToFind", q, err)
		}
	}
	if _, _, err := s.SearchPosts(ctx, "not a token", "cats", persistence.Page{Limit: 10}); !errors.Is(err, persistence.ErrInvalidToken) {
		t.Errorf("a bad token: %v, want ErrInvalidToken", err)
	}
}

// TestSearchPostsByCursor walks the matches of a search one page at a time
// while posts that match arrive: each post before the cursor is met once.
func TestSearchPostsByCursor(t *testing.T) {
	t.Parallel()
	s, _ := persistence.NewTestStore(t)
	ctx := t.Context()
	ann := createUser(t, s, "ann")
	token := login(t, s, "ann")
	var ids []int64
	for _, b := range []string{"cats and dogs", "dogs, not cats: dogs", "a cat nap in the sun"} {
		p, err := s.WritePost(ctx, ann.ID, b)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	var walked []int64
	p := persistence.Page{Limit: 1}
	for range 5 {
		_, page, err := s.SearchPosts(ctx, token, "cat", p)
		if err != nil {
			t.Fatal(err)
		}
		walked = append(walked, postIDs(page.Posts)...)
		if page.Next == nil || len(page.Posts) == 0 {
			break
		}
		p.After = page.Next
		if _, err := s.WritePost(ctx, ann.ID, "another cat"); err != nil { // arrives between pages
			t.Fatal(err)
		}
	}
	if want := []int64{ids[2], ids[1], ids[0]}; !slices.Equal(walked, want) {
		t.Errorf("paged by cursor: %v, want %v", walked, want)
	}
}

func createUser(t *testing.T, s *persistence.Store, name string) persistence.User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), persistence.NewUser{Username: name, Email: name + "@example.com", Password: "12345678"})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func login(t *testing.T, s *persistence.Store, name string) string {
	t.Helper()
	tok, err := s.Login(t.Context(), name, "12345678", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Value
}
