package hal_test

import (
	"encoding/json"
	"math"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"microblog/hal"
)

// user is a property struct with an omitempty member.
type user struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	AboutMe string `json:"about_me,omitempty"`
}

// marshal renders r with MarshalJSON and fails the test on an error or on
// output that is not valid JSON.
func marshal(t *testing.T, r *hal.Resource) string {
	t.Helper()
	b, err := r.MarshalJSON()
	if err != nil {
		t.Fatalf("MarshalJSON() error = %v", err)
	}
	if !json.Valid(b) {
		t.Fatalf("MarshalJSON() = %s, which is not valid JSON", b)
	}
	return string(b)
}

// marshalCase is a resource and the document it must render as.
type marshalCase struct {
	name  string
	build func() *hal.Resource
	want  string
}

// testMarshal checks each case, in a parallel subtest, with MarshalJSON.
func testMarshal(t *testing.T, tests []marshalCase) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := marshal(t, tt.build())
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("MarshalJSON() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMarshalJSONProps(t *testing.T) {
	t.Parallel()
	testMarshal(t, []marshalCase{
		{
			name:  "nil props",
			build: func() *hal.Resource { return hal.New(nil) },
			want:  `{}`,
		},
		{
			name:  "struct props become top-level members",
			build: func() *hal.Resource { return hal.New(user{ID: 1, Name: "susan", AboutMe: "hi"}) },
			want:  `{"id":1,"name":"susan","about_me":"hi"}`,
		},
		{
			name:  "pointer to struct props",
			build: func() *hal.Resource { return hal.New(&user{ID: 1, Name: "susan"}) },
			want:  `{"id":1,"name":"susan"}`,
		},
		{
			name:  "omitempty members of props are left out",
			build: func() *hal.Resource { return hal.New(user{ID: 2, Name: "bob"}) },
			want:  `{"id":2,"name":"bob"}`,
		},
		{
			name:  "map props become top-level members",
			build: func() *hal.Resource { return hal.New(map[string]any{"b": 2, "a": "x"}) },
			want:  `{"a":"x","b":2}`,
		},
		{
			name:  "empty map props",
			build: func() *hal.Resource { return hal.New(map[string]any{}) },
			want:  `{}`,
		},
		{
			name:  "raw JSON object props",
			build: func() *hal.Resource { return hal.New(json.RawMessage(`{"title": "Microblog API"}`)) },
			want:  `{"title":"Microblog API"}`,
		},
	})
}

func TestMarshalJSONLinks(t *testing.T) {
	t.Parallel()
	testMarshal(t, []marshalCase{
		{
			name: "props followed by links",
			build: func() *hal.Resource {
				return hal.New(user{ID: 1, Name: "susan"}).AddLink("self", hal.Link{Href: "/api/users/1"})
			},
			want: `{"id":1,"name":"susan","_links":{"self":{"href":"/api/users/1"}}}`,
		},
		{
			name: "no props, links only: no leading comma",
			build: func() *hal.Resource {
				return hal.New(nil).AddLink("self", hal.Link{Href: "/api"})
			},
			want: `{"_links":{"self":{"href":"/api"}}}`,
		},
		{
			name: "empty map props, links only: no leading comma",
			build: func() *hal.Resource {
				return hal.New(map[string]any{}).AddLink("self", hal.Link{Href: "/api"})
			},
			want: `{"_links":{"self":{"href":"/api"}}}`,
		},
		{
			name: "link with every attribute",
			build: func() *hal.Resource {
				return hal.New(nil).AddLink("mb:doc", hal.Link{
					Href:        "/api/docs/{id}",
					Templated:   true,
					Type:        "text/html",
					Deprecation: "https://example.com/deprecated",
					Name:        "doc",
					Profile:     "https://example.com/profile",
					Title:       "Documentation",
					Hreflang:    "en",
				})
			},
			want: `{"_links":{"mb:doc":{"href":"/api/docs/{id}","templated":true,"type":"text/html",` +
				`"deprecation":"https://example.com/deprecated","name":"doc","profile":"https://example.com/profile",` +
				`"title":"Documentation","hreflang":"en"}}}`,
		},
		{
			name: "link attributes are omitted when empty, href never",
			build: func() *hal.Resource {
				return hal.New(nil).
					AddLink("self", hal.Link{Href: "/api/users/1", Title: "susan"}).
					AddLink("empty", hal.Link{})
			},
			want: `{"_links":{"self":{"href":"/api/users/1","title":"susan"},"empty":{"href":""}}}`,
		},
	})
}

