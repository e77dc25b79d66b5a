package resources

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"

	"microblog/persistence"
)

// nested returns an object whose member "a" nests depth arrays.
func nested(depth int) string {
	return `{"a":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`
}

// TestParseObject checks the bodies parseObject accepts and that their
// members stay raw JSON.
func TestParseObject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  string
		want object
	}{
		{name: "empty object", raw: `{}`, want: object{}},
		{name: "one member", raw: `{"a":1}`, want: object{"a": json.RawMessage(`1`)}},
		{
			name: "members stay raw",
			raw:  `{"a": {"b": [1, 2]}, "c": "x", "d": null, "e": true, "f": -1.5e3}`,
			want: object{
				"a": json.RawMessage(`{"b": [1, 2]}`),
				"c": json.RawMessage(`"x"`),
				"d": json.RawMessage(`null`),
				"e": json.RawMessage(`true`),
				"f": json.RawMessage(`-1.5e3`),
			},
		},
		{name: "JSON whitespace around", raw: " \t\r\n{\"a\" : 1 }\r\n\t ", want: object{"a": json.RawMessage(`1`)}},
		{name: "duplicate member: last wins", raw: `{"a":1,"a":2}`, want: object{"a": json.RawMessage(`2`)}},
		{name: "UTF-8 text", raw: `{"about_me":"héllo ✓"}`, want: object{"about_me": json.RawMessage(`"héllo ✓"`)}},
		{name: "nested 100 deep", raw: nested(100), want: object{"a": json.RawMessage(nested(100)[5 : len(nested(100))-1])}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseObject([]byte(tt.raw))
			if err != nil {
				t.Fatalf("parseObject(%q) error = %v", trunc(tt.raw), err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseObject(%q) mismatch (-want +got):\n%s", trunc(tt.raw), diff)
			}
		})
	}
}

// TestParseObjectRejects checks that every body that is not exactly one
// JSON object gets a 400 with a detail.
func TestParseObjectRejects(t *testing.T) {
	t.Parallel()
	for _, tt := range notOneObject() {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseObject([]byte(tt.raw))
			if err == nil {
				t.Fatalf("parseObject(%q) = %v, want a 400", trunc(tt.raw), got)
			}
			if he := asHTTPError(err); he.status != http.StatusBadRequest || he.detail == "" {
				t.Fatalf("parseObject(%q) error = %v, want a 400 with a detail", trunc(tt.raw), err)
			}
		})
	}
}

// notOneObject returns bodies that parseObject must refuse: other JSON
// values, an object with something after it, malformed JSON, bad
// encodings, nesting too deep, and whitespace JSON does not allow.
func notOneObject() []struct{ name, raw string } {
	return []struct{ name, raw string }{
		{name: "null", raw: `null`},
		{name: "array", raw: `[]`},
		{name: "array of an object", raw: `[{"a":1}]`},
		{name: "string", raw: `"x"`},
		{name: "number", raw: `5`},
		{name: "true", raw: `true`},
		{name: "empty", raw: ``},
		{name: "blank", raw: `   `},
		{name: "newlines only", raw: "\r\n\t"},
		{name: "two objects", raw: `{"a":1} {"b":2}`},
		{name: "two objects, no space", raw: `{"a":1}{"b":2}`},
		{name: "trailing letter", raw: `{"a":1}x`},
		{name: "trailing bracket", raw: `{"a":1}]`},
		{name: "trailing brace", raw: `{"a":1}}`},
		{name: "trailing comma", raw: `{"a":1},`},
		{name: "trailing NUL", raw: "{\"a\":1}\x00"},
		{name: "trailing null", raw: `{"a":1} null`},
		{name: "truncated", raw: `{"a":`},
		{name: "unclosed", raw: `{"a":1`},
		{name: "just a brace", raw: `{`},
		{name: "member without value", raw: `{"a"}`},
		{name: "unquoted name", raw: `{a:1}`},
		{name: "single quotes", raw: `{'a':1}`},
		{name: "trailing comma inside", raw: `{"a":1,}`},
		{name: "leading zero", raw: `{"a":01}`},
		{name: "control character in string", raw: "{\"a\":\"x\ny\"}"},
		{name: "invalid UTF-8 in a string", raw: "{\"a\":\"\xff\"}"},
		{name: "invalid UTF-8 alone", raw: "\xff\xfe"},
		{name: "UTF-16LE object", raw: "\xff\xfe{\x00}\x00"},
		{name: "overlong UTF-8", raw: "{\"a\":\"\xc0\xaf\"}"},
		{name: "byte order mark", raw: "\xef\xbb\xbf{}"},
		{name: "nested 10001 deep", raw: nested(10001)},
		{name: "nested objects 20000 deep", raw: strings.Repeat(`{"a":`, 20000) + `1` + strings.Repeat(`}`, 20000)},
		// Only space, tab, CR and LF are JSON whitespace (RFC 8259
		// section 2); anything else around the object is not JSON.
		{name: "form feed before", raw: "\f{}"},
		{name: "vertical tab after", raw: "{}\v"},
		{name: "no-break space after", raw: "{}\u00a0"},
		{name: "next line before", raw: "\u0085{}"},
		{name: "ideographic space before", raw: "\u3000{}"},
	}
}

