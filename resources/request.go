package resources

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"microblog/hal"
	"microblog/persistence"
)

// Media types a request body may have. merge-patch is for PATCH only.
const (
	jsonType       = "application/json"
	mergePatchType = "application/merge-patch+json"
)

// writeTypes are the media types a PUT or PATCH body may have.
func writeTypes(c *gin.Context) []string {
	if c.Request.Method == http.MethodPatch {
		return []string{jsonType, hal.MediaType, mergePatchType}
	}
	return []string{jsonType, hal.MediaType}
}

// object is a decoded JSON request body: its members, each still raw.
type object map[string]json.RawMessage

// decodeObject reads a request body that must be a JSON object of at most
// 1 MiB in one of the accepted media types.
func decodeObject(c *gin.Context, accepted ...string) (object, error) {
	mt, params, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || !slices.Contains(accepted, mt) {
		e := newError(http.StatusUnsupportedMediaType,
			"request body must be one of "+strings.Join(accepted, ", "))
		if c.Request.Method == http.MethodPatch {
			e = e.with("Accept-Patch", strings.Join(accepted, ", "))
		}
		return nil, e
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, newError(http.StatusUnsupportedMediaType, "request body must be UTF-8")
	}
	if c.Request.ContentLength > maxBody {
		return nil, tooLarge()
	}
	raw, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, tooLarge()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, newError(http.StatusRequestTimeout, "the request body did not arrive in time")
	}
	if err != nil {
		return nil, badRequest("could not read the request body")
	}
	bodyRead(c)
	return parseObject(raw)
}

func tooLarge() *httpError {
	return newError(http.StatusRequestEntityTooLarge, "request body must be at most 1 MiB")
}

// parseObject decodes raw as one JSON object and nothing after it.
func parseObject(raw []byte) (object, error) {
	if !utf8.Valid(raw) {
		return nil, badRequest("request body must be UTF-8")
	}
	// Only JSON's own whitespace may surround the value.
	trimmed := bytes.TrimLeft(raw, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, badRequest("request body must be a JSON object, and it is empty")
	}
	if trimmed[0] != '{' {
		return nil, badRequest("request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	var obj object
	if err := dec.Decode(&obj); err != nil {
		return nil, badRequest("request body is not valid JSON: " + jsonProblem(err))
	}
	if dec.More() {
		return nil, badRequest("request body must hold one JSON object and nothing after it")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("request body must hold one JSON object and nothing after it")
	}
	return obj, nil
}

// jsonProblem says what is wrong with malformed JSON without echoing Go
// type names.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "syntax error at byte " + strconv.FormatInt(se.Offset, 10)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return "malformed"
}

// str returns member name as a string, nil when it is absent. A member that
// is not a string, or that holds U+0000 (which no text column stores), is a
// 400 naming it; null is allowed only where nullable (a merge patch
// removing an optional member), and reads as "".
func (o object) str(name string, nullable bool) (*string, error) {
	raw, ok := o[name]
	if !ok {
		return nil, nil
	}
	if string(raw) == "null" {
		if nullable {
			empty := ""
			return &empty, nil
		}
		return nil, fieldError(name, name+" must be a string")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fieldError(name, name+" must be a string")
	}
	if strings.ContainsRune(s, 0) {
		return nil, fieldError(name, name+" must not contain U+0000 (NUL)")
	}
	return &s, nil
}

// text reports whether s is valid UTF-8 without U+0000: text PostgreSQL can
// store and compare.
func text(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// pageRequest is the page a collection request asks for: its number and
// size, and the cursor of a next or prev link, which the page starts after.
type pageRequest struct {
	number, size int64
	after        *persistence.Cursor
	// cursors is the format of the list's cursors; the zero value is
	// listCursors.
	cursors *cursorFormat
	// query holds the parameters that pick the list, which its links keep.
	query url.Values
}

// pageParams reads page, per_page and after from the query string: page >=
// 1 (default 1), per_page >= 1 (default 10, above 100 taken as 100), after
// a cursor as formatCursor writes them.
func pageParams(c *gin.Context) (pageRequest, error) { return pageParamsIn(c, nil) }

// pageParamsIn is pageParams for a list whose cursors are in format f (nil
// for listCursors).
func pageParamsIn(c *gin.Context, f *cursorFormat) (pageRequest, error) {
	p := pageRequest{number: 1, size: 10, cursors: f}
	if v, ok := c.GetQuery("page"); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return pageRequest{}, fieldError("page", "page must be a positive integer")
		}
		p.number = n
	}
	if v, ok := c.GetQuery("per_page"); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if errors.Is(err, strconv.ErrRange) && digits.MatchString(v) {
			n, err = 100, nil // a huge page size is still a page size
		}
		if err != nil || n < 1 {
			return pageRequest{}, fieldError("per_page", "per_page must be a positive integer")
		}
		p.size = min(n, 100)
	}
	if v, ok := c.GetQuery("after"); ok {
		cur, err := p.format().parse(v)
		if err != nil {
			return pageRequest{}, fieldError("after", "after must be a cursor from a next or prev link")
		}
		p.after = cur
	}
	return p, nil
}