// TestMarshalJSONLinkArrays checks that AddLink makes an object and
// AddLinks an array.
func TestMarshalJSONLinkArrays(t *testing.T) {
	t.Parallel()
	testMarshal(t, []marshalCase{
		{
			name: "AddLink renders a single object",
			build: func() *hal.Resource {
				return hal.New(nil).AddLink("author", hal.Link{Href: "/api/users/2"})
			},
			want: `{"_links":{"author":{"href":"/api/users/2"}}}`,
		},
		{
			name: "AddLinks with one link renders an array",
			build: func() *hal.Resource {
				return hal.New(nil).AddLinks("item", hal.Link{Href: "/api/posts/1"})
			},
			want: `{"_links":{"item":[{"href":"/api/posts/1"}]}}`,
		},
		{
			name:  "AddLinks with no link renders an empty array",
			build: func() *hal.Resource { return hal.New(nil).AddLinks("item") },
			want:  `{"_links":{"item":[]}}`,
		},
		{
			name: "AddLinks twice on one rel appends",
			build: func() *hal.Resource {
				return hal.New(nil).
					AddLinks("item", hal.Link{Href: "/a"}).
					AddLinks("item", hal.Link{Href: "/b"}, hal.Link{Href: "/c"})
			},
			want: `{"_links":{"item":[{"href":"/a"},{"href":"/b"},{"href":"/c"}]}}`,
		},
		{
			name: "rels keep the order they were added in",
			build: func() *hal.Resource {
				return hal.New(nil).
					AddLink("zeta", hal.Link{Href: "/z"}).
					AddLinks("alpha", hal.Link{Href: "/a"}).
					AddLink("mu", hal.Link{Href: "/m"}).
					AddLinks("alpha", hal.Link{Href: "/a2"})
			},
			want: `{"_links":{"zeta":{"href":"/z"},"alpha":[{"href":"/a"},{"href":"/a2"}],"mu":{"href":"/m"}}}`,
		},
	})
}

func TestMarshalJSONCuries(t *testing.T) {
	t.Parallel()
	testMarshal(t, []marshalCase{
		{
			name: "curies via AddCurie",
			build: func() *hal.Resource {
				return hal.New(nil).
					AddLink("self", hal.Link{Href: "/api"}).
					AddCurie("mb", "/api/rels/{rel}").
					AddLink("mb:users", hal.Link{Href: "/api/users"})
			},
			want: `{"_links":{"self":{"href":"/api"},` +
				`"curies":[{"href":"/api/rels/{rel}","templated":true,"name":"mb"}],` +
				`"mb:users":{"href":"/api/users"}}}`,
		},
		{
			name: "two curies share one array",
			build: func() *hal.Resource {
				return hal.New(nil).
					AddCurie("mb", "/api/rels/{rel}").
					AddCurie("ex", "https://example.com/rels/{rel}")
			},
			want: `{"_links":{"curies":[{"href":"/api/rels/{rel}","templated":true,"name":"mb"},` +
				`{"href":"https://example.com/rels/{rel}","templated":true,"name":"ex"}]}}`,
		},
	})
}

