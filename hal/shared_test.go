package hal_test

import (
	"testing"

	"microblog/hal"
)

// A resource made from a Shared part and members of its own renders as
// the same resource made whole, its own members last.
func TestShared(t *testing.T) {
	type whole struct {
		ID    int    `json:"id"`
		Name  string `json:"name"`
		Email string `json:"email,omitempty"`
	}
	type common struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	type own struct {
		Email string `json:"email,omitempty"`
	}
	tests := []struct {
		name  string
		email string
		links bool
	}{
		{"own property and links", "s@example.com", true},
		{"no own property", "", true},
		{"no own links", "s@example.com", false},
	}
	for _, tt := range tests {
		full := hal.New(whole{1, "susan \u2028", tt.email}).
			AddLink("self", hal.Link{Href: "/api/users/1"}).AddLinks("mb:posts", hal.Link{Href: "/api/posts/7", Name: "p"})
		shared, err := hal.New(common{1, "susan \u2028"}).
			AddLink("self", hal.Link{Href: "/api/users/1"}).AddLinks("mb:posts", hal.Link{Href: "/api/posts/7", Name: "p"}).
			Share("/base")
		if err != nil {
			t.Fatal(err)
		}
		composed := shared.With(own{tt.email})
		if tt.links {
			full.AddLink("edit", hal.Link{Href: "/api/users/1"})
			composed.AddLink("edit", hal.Link{Href: "/api/users/1"})
		}
		full.Embed("mb:x", hal.New(common{2, "bob"}))
		composed.Embed("mb:x", hal.New(common{2, "bob"}))
		want, err := full.AppendJSON(nil, "/base")
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2 { // a Shared is used again as it was
			got, err := composed.AppendJSON(nil, "/base")
			if err != nil || string(got) != string(want) {
				t.Errorf("%s, use %d:\n got %s, %v\nwant %s", tt.name, i, got, err, want)
			}
		}
	}
}

// A resource with embedded resources cannot be shared, and an empty
// shared part adds nothing to what is made of it.
func TestSharedEdges(t *testing.T) {
	type own struct {
		Email string `json:"email,omitempty"`
	}
	if _, err := hal.New(nil).Embed("mb:x", hal.New(nil)).Share(""); err == nil {
		t.Error("a resource with embedded resources was shared")
	}
	empty, err := hal.New(nil).Share("")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := empty.With(own{"e@example.com"}).AppendJSON(nil, ""); string(got) != `{"email":"e@example.com"}` {
		t.Errorf("an empty shared part with a property: %s", got)
	}
	if got, _ := empty.With(nil).AppendJSON(nil, ""); string(got) != `{}` {
		t.Errorf("an empty shared part: %s", got)
	}
}