var digits = regexp.MustCompile(`^[0-9]+$`)

// store turns the page into what the store reads: the items after the
// cursor, or, without one, after an offset that cannot overflow.
func (p pageRequest) store() persistence.Page {
	if p.after != nil {
		return persistence.Page{Limit: p.size, After: p.after}
	}
	offset := int64(1<<63 - 1)
	if p.number-1 <= offset/p.size {
		offset = (p.number - 1) * p.size
	}
	return persistence.Page{Offset: offset, Limit: p.size}
}

// hal describes the page for its links and _meta, given what the store
// said of it and how many items it has: a page with fewer items than its
// size ends the list. The previous page's cursor is used only on a page
// read by cursor, and not for page 1, which is the head of the list by
// definition; elsewhere the previous page is found by its number.
func (p pageRequest) hal(l persistence.Listing, items int) hal.Page {
	f := p.format()
	hp := hal.Page{Number: p.number, Size: p.size, TotalItems: l.Total, Query: p.query,
		After: f.format(p.after), NextAfter: f.format(l.Next), End: int64(items) < p.size}
	if p.after != nil && p.number > 2 {
		hp.PrevAfter = f.format(l.Prev)
	}
	return hp
}

// format is the format of the list's cursors.
func (p pageRequest) format() *cursorFormat {
	if p.cursors == nil {
		return &listCursors
	}
	return p.cursors
}

// A cursorFormat reads and writes the cursors of a kind of list: format
// writes "" for no cursor.
type cursorFormat struct {
	parse  func(string) (*persistence.Cursor, error)
	format func(*persistence.Cursor) string
}

// listCursors are those of the lists by id or newest first.
var listCursors = cursorFormat{parse: parseCursor, format: formatCursor}

// A cursor is the id of an item, for the list of users, or the time of the
// item in microseconds since 1970, a dot and the id, for the lists sorted
// newest first. Clients get them from links and need not read them.
var cursorPattern = regexp.MustCompile(`^(?:(-?[0-9]{1,18})\.)?([0-9]{1,19})$`)

// The times of cursors are those of the years 1 to 9999, which PostgreSQL
// and time.Time both hold: from 0001-01-01 (included) to 10000-01-01, in
// microseconds since 1970.
const (
	firstCursorTime = -62135596800000000
	endCursorTime   = 253402300800000000
)

func parseCursor(v string) (*persistence.Cursor, error) {
	m := cursorPattern.FindStringSubmatch(v)
	if m == nil {
		return nil, errors.New("malformed cursor")
	}
	id, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil {
		return nil, err
	}
	cur := &persistence.Cursor{ID: id}
	if m[1] != "" {
		us, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || us < firstCursorTime || us >= endCursorTime {
			return nil, errors.New("cursor time out of range")
		}
		cur.At = time.UnixMicro(us).UTC()
	}
	return cur, nil
}

func formatCursor(cur *persistence.Cursor) string {
	switch {
	case cur == nil:
		return ""
	case cur.At.IsZero():
		return strconv.FormatInt(cur.ID, 10)
	default:
		return strconv.FormatInt(cur.At.UnixMicro(), 10) + "." + strconv.FormatInt(cur.ID, 10)
	}
}