func TestMarshalJSONEscaping(t *testing.T) {
	t.Parallel()
	testMarshal(t, []marshalCase{
		{
			name: "& < > in hrefs, rels and props are not escaped",
			build: func() *hal.Resource {
				return hal.New(map[string]string{"q": "a<b>&c"}).
					AddLink("a&b", hal.Link{Href: "/api/search?q=<x>&page=2"}).
					AddLink("avatar", hal.Link{Href: "https://www.gravatar.com/avatar/abc?d=identicon&s=128"})
			},
			want: `{"q":"a<b>&c","_links":{"a&b":{"href":"/api/search?q=<x>&page=2"},` +
				`"avatar":{"href":"https://www.gravatar.com/avatar/abc?d=identicon&s=128"}}}`,
		},
	})
}

func TestMarshalJSONEmbedded(t *testing.T) {
	t.Parallel()
	testMarshal(t, []marshalCase{
		{
			name: "Embed renders a single object",
			build: func() *hal.Resource {
				author := hal.New(user{ID: 2, Name: "bob"}).AddLink("self", hal.Link{Href: "/api/users/2"})
				return hal.New(nil).Embed("author", author)
			},
			want: `{"_embedded":{"author":{"id":2,"name":"bob","_links":{"self":{"href":"/api/users/2"}}}}}`,
		},
		{
			name: "EmbedAll with an empty slice renders an empty array",
			build: func() *hal.Resource {
				return hal.New(nil).EmbedAll("mb:users", []*hal.Resource{})
			},
			want: `{"_embedded":{"mb:users":[]}}`,
		},
		{
			name: "EmbedAll with a nil slice renders an empty array",
			build: func() *hal.Resource {
				return hal.New(nil).EmbedAll("mb:users", nil)
			},
			want: `{"_embedded":{"mb:users":[]}}`,
		},
		{
			name: "EmbedAll with one resource renders an array",
			build: func() *hal.Resource {
				return hal.New(nil).EmbedAll("mb:users", []*hal.Resource{
					hal.New(user{ID: 1, Name: "susan"}),
				})
			},
			want: `{"_embedded":{"mb:users":[{"id":1,"name":"susan"}]}}`,
		},
		{
			name: "EmbedAll twice on one rel appends",
			build: func() *hal.Resource {
				return hal.New(nil).
					EmbedAll("mb:users", []*hal.Resource{hal.New(user{ID: 1, Name: "a"})}).
					EmbedAll("mb:users", []*hal.Resource{hal.New(user{ID: 2, Name: "b"})})
			},
			want: `{"_embedded":{"mb:users":[{"id":1,"name":"a"},{"id":2,"name":"b"}]}}`,
		},
		{
			name: "embedded rels keep their order, nested resources render fully",
			build: func() *hal.Resource {
				inner := hal.New(user{ID: 3, Name: "c"}).
					AddLink("self", hal.Link{Href: "/api/users/3"})
				return hal.New(map[string]int{"n": 1}).
					AddLink("self", hal.Link{Href: "/api/x"}).
					EmbedAll("zeta", []*hal.Resource{inner}).
					Embed("alpha", hal.New(nil).AddLink("self", hal.Link{Href: "/api/a"}))
			},
			want: `{"n":1,"_links":{"self":{"href":"/api/x"}},"_embedded":{` +
				`"zeta":[{"id":3,"name":"c","_links":{"self":{"href":"/api/users/3"}}}],` +
				`"alpha":{"_links":{"self":{"href":"/api/a"}}}}}`,
		},
	})
}

// failCase is a resource that must not render.
type failCase struct {
	name  string
	build func() *hal.Resource
}

// testMarshalFails checks, in a parallel subtest, that each resource fails
// to render by every way there is to render it.
func testMarshalFails(t *testing.T, tests []failCase) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tt.build()
			got, err := r.MarshalJSON()
			if err == nil {
				t.Errorf("MarshalJSON() = %s, want an error", got)
			}
			if got, err := r.AppendJSON([]byte("prefix"), "/base"); err == nil {
				t.Errorf("AppendJSON() = %s, want an error", got)
			}
			if got, err := json.Marshal(r); err == nil {
				t.Errorf("json.Marshal() = %s, want an error", got)
			}
		})
	}
}