// trunc shortens long inputs in failure messages.
func trunc(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

func TestObjectStr(t *testing.T) {
	t.Parallel()
	ptr := func(s string) *string { return &s }
	tests := []struct {
		name     string
		body     string
		nullable bool
		want     *string
		wantErr  bool // a 400 naming about_me
	}{
		{name: "absent", body: `{"other":"x"}`, want: nil},
		{name: "absent, nullable", body: `{}`, nullable: true, want: nil},
		{name: "string", body: `{"about_me":"hello"}`, want: ptr("hello")},
		{name: "empty string", body: `{"about_me":""}`, want: ptr("")},
		{name: "escapes", body: `{"about_me":"caf\u00e9\n\"q\""}`, want: ptr("café\n\"q\"")},
		{name: "string, nullable", body: `{"about_me":"x"}`, nullable: true, want: ptr("x")},
		{name: "number", body: `{"about_me":5}`, wantErr: true},
		{name: "number, nullable", body: `{"about_me":5}`, nullable: true, wantErr: true},
		{name: "true", body: `{"about_me":true}`, wantErr: true},
		{name: "object", body: `{"about_me":{"a":"b"}}`, wantErr: true},
		{name: "array", body: `{"about_me":["a"]}`, wantErr: true},
		{name: "null, nullable", body: `{"about_me":null}`, nullable: true, want: ptr("")},
		{name: "null, spaced, nullable", body: `{"about_me" : null }`, nullable: true, want: ptr("")},
		{name: "null, not nullable", body: `{"about_me":null}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := parseObject([]byte(tt.body))
			if err != nil {
				t.Fatalf("parseObject(%q) error = %v", tt.body, err)
			}
			got, err := o.str("about_me", tt.nullable)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("str(about_me, %t) of %s = %v, want a 400", tt.nullable, tt.body, got)
				}
				he := asHTTPError(err)
				if he.status != http.StatusBadRequest || !strings.Contains(he.detail, "about_me") {
					t.Errorf("str(about_me, %t) of %s error = %v, want a 400 naming about_me", tt.nullable, tt.body, err)
				}
				var names []string
				for _, p := range he.params {
					names = append(names, p.Name)
				}
				if diff := cmp.Diff([]string{"about_me"}, names); diff != "" {
					t.Errorf("str(about_me, %t) of %s invalid_params names mismatch (-want +got):\n%s", tt.nullable, tt.body, diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("str(about_me, %t) of %s error = %v", tt.nullable, tt.body, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("str(about_me, %t) of %s mismatch (-want +got):\n%s", tt.nullable, tt.body, diff)
			}
		})
	}
}

func FuzzParseObject(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, `null`, `[]`, `"x"`, `5`, ``, `   `, `{"a":1} {"b":2}`, `{"a":1}x`, `{"a":`,
		"{\"a\":\"\xff\"}", "\xef\xbb\xbf{}", nested(50), `{"a":{"b":[1,2,{"c":null}]},"d":"\u00e9"}`,
		`{"a":1}]`, "{\"a\":1}\x00", `{"username":"susan","email":"s@example.com","password":"12345678"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		obj, err := parseObject(raw)
		if err != nil {
			if he := asHTTPError(err); he.status < 400 || he.status > 499 {
				t.Fatalf("parseObject(%q) error = %v, status %d, want a 4xx", raw, err, he.status)
			}
			return
		}
		if obj == nil {
			t.Fatalf("parseObject(%q) = nil, nil", raw)
		}
		// What is accepted must be JSON: one object and nothing else.
		if !json.Valid(raw) {
			t.Fatalf("parseObject(%q) accepted a body that is not valid JSON", raw)
		}
		b, err := json.Marshal(obj)
		if err != nil {
			t.Fatalf("parseObject(%q) = %v, which does not re-marshal: %v", raw, obj, err)
		}
		var back map[string]json.RawMessage
		if err := json.Unmarshal(b, &back); err != nil || back == nil {
			t.Fatalf("parseObject(%q) re-marshals to %s, not a JSON object: %v", raw, b, err)
		}
		if len(back) != len(obj) {
			t.Fatalf("parseObject(%q) has %d members, its re-marshalled form %d", raw, len(obj), len(back))
		}
	})
}

func TestStorePage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		page, perPage int64
		after         *persistence.Cursor
		want          persistence.Page
	}{
		{name: "first page", page: 1, perPage: 10, want: persistence.Page{Offset: 0, Limit: 10}},
		{name: "second page", page: 2, perPage: 10, want: persistence.Page{Offset: 10, Limit: 10}},
		{name: "third page of 100", page: 3, perPage: 100, want: persistence.Page{Offset: 200, Limit: 100}},
		{name: "page size one", page: 5, perPage: 1, want: persistence.Page{Offset: 4, Limit: 1}},
		{
			name: "largest offset that fits",
			page: math.MaxInt64/100 + 1, perPage: 100,
			want: persistence.Page{Offset: math.MaxInt64 / 100 * 100, Limit: 100},
		},
		{
			name: "first offset that would overflow",
			page: math.MaxInt64/100 + 2, perPage: 100,
			want: persistence.Page{Offset: math.MaxInt64, Limit: 100},
		},
		{name: "MaxInt64 pages of 100", page: math.MaxInt64, perPage: 100, want: persistence.Page{Offset: math.MaxInt64, Limit: 100}},
		{name: "MaxInt64 pages of 1", page: math.MaxInt64, perPage: 1, want: persistence.Page{Offset: math.MaxInt64 - 1, Limit: 1}},
		{name: "MaxInt64 pages of 10", page: math.MaxInt64, perPage: 10, want: persistence.Page{Offset: math.MaxInt64, Limit: 10}},
		{
			name: "a cursor, not an offset", page: 10000, perPage: 10, after: &persistence.Cursor{ID: 99990},
			want: persistence.Page{Limit: 10, After: &persistence.Cursor{ID: 99990}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := pageRequest{number: tt.page, size: tt.perPage, after: tt.after}.store()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("store() of page %d of %d mismatch (-want +got):\n%s", tt.page, tt.perPage, diff)
			}
		})
	}
}

func TestWellFormedToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		token string
		want  bool
	}{
		{token: "0123456789abcdef0123456789abcdef", want: true},
		{token: "0123456789ABCDEF0123456789ABCDEF", want: true},
		{token: "", want: false},
		{token: "0123456789abcdef0123456789abcde", want: false},   // 31
		{token: "0123456789abcdef0123456789abcdef0", want: false}, // 33
		{token: "0123456789abcdef0123456789abcdeg", want: false},
		{token: "0123456789abcdef 123456789abcdef", want: false},
		{token: "0123456789abcdef0123456789abcd\u00e9", want: false}, // 32 bytes, not hex
		{token: "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			t.Parallel()
			if got := wellFormedToken(tt.token); got != tt.want {
				t.Errorf("wellFormedToken(%q) = %t, want %t", tt.token, got, tt.want)
			}
		})
	}
}

// testContext returns a gin context for a GET of target with the given
// headers.
func testContext(t *testing.T, target string, header http.Header) *gin.Context {
	t.Helper()
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest(http.MethodGet, target, nil)
	for k, vs := range header {
		c.Request.Header[k] = vs
	}
	return c
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	const tok = "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name      string
		header    http.Header
		wantToken string
		wantOK    bool
	}{
		{name: "missing header", header: nil, wantToken: "", wantOK: false},
		{name: "empty header", header: http.Header{"Authorization": {""}}, wantToken: "", wantOK: false},
		{name: "Bearer", header: http.Header{"Authorization": {"Bearer " + tok}}, wantToken: tok, wantOK: true},
		{name: "lower case scheme", header: http.Header{"Authorization": {"bearer x"}}, wantToken: "x", wantOK: true},
		{name: "upper case scheme", header: http.Header{"Authorization": {"BEARER x"}}, wantToken: "x", wantOK: true},
		{name: "extra spaces", header: http.Header{"Authorization": {"Bearer   x  "}}, wantToken: "x", wantOK: true},
		{name: "malformed token returned as is", header: http.Header{"Authorization": {"Bearer not-a-token!"}}, wantToken: "not-a-token!", wantOK: true},
		{name: "scheme without token", header: http.Header{"Authorization": {"Bearer"}}, wantToken: "", wantOK: true},
		{name: "Basic", header: http.Header{"Authorization": {"Basic x"}}, wantToken: "", wantOK: false},
		{name: "Basic with real credentials", header: http.Header{"Authorization": {"Basic c3VzYW46cGFzc3dvcmQ="}}, wantToken: "", wantOK: false},
		{name: "other scheme", header: http.Header{"Authorization": {"Token x"}}, wantToken: "", wantOK: false},
		{name: "scheme glued to token", header: http.Header{"Authorization": {"Bearerx"}}, wantToken: "", wantOK: false},
		{name: "token alone", header: http.Header{"Authorization": {tok}}, wantToken: "", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := testContext(t, "/api/me", tt.header)
			token, ok := bearerToken(c)
			if token != tt.wantToken || ok != tt.wantOK {
				t.Errorf("bearerToken(Authorization: %q) = %q, %t, want %q, %t",
					tt.header.Get("Authorization"), token, ok, tt.wantToken, tt.wantOK)
			}
		})
	}
}

