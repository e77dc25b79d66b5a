package resources

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// FuzzPageParams feeds arbitrary query strings to the page parameter
// parser: it never panics, accepts only pages from 1 and sizes from 1 to
// 100 and cursors it writes back as they were read, and refuses the rest
// with a 400 naming the parameter.
func FuzzPageParams(f *testing.F) {
	for _, q := range []string{"", "page=2", "per_page=1000", "page=0", "per_page=-1", "page=abc",
		"page=99999999999999999999", "per_page=99999999999999999999", "page=1&page=2", "page=%00", "per_page=1e3",
		"page=2&after=42", "after=1767225600000001.9", "after=-1.1", "after=1.2.3", "after=253402300800000000.1"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, query string) {
		if _, err := url.ParseQuery(query); err != nil {
			return // net/http would not get this far either
		}
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/api/users", RawQuery: query}}
		p, err := pageParams(c)
		if err != nil {
			he := asHTTPError(err)
			if he.status != http.StatusBadRequest || len(he.params) != 1 {
				t.Fatalf("pageParams(%q): %v", query, err)
			}
			return
		}
		if p.number < 1 || p.size < 1 || p.size > 100 {
			t.Fatalf("pageParams(%q) = %+v", query, p)
		}
		if sp := p.store(); sp.Offset < 0 || sp.Limit != p.size {
			t.Fatalf("store() of %+v = %+v", p, sp)
		}
		// A cursor the server accepts, it writes back the same.
		if p.after != nil {
			back, err := parseCursor(formatCursor(p.after))
			if err != nil || *back != *p.after {
				t.Fatalf("cursor %+v of %q written as %q reads back as %v, %v", *p.after, query, formatCursor(p.after), back, err)
			}
		}
	})
}

// FuzzAuthorization feeds arbitrary Authorization headers to the bearer
// and Basic parsers: no panic, and a token accepted as well formed is
// exactly 32 hex digits.
func FuzzAuthorization(f *testing.F) {
	for _, h := range []string{"", "Bearer 0123456789abcdef0123456789abcdef", "bearer 0123456789ABCDEF0123456789abcdef",
		"Bearer", "Bearer ", "Basic c3VzYW46Y2F0", "Basic !!!", "Digest x", "Bearer a b", "Bearer \x00"} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, header string) {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/api/me"}, Header: http.Header{}}
		c.Request.Header.Set("Authorization", header)
		token, ok := bearerToken(c)
		if ok && !strings.HasPrefix(strings.ToLower(header), "bearer") {
			t.Fatalf("bearerToken(%q) = %q without a Bearer scheme", header, token)
		}
		if wellFormedToken(token) {
			if len(token) != 32 || strings.Trim(strings.ToLower(token), "0123456789abcdef") != "" {
				t.Fatalf("wellFormedToken(%q) is true", token)
			}
		}
		c.Request.BasicAuth()
	})
}

// FuzzWriteHeaders feeds arbitrary Prefer and X-Forwarded-For values to
// their parsers: returnPreference never panics and finds a preference
// only where the header names one, and dropForwardedPorts keeps every
// entry, drops only ports, and changes nothing the second time.
func FuzzWriteHeaders(f *testing.F) {
	for _, s := range []string{"", "return=minimal", `RETURN = "Representation"; x=1`, "respond-async, return=minimal",
		"return", "return=", ",,,", "192.0.2.7:4711", "[2001:db8::7]:4711, 198.51.100.1", "a:b:c, :80,", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = &http.Request{Method: http.MethodPost, Header: http.Header{"Prefer": {value}, "X-Forwarded-For": {value}}}
		if pref := returnPreference(c); !strings.Contains(strings.ToLower(value), "return") && pref != "" {
			t.Fatalf("returnPreference(%q) = %q, from a header that names no return preference", value, pref)
		}
		dropForwardedPorts(c)
		once := c.Request.Header.Get("X-Forwarded-For")
		if strings.Count(once, ",") != strings.Count(value, ",") {
			t.Fatalf("dropForwardedPorts(%q) = %q: entries lost or added", value, once)
		}
		dropForwardedPorts(c)
		if twice := c.Request.Header.Get("X-Forwarded-For"); twice != once {
			t.Fatalf("dropForwardedPorts(%q): %q, then %q", value, once, twice)
		}
	})
}

// FuzzSearchParams feeds arbitrary query strings to the parser of a
// search's q and page, with either search's cursors: no panic, a q of 1 to
// maxQuery characters of text, trimmed, cursors written back as they were
// read, and the rest refused with a 400 naming one parameter.
func FuzzSearchParams(f *testing.F) {
	for _, q := range []string{"", "q=", "q=%20", "q=sue", "q=a%00b", "q=%ff", "q=sue&after=1~suez", "q=x&after=2~A",
		"q=cat&after=0.0607927~1767225600000001.9", "q=cat&after=NaN~1.1", "q=cat&after=-1~1.1", "q=cat&after=1e40~1.1",
		"q=cat&after=0x1p-2~1.1", "q=%22a%22+or+-b"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, query string) {
		if _, err := url.ParseQuery(query); err != nil {
			return
		}
		for _, format := range []*cursorFormat{&nameCursors, &rankCursors} {
			c, _ := gin.CreateTestContext(httptest.NewRecorder())
			c.Request = &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/api/search/posts", RawQuery: query}}
			q, p, err := searchParams(c, format)
			if err != nil {
				if he := asHTTPError(err); he.status != http.StatusBadRequest || len(he.params) != 1 {
					t.Fatalf("searchParams(%q): %v", query, err)
				}
				continue
			}
			if n := utf8.RuneCountInString(q); n < 1 || n > maxQuery || trimSpace(q) != q || !text(q) {
				t.Fatalf("searchParams(%q) took q %q", query, q)
			}
			if p.after != nil {
				back, err := format.parse(format.format(p.after))
				if err != nil || *back != *p.after {
					t.Fatalf("cursor %+v of %q written as %q reads back as %v, %v", *p.after, query, format.format(p.after), back, err)
				}
			}
		}
	})
}

// FuzzPasswordReset feeds arbitrary bodies to the reader of a POST of the
// password reset resource: it never panics; what it accepts is an email
// address alone, or a token of 64 lower-case hex digits with a password of
// the registration's rules; everything else is a 400.
func FuzzPasswordReset(f *testing.F) {
	for _, b := range []string{`{"email": "susan@example.com"}`, `{"token": "` + strings.Repeat("aB", 32) + `", "password": "long-enough"}`,
		`{}`, `{"email": 1}`, `{"email": null}`, `{"token": "x", "password": "long-enough"}`, `{"email": "a@b", "token": ""}`,
		`{"token": "` + strings.Repeat("0", 64) + `", "password": "\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000"}`, `[]`, `"x"`} {
		f.Add(b)
	}
	h, err := newHandler(nil, Config{MinPasswordLength: 8})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		obj, err := parseObject([]byte(body))
		if err != nil {
			return
		}
		in, err := h.readReset(obj)
		if err != nil {
			if he := asHTTPError(err); he.status != http.StatusBadRequest {
				t.Fatalf("readReset(%s): %d %v", body, he.status, err)
			}
			return
		}
		switch {
		case in.email != "":
			if in.token != "" || in.password != "" || h.fields.email.check(in.email) != "" {
				t.Fatalf("readReset(%s) = %+v", body, in)
			}
		case len(in.token) != 64 || strings.Trim(in.token, "0123456789abcdef") != "" || h.fields.password.check(in.password) != "":
			t.Fatalf("readReset(%s) = %+v", body, in)
		}
	})
}