func TestMarshalJSONErrorsLinks(t *testing.T) {
	t.Parallel()
	testMarshalFails(t, []failCase{
		{
			name: "AddLink twice on one rel",
			build: func() *hal.Resource {
				return hal.New(nil).
					AddLink("self", hal.Link{Href: "/a"}).
					AddLink("self", hal.Link{Href: "/b"})
			},
		},
		{
			name: "AddLink then AddLinks on one rel",
			build: func() *hal.Resource {
				return hal.New(nil).
					AddLink("item", hal.Link{Href: "/a"}).
					AddLinks("item", hal.Link{Href: "/b"})
			},
		},
		{
			name: "AddLinks then AddLink on one rel",
			build: func() *hal.Resource {
				return hal.New(nil).
					AddLinks("item", hal.Link{Href: "/a"}).
					AddLink("item", hal.Link{Href: "/b"})
			},
		},
		{
			name: "empty AddLinks then AddLink on one rel",
			build: func() *hal.Resource {
				return hal.New(nil).AddLinks("item").AddLink("item", hal.Link{Href: "/b"})
			},
		},
		{
			name: "AddLink on the curies rel after AddCurie",
			build: func() *hal.Resource {
				return hal.New(nil).
					AddCurie("mb", "/api/rels/{rel}").
					AddLink("curies", hal.Link{Href: "/x/{rel}", Templated: true})
			},
		},
		{
			name:  "a malformed curie template",
			build: func() *hal.Resource { return hal.New(nil).AddCurie("mb", "/api/rels/{rel") },
		},
	})
}

func TestMarshalJSONErrorsEmbedded(t *testing.T) {
	t.Parallel()
	testMarshalFails(t, []failCase{
		{
			name: "Embed twice on one rel",
			build: func() *hal.Resource {
				return hal.New(nil).Embed("author", hal.New(nil)).Embed("author", hal.New(nil))
			},
		},
		{
			name: "Embed then EmbedAll on one rel",
			build: func() *hal.Resource {
				return hal.New(nil).
					Embed("item", hal.New(nil)).
					EmbedAll("item", []*hal.Resource{hal.New(nil)})
			},
		},
		{
			name: "EmbedAll then Embed on one rel",
			build: func() *hal.Resource {
				return hal.New(nil).
					EmbedAll("item", []*hal.Resource{hal.New(nil)}).
					Embed("item", hal.New(nil))
			},
		},
		{
			name: "empty EmbedAll then Embed on one rel",
			build: func() *hal.Resource {
				return hal.New(nil).EmbedAll("item", nil).Embed("item", hal.New(nil))
			},
		},
		{
			name: "an error in an embedded resource",
			build: func() *hal.Resource {
				bad := hal.New(nil).AddLink("self", hal.Link{Href: "/a"}).AddLink("self", hal.Link{Href: "/b"})
				return hal.New(nil).EmbedAll("item", []*hal.Resource{hal.New(nil), bad})
			},
		},
	})
}

func TestMarshalJSONErrorsProps(t *testing.T) {
	t.Parallel()
	testMarshalFails(t, []failCase{
		{
			name:  "string props",
			build: func() *hal.Resource { return hal.New("susan") },
		},
		{
			name:  "slice props",
			build: func() *hal.Resource { return hal.New([]user{{ID: 1}}) },
		},
		{
			name:  "number props",
			build: func() *hal.Resource { return hal.New(42) },
		},
		{
			name:  "bool props",
			build: func() *hal.Resource { return hal.New(true) },
		},
		{
			name:  "raw JSON array props",
			build: func() *hal.Resource { return hal.New(json.RawMessage(`[{}]`)) },
		},
		{
			name:  "props that do not marshal",
			build: func() *hal.Resource { return hal.New(map[string]any{"c": make(chan int)}) },
		},
		{
			name:  "props that do not marshal, with links",
			build: func() *hal.Resource { return hal.New(math.Inf(1)).AddLink("self", hal.Link{Href: "/"}) },
		},
	})
}