// pageParamsCase is a query string and what pageParams makes of it.
type pageParamsCase struct {
	query       string
	wantPage    int64
	wantPerPage int64
	wantAfter   *persistence.Cursor
	wantParam   string // the field a 400 names; "" for success
}

// TestPageParams checks page and per_page: their defaults, the cap on
// per_page, and a 400 naming the first one that is not a positive integer.
func TestPageParams(t *testing.T) {
	t.Parallel()
	checkPageParams(t, []pageParamsCase{
		{query: "", wantPage: 1, wantPerPage: 10},
		{query: "other=x", wantPage: 1, wantPerPage: 10},
		{query: "page=2", wantPage: 2, wantPerPage: 10},
		{query: "page=1", wantPage: 1, wantPerPage: 10},
		{query: "page=9223372036854775807", wantPage: math.MaxInt64, wantPerPage: 10},
		{query: "page=2&page=3", wantPage: 2, wantPerPage: 10},
		{query: "per_page=25", wantPage: 1, wantPerPage: 25},
		{query: "page=3&per_page=1", wantPage: 3, wantPerPage: 1},
		{query: "per_page=100", wantPage: 1, wantPerPage: 100},
		{query: "per_page=101", wantPage: 1, wantPerPage: 100},
		{query: "per_page=1000", wantPage: 1, wantPerPage: 100},
		{query: "per_page=9223372036854775807", wantPage: 1, wantPerPage: 100},
		{query: "per_page=99999999999999999999", wantPage: 1, wantPerPage: 100},
		{query: "page=0", wantParam: "page"},
		{query: "page=-1", wantParam: "page"},
		{query: "page=abc", wantParam: "page"},
		{query: "page=1.5", wantParam: "page"},
		{query: "page=", wantParam: "page"},
		{query: "page=1e3", wantParam: "page"},
		{query: "page=0x10", wantParam: "page"},
		{query: "page=99999999999999999999", wantParam: "page"},
		{query: "page=-99999999999999999999", wantParam: "page"},
		{query: "page=2&per_page=abc", wantParam: "per_page"},
		{query: "per_page=0", wantParam: "per_page"},
		{query: "per_page=-1", wantParam: "per_page"},
		{query: "per_page=abc", wantParam: "per_page"},
		{query: "per_page=", wantParam: "per_page"},
		{query: "per_page=2.5", wantParam: "per_page"},
		{query: "per_page=-99999999999999999999", wantParam: "per_page"},
		// Not integers, however large their leading digits.
		{query: "per_page=99999999999999999999abc", wantParam: "per_page"},
		{query: "per_page=99999999999999999999.5", wantParam: "per_page"},
		{query: "page=abc&per_page=abc", wantParam: "page"},
	})
}