func TestAppendJSONBase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		href string
		want string
	}{
		{name: "absolute path", href: "/api/users/1", want: "/prefix/api/users/1"},
		{name: "root path", href: "/", want: "/prefix/"},
		{name: "absolute path with query", href: "/api/users?page=2&per_page=10", want: "/prefix/api/users?page=2&per_page=10"},
		{name: "protocol-relative", href: "//cdn.example.com/a.png", want: "//cdn.example.com/a.png"},
		{name: "https URL", href: "https://www.gravatar.com/avatar/x?d=identicon&s=128", want: "https://www.gravatar.com/avatar/x?d=identicon&s=128"},
		{name: "http URL", href: "http://example.com/api", want: "http://example.com/api"},
		{name: "relative path", href: "api/users", want: "api/users"},
		{name: "empty href", href: "", want: ""},
		{name: "fragment", href: "#top", want: "#top"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := hal.New(nil).
				AddLink("self", hal.Link{Href: tt.href}).
				AddLinks("item", hal.Link{Href: tt.href}).
				Embed("e", hal.New(nil).AddLink("self", hal.Link{Href: tt.href}))
			got, err := r.AppendJSON(nil, "/prefix")
			if err != nil {
				t.Fatalf("AppendJSON() error = %v", err)
			}
			// The hrefs here need no JSON escaping beyond Go quoting.
			h := strconv.Quote(tt.want)
			want := `{"_links":{"self":{"href":` + h + `},"item":[{"href":` + h + `}]},` +
				`"_embedded":{"e":{"_links":{"self":{"href":` + h + `}}}}}`
			if diff := cmp.Diff(want, string(got)); diff != "" {
				t.Errorf("AppendJSON(nil, %q) mismatch (-want +got):\n%s", "/prefix", diff)
			}
		})
	}
}

// susan is a user resource with a path, a templated path, a curie and an
// absolute URL among its links.
func susan() *hal.Resource {
	return hal.New(user{ID: 1, Name: "susan"}).
		AddLink("self", hal.Link{Href: "/api/users/1"}).
		AddCurie("mb", "/api/rels/{rel}").
		AddLink("mb:users", hal.MustTemplated("/api/users{?page,per_page}")).
		AddLink("mb:avatar", hal.Link{Href: "https://www.gravatar.com/avatar/x?d=identicon&s=128"})
}

func TestAppendJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		dst  string
		base string
		want string
	}{
		{
			name: "no base, no dst",
			want: `{"id":1,"name":"susan","_links":{"self":{"href":"/api/users/1"},` +
				`"curies":[{"href":"/api/rels/{rel}","templated":true,"name":"mb"}],` +
				`"mb:users":{"href":"/api/users{?page,per_page}","templated":true},` +
				`"mb:avatar":{"href":"https://www.gravatar.com/avatar/x?d=identicon&s=128"}}}`,
		},
		{
			name: "base prefixes paths, templated ones and curies included",
			base: "/mb",
			want: `{"id":1,"name":"susan","_links":{"self":{"href":"/mb/api/users/1"},` +
				`"curies":[{"href":"/mb/api/rels/{rel}","templated":true,"name":"mb"}],` +
				`"mb:users":{"href":"/mb/api/users{?page,per_page}","templated":true},` +
				`"mb:avatar":{"href":"https://www.gravatar.com/avatar/x?d=identicon&s=128"}}}`,
		},
		{
			name: "dst is kept",
			dst:  `[1,`,
			base: "/a/b",
			want: `[1,{"id":1,"name":"susan","_links":{"self":{"href":"/a/b/api/users/1"},` +
				`"curies":[{"href":"/a/b/api/rels/{rel}","templated":true,"name":"mb"}],` +
				`"mb:users":{"href":"/a/b/api/users{?page,per_page}","templated":true},` +
				`"mb:avatar":{"href":"https://www.gravatar.com/avatar/x?d=identicon&s=128"}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var dst []byte
			if tt.dst != "" {
				dst = []byte(tt.dst)
			}
			got, err := susan().AppendJSON(dst, tt.base)
			if err != nil {
				t.Fatalf("AppendJSON() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("AppendJSON(%q, %q) mismatch (-want +got):\n%s", tt.dst, tt.base, diff)
			}
		})
	}
}

func TestAppendJSONLeavesTheResource(t *testing.T) {
	t.Parallel()
	// MarshalJSON is AppendJSON with no base, and rendering twice gives the
	// same document: rendering does not change the resource.
	r := susan()
	first := marshal(t, r)
	if _, err := r.AppendJSON(nil, "/mb"); err != nil {
		t.Fatalf("AppendJSON() error = %v", err)
	}
	if diff := cmp.Diff(first, marshal(t, r)); diff != "" {
		t.Errorf("MarshalJSON() after AppendJSON with a base mismatch (-want +got):\n%s", diff)
	}
}

func TestTemplate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		href    string
		wantErr bool
	}{
		{href: "/api/users/{id}"},
		{href: "/api/users{?page,per_page}"},
		{href: "/api/rels/{rel}"},
		{href: "/api/users/{id}/posts{?page,per_page}"},
		{href: "/api/search{?q}{&page}"},
		{href: "/files{/path*}"},
		{href: "/a{.ext}"},
		{href: "/api/users"},
		{href: "https://example.com/rels/{rel}"},
		{href: "/a{", wantErr: true},
		{href: "/a{b", wantErr: true},
		{href: "/a}", wantErr: true},
		{href: "{}", wantErr: true},
		{href: "/a{b c}", wantErr: true},
		{href: "/a b", wantErr: true},
		{href: "/a{x,}", wantErr: true},
		{href: "/a%zz", wantErr: true},
		{href: "/a<b>", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.href, func(t *testing.T) {
			t.Parallel()
			got, err := hal.Templated(tt.href)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Template(%q) error = %v, want error %t", tt.href, err, tt.wantErr)
			}
			want := hal.Link{Href: tt.href, Templated: true}
			if tt.wantErr {
				want = hal.Link{}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Template(%q) mismatch (-want +got):\n%s", tt.href, diff)
			}

			gotMust, panicked := mustTemplate(tt.href)
			if panicked != tt.wantErr {
				t.Fatalf("MustTemplated(%q) panicked = %t, want %t", tt.href, panicked, tt.wantErr)
			}
			if diff := cmp.Diff(want, gotMust); diff != "" {
				t.Errorf("MustTemplated(%q) mismatch (-want +got):\n%s", tt.href, diff)
			}
		})
	}
}

// mustTemplate calls hal.MustTemplated and reports whether it panicked.
func mustTemplate(href string) (l hal.Link, panicked bool) {
	defer func() {
		if recover() != nil {
			panicked = true
		}
	}()
	return hal.MustTemplated(href), false
}

func TestTotalPages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		page hal.Page
		want int64
	}{
		{name: "no items", page: hal.Page{Number: 1, Size: 10, TotalItems: 0}, want: 1},
		{name: "one item", page: hal.Page{Number: 1, Size: 10, TotalItems: 1}, want: 1},
		{name: "one page exactly", page: hal.Page{Number: 1, Size: 10, TotalItems: 10}, want: 1},
		{name: "one more than a page", page: hal.Page{Number: 1, Size: 10, TotalItems: 11}, want: 2},
		{name: "exact multiple", page: hal.Page{Number: 1, Size: 10, TotalItems: 200}, want: 20},
		{name: "remainder", page: hal.Page{Number: 1, Size: 10, TotalItems: 195}, want: 20},
		{name: "one less than a multiple", page: hal.Page{Number: 1, Size: 10, TotalItems: 199}, want: 20},
		{name: "page size one", page: hal.Page{Number: 1, Size: 1, TotalItems: 7}, want: 7},
		{name: "page size 100", page: hal.Page{Number: 1, Size: 100, TotalItems: 101}, want: 2},
		{name: "huge collection", page: hal.Page{Number: 1, Size: 1, TotalItems: math.MaxInt64}, want: math.MaxInt64},
		{name: "huge collection, big pages", page: hal.Page{Number: 1, Size: 100, TotalItems: math.MaxInt64}, want: math.MaxInt64/100 + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.page.TotalPages(); got != tt.want {
				t.Errorf("%+v.TotalPages() = %d, want %d", tt.page, got, tt.want)
			}
		})
	}
}

func TestMeta(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		page     hal.Page
		want     hal.PageMeta
		wantJSON string
	}{
		{
			name:     "API.md example",
			page:     hal.Page{Number: 2, Size: 10, TotalItems: 195},
			want:     hal.PageMeta{Page: 2, PerPage: 10, TotalPages: 20, TotalItems: 195},
			wantJSON: `{"page":2,"per_page":10,"total_pages":20,"total_items":195}`,
		},
		{
			name:     "empty collection",
			page:     hal.Page{Number: 1, Size: 10, TotalItems: 0},
			want:     hal.PageMeta{Page: 1, PerPage: 10, TotalPages: 1, TotalItems: 0},
			wantJSON: `{"page":1,"per_page":10,"total_pages":1,"total_items":0}`,
		},
		{
			name:     "past the end",
			page:     hal.Page{Number: 9, Size: 100, TotalItems: 150},
			want:     hal.PageMeta{Page: 9, PerPage: 100, TotalPages: 2, TotalItems: 150},
			wantJSON: `{"page":9,"per_page":100,"total_pages":2,"total_items":150}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.page.Meta()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%+v.Meta() mismatch (-want +got):\n%s", tt.page, diff)
			}
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantJSON, string(b)); diff != "" {
				t.Errorf("json.Marshal(Meta()) mismatch (-want +got):\n%s", diff)
			}
			// As a _meta property of a collection.
			doc := marshal(t, hal.New(map[string]any{"_meta": got}))
			if diff := cmp.Diff(`{"_meta":`+tt.wantJSON+`}`, doc); diff != "" {
				t.Errorf("collection with _meta mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// pagesPath is the collection the page links of the tests are for.
const pagesPath = "/api/users"

// pageLinks renders the _links of a page document of pagesPath from the
// queries of its links, in the order self, first, prev, next, last; ""
// leaves a rel out.
func pageLinks(self, first, prev, next, last string) string {
	link := func(rel, query string) string {
		return `"` + rel + `":{"href":"` + pagesPath + "?" + query + `"}`
	}
	s := `{"_links":{` + link("self", self) + "," + link("first", first)
	if prev != "" {
		s += "," + link("prev", prev)
	}
	if next != "" {
		s += "," + link("next", next)
	}
	return s + "," + link("last", last) + "}}"
}

// pageCase is a page and the links AddPageLinks must give it.
type pageCase struct {
	name string
	page hal.Page
	want string
}

// testPageLinks checks each case in a parallel subtest.
func testPageLinks(t *testing.T, tests []pageCase) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := marshal(t, hal.New(nil).AddPageLinks(pagesPath, tt.page))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("AddPageLinks(%q, %+v) mismatch (-want +got):\n%s", pagesPath, tt.page, diff)
			}
		})
	}
}

func TestAddPageLinks(t *testing.T) {
	t.Parallel()
	testPageLinks(t, []pageCase{
		{
			name: "first of three",
			page: hal.Page{Number: 1, Size: 10, TotalItems: 25},
			want: pageLinks("page=1&per_page=10", "page=1&per_page=10", "",
				"page=2&per_page=10", "page=3&per_page=10"),
		},
		{
			name: "middle",
			page: hal.Page{Number: 2, Size: 10, TotalItems: 25},
			want: pageLinks("page=2&per_page=10", "page=1&per_page=10", "page=1&per_page=10",
				"page=3&per_page=10", "page=3&per_page=10"),
		},
		{
			name: "last",
			page: hal.Page{Number: 3, Size: 10, TotalItems: 25},
			want: pageLinks("page=3&per_page=10", "page=1&per_page=10", "page=2&per_page=10",
				"", "page=3&per_page=10"),
		},
		{
			name: "last, exact multiple",
			page: hal.Page{Number: 2, Size: 10, TotalItems: 20},
			want: pageLinks("page=2&per_page=10", "page=1&per_page=10", "page=1&per_page=10",
				"", "page=2&per_page=10"),
		},
		{
			name: "single page",
			page: hal.Page{Number: 1, Size: 10, TotalItems: 5},
			want: pageLinks("page=1&per_page=10", "page=1&per_page=10", "", "", "page=1&per_page=10"),
		},
		{
			name: "empty collection",
			page: hal.Page{Number: 1, Size: 10, TotalItems: 0},
			want: pageLinks("page=1&per_page=10", "page=1&per_page=10", "", "", "page=1&per_page=10"),
		},
		{
			name: "past the end: prev is the last page",
			page: hal.Page{Number: 7, Size: 10, TotalItems: 25},
			want: pageLinks("page=7&per_page=10", "page=1&per_page=10", "page=3&per_page=10",
				"", "page=3&per_page=10"),
		},
		{
			name: "just past the end",
			page: hal.Page{Number: 4, Size: 10, TotalItems: 25},
			want: pageLinks("page=4&per_page=10", "page=1&per_page=10", "page=3&per_page=10",
				"", "page=3&per_page=10"),
		},
		{
			name: "past the end of an empty collection",
			page: hal.Page{Number: 2, Size: 10, TotalItems: 0},
			want: pageLinks("page=2&per_page=10", "page=1&per_page=10", "page=1&per_page=10",
				"", "page=1&per_page=10"),
		},
	})
}