// TestPageParamsAfter checks the after cursor, alone and with a page (a
// bad page is named before a bad cursor).
func TestPageParamsAfter(t *testing.T) {
	t.Parallel()
	checkPageParams(t, []pageParamsCase{
		// Cursors: an id, or microseconds since 1970, a dot and an id.
		{query: "page=3&after=42", wantPage: 3, wantPerPage: 10, wantAfter: &persistence.Cursor{ID: 42}},
		{query: "after=007", wantPage: 1, wantPerPage: 10, wantAfter: &persistence.Cursor{ID: 7}},
		{query: "after=1767225600000001.9", wantPage: 1, wantPerPage: 10,
			wantAfter: &persistence.Cursor{At: time.Date(2026, 1, 1, 0, 0, 0, 1000, time.UTC), ID: 9}},
		{query: "after=-1000000.3", wantPage: 1, wantPerPage: 10,
			wantAfter: &persistence.Cursor{At: time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), ID: 3}},
		{query: "after=9223372036854775807", wantPage: 1, wantPerPage: 10, wantAfter: &persistence.Cursor{ID: math.MaxInt64}},
		{query: "after=", wantParam: "after"},
		{query: "after=abc", wantParam: "after"},
		{query: "after=-1", wantParam: "after"},
		{query: "after=%2B1", wantParam: "after"},
		{query: "after=1.2.3", wantParam: "after"},
		{query: "after=1.", wantParam: "after"},
		{query: "after=.1", wantParam: "after"},
		{query: "after=1%201", wantParam: "after"},
		{query: "after=9223372036854775808", wantParam: "after"},
		{query: "after=99999999999999999999", wantParam: "after"},
		// Times PostgreSQL cannot hold: after the year 9999, before the year 1.
		{query: "after=253402300800000000.1", wantParam: "after"},
		{query: "after=-62135596800000001.1", wantParam: "after"},
		{query: "page=0&after=1", wantParam: "page"},
	})
}

// checkPageParams runs pageParams on each case's query, in parallel
// subtests named by the query.
func checkPageParams(t *testing.T, tests []pageParamsCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			c := testContext(t, "/api/users?"+tt.query, nil)
			p, err := pageParams(c)
			if tt.wantParam != "" {
				if err == nil {
					t.Fatalf("pageParams(?%s) = %+v, want a 400 naming %s", tt.query, p, tt.wantParam)
				}
				he := asHTTPError(err)
				if he.status != http.StatusBadRequest || len(he.params) != 1 || he.params[0].Name != tt.wantParam {
					t.Errorf("pageParams(?%s) error = %v (params %v), want a 400 naming %s", tt.query, err, he.params, tt.wantParam)
				}
				return
			}
			if err != nil {
				t.Fatalf("pageParams(?%s) error = %v", tt.query, err)
			}
			if p.number != tt.wantPage || p.size != tt.wantPerPage || !cmp.Equal(p.after, tt.wantAfter) {
				t.Errorf("pageParams(?%s) = %d, %d, %v, want %d, %d, %v", tt.query, p.number, p.size, p.after,
					tt.wantPage, tt.wantPerPage, tt.wantAfter)
			}
			if p.after != nil && formatCursor(p.after) != strings.TrimLeft(c.Query("after"), "0") {
				t.Errorf("formatCursor(%+v) = %q, want the query's %q", p.after, formatCursor(p.after), c.Query("after"))
			}
		})
	}
}