func TestAddPageLinksCursors(t *testing.T) {
	t.Parallel()
	testPageLinks(t, []pageCase{
		{
			name: "cursors: self keeps its own, prev and next carry theirs, first and last none",
			page: hal.Page{Number: 5, Size: 10, TotalItems: 100, After: "40", NextAfter: "50", PrevAfter: "30"},
			want: pageLinks("after=40&page=5&per_page=10", "page=1&per_page=10", "after=30&page=4&per_page=10",
				"after=50&page=6&per_page=10", "page=10&per_page=10"),
		},
		{
			name: "cursor of a previous page that is the first",
			page: hal.Page{Number: 2, Size: 10, TotalItems: 100, After: "10", NextAfter: "20"},
			want: pageLinks("after=10&page=2&per_page=10", "page=1&per_page=10", "page=1&per_page=10",
				"after=20&page=3&per_page=10", "page=10&per_page=10"),
		},
		{
			name: "far past the end: prev is the last page, by number",
			page: hal.Page{Number: 9, Size: 10, TotalItems: 25, After: "90", PrevAfter: "80"},
			want: pageLinks("after=90&page=9&per_page=10", "page=1&per_page=10", "page=3&per_page=10",
				"", "page=3&per_page=10"),
		},
		{
			name: "a page that ends the collection has no next, whatever the total",
			page: hal.Page{Number: 4, Size: 10, TotalItems: 100, After: "30", PrevAfter: "20", End: true},
			want: pageLinks("after=30&page=4&per_page=10", "page=1&per_page=10", "after=20&page=3&per_page=10",
				"", "page=10&per_page=10"),
		},
	})
}

func TestAddPageLinksBase(t *testing.T) {
	t.Parallel()
	r := hal.New(nil).AddPageLinks("/api/users", hal.Page{Number: 1, Size: 10, TotalItems: 11})
	got, err := r.AppendJSON(nil, "/mb")
	if err != nil {
		t.Fatalf("AppendJSON() error = %v", err)
	}
	want := `{"_links":{"self":{"href":"/mb/api/users?page=1&per_page=10"},` +
		`"first":{"href":"/mb/api/users?page=1&per_page=10"},` +
		`"next":{"href":"/mb/api/users?page=2&per_page=10"},` +
		`"last":{"href":"/mb/api/users?page=2&per_page=10"}}}`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("AppendJSON() mismatch (-want +got):\n%s", diff)
	}
}
