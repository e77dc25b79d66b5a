// Package hal builds HAL documents (draft-kelly-json-hal) and their HAL-FORMS
// extension: resources with properties, _links and _embedded, curies,
// templated links and paging links.
//
// A Resource keeps its rels in the order they were added, so that rendered
// documents are stable, and keeps each rel either a single object or an array
// for its whole life, as HAL clients expect.
package hal

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/yosida95/uritemplate/v3"
)

// Media types this package produces.
const (
	// MediaType is the HAL media type.
	MediaType = "application/hal+json"
	// FormsMediaType is the HAL-FORMS media type.
	FormsMediaType = "application/prs.hal-forms+json"
)

// Link is a HAL link object with every attribute the HAL draft defines.
type Link struct {
	Href        string `json:"href"`
	Templated   bool   `json:"templated,omitempty"`
	Type        string `json:"type,omitempty"`
	Deprecation string `json:"deprecation,omitempty"`
	Name        string `json:"name,omitempty"`
	Profile     string `json:"profile,omitempty"`
	Title       string `json:"title,omitempty"`
	Hreflang    string `json:"hreflang,omitempty"`
}

// Templated returns a templated link to href, which must be an RFC 6570
// URI template.
func Templated(href string) (Link, error) {
	if _, err := uritemplate.New(href); err != nil {
		return Link{}, fmt.Errorf("hal: template %q: %w", href, err)
	}
	return Link{Href: href, Templated: true}, nil
}

// MustTemplated is like Templated but panics on a malformed template. It
// is meant for templates written in the source, which tests exercise.
func MustTemplated(href string) Link {
	l, err := Templated(href)
	if err != nil {
		panic(err)
	}
	return l
}

// relOf is a rel of a resource's _links or _embedded and what it holds:
// one item, rendered as an object, or many, rendered as an array.
type relOf[T any] struct {
	rel   string
	items []T
	many  bool
}

// findRel returns the entry of rel in rels, added at the end when missing,
// or nil when rel is there already as an object, or in the other form.
func findRel[T any](rels *[]relOf[T], rel string, many bool) *relOf[T] {
	for i := range *rels {
		if (*rels)[i].rel == rel {
			if (*rels)[i].many != many || !many {
				return nil
			}
			return &(*rels)[i]
		}
	}
	*rels = append(*rels, relOf[T]{rel: rel, many: many})
	return &(*rels)[len(*rels)-1]
}

// Resource is a HAL resource: a JSON object of properties with _links and
// _embedded. The zero value is not usable; call New.
type Resource struct {
	props     any
	links     []relOf[Link]
	embedded  []relOf[*Resource]
	templates []namedTemplate
	err       error
	// shared, when set, is rendered first: its properties before props,
	// its links before links (Shared.With).
	shared *Shared
}

// New returns a resource whose properties are the members of props, which
// must marshal to a JSON object (a struct or a map), or be nil for none.
func New(props any) *Resource {
	return &Resource{props: props}
}

func (r *Resource) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("hal: "+format, args...)
	}
}

func (r *Resource) linkRel(rel string, many bool) *relOf[Link] {
	if r.links == nil {
		// Room for a user's seven rels, which would otherwise be grown
		// into four times.
		r.links = make([]relOf[Link], 0, 8)
	}
	lr := findRel(&r.links, rel, many)
	if lr == nil {
		r.fail("rel %q added twice or as both object and array", rel)
	}
	return lr
}

// AddLink sets rel to the single link l. A rel added with AddLink is always
// rendered as an object; adding it again is an error reported by MarshalJSON.
func (r *Resource) AddLink(rel string, l Link) *Resource {
	if lr := r.linkRel(rel, false); lr != nil {
		lr.items = []Link{l}
	}
	return r
}

// AddLinks appends links to rel, which is always rendered as an array, even
// when it holds one link or none.
func (r *Resource) AddLinks(rel string, links ...Link) *Resource {
	if lr := r.linkRel(rel, true); lr != nil {
		lr.items = append(lr.items, links...)
	}
	return r
}

// AddCurie adds a CURIE named name whose templated href has a {rel}
// variable, to the "curies" array.
func (r *Resource) AddCurie(name, href string) *Resource {
	l, err := Templated(href)
	if err != nil {
		r.fail("curie %q: %v", name, err)
		return r
	}
	l.Name = name
	return r.AddLinks("curies", l)
}

func (r *Resource) embedRel(rel string, many bool) *relOf[*Resource] {
	er := findRel(&r.embedded, rel, many)
	if er == nil {
		r.fail("embedded rel %q added twice or as both object and array", rel)
	}
	return er
}

// Embed embeds the single resource e under rel.
func (r *Resource) Embed(rel string, e *Resource) *Resource {
	if e == nil {
		r.fail("embedded rel %q: nil resource", rel)
		return r
	}
	if er := r.embedRel(rel, false); er != nil {
		er.items = []*Resource{e}
	}
	return r
}

// EmbedAll embeds es under rel as an array, which is rendered even when
// empty, so that a client always finds the rel of a collection.
func (r *Resource) EmbedAll(rel string, es []*Resource) *Resource {
	if slices.Contains(es, nil) {
		r.fail("embedded rel %q: nil resource", rel)
		return r
	}
	if er := r.embedRel(rel, true); er != nil {
		er.items = append(er.items, es...)
	}
	return r
}

// MarshalJSON renders the resource with hrefs as they were given.
func (r *Resource) MarshalJSON() ([]byte, error) {
	return r.AppendJSON(nil, "")
}

// AppendJSON appends the rendered resource to dst. Every href that is an
// absolute path ("/api/...") is prefixed with base, which is "" unless the
// server is mounted below a path prefix.
func (r *Resource) AppendJSON(dst []byte, base string) ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	start := len(dst)
	var err error
	if r.shared != nil {
		dst, err = r.appendSharedProps(dst)
	} else {
		dst, err = r.appendProps(dst)
	}
	if err != nil {
		return nil, err
	}
	sep := len(dst)-start > 2
	dst = dst[:len(dst)-1] // reopen the object
	switch {
	case r.shared != nil && (len(r.shared.links) > 0 || len(r.links) > 0):
		if sep {
			dst = append(dst, ',')
		}
		dst, sep = r.appendSharedLinks(append(dst, `"_links":`...), base), true
	case len(r.links) > 0:
		if sep {
			dst = append(dst, ',')
		}
		dst, sep = r.appendLinks(append(dst, `"_links":`...), base), true
	}
	if len(r.embedded) > 0 {
		if sep {
			dst = append(dst, ',')
		}
		if dst, err = r.appendEmbedded(append(dst, `"_embedded":`...), base); err != nil {
			return nil, err
		}
	}
	return append(dst, '}'), nil
}

// appendProps appends the properties, which must be a JSON object.
func (r *Resource) appendProps(dst []byte) ([]byte, error) {
	start := len(dst)
	if r.props == nil {
		return append(dst, "{}"...), nil
	}
	dst, err := appendMarshal(dst, r.props)
	if err != nil {
		return nil, fmt.Errorf("hal: properties: %w", err)
	}
	if props := dst[start:]; len(props) < 2 || props[0] != '{' {
		return nil, fmt.Errorf("hal: properties must be a JSON object, got %.20s", props)
	}
	return dst, nil
}

// appendLinks appends the object of the links, by rel.
func (r *Resource) appendLinks(dst []byte, base string) []byte {
	dst, _ = appendRels(dst, r.links, func(dst []byte, l Link) ([]byte, error) {
		return appendLink(dst, l, base), nil
	})
	return dst
}

// appendEmbedded appends the object of the embedded resources, by rel.
func (r *Resource) appendEmbedded(dst []byte, base string) ([]byte, error) {
	return appendRels(dst, r.embedded, func(dst []byte, e *Resource) ([]byte, error) {
		return e.AppendJSON(dst, base)
	})
}

// appendRels appends an object of rels, each an object or an array of
// items that item appends.
func appendRels[T any](dst []byte, rels []relOf[T], item func([]byte, T) ([]byte, error)) ([]byte, error) {
	dst, err := appendRelMembers(append(dst, '{'), rels, item)
	if err != nil {
		return nil, err
	}
	return append(dst, '}'), nil
}

// appendRelMembers appends the members of the object of rels, without its
// braces.
func appendRelMembers[T any](dst []byte, rels []relOf[T], item func([]byte, T) ([]byte, error)) ([]byte, error) {
	return appendRelMembersAfter(dst, rels, false, item)
}

// appendRelMembersAfter is appendRelMembers after members already there
// when after is true.
func appendRelMembersAfter[T any](dst []byte, rels []relOf[T], after bool, item func([]byte, T) ([]byte, error)) ([]byte, error) {
	for i, rl := range rels {
		if i > 0 || after {
			dst = append(dst, ',')
		}
		dst = append(appendString(dst, rl.rel), ':')
		if rl.many {
			dst = append(dst, '[')
		}
		for j, it := range rl.items {
			if j > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = item(dst, it); err != nil {
				return nil, err
			}
		}
		if rl.many {
			dst = append(dst, ']')
		}
	}
	return dst, nil
}

// appendLink appends l as appendMarshal would, with base put before an
// absolute-path href, but without the reflection and allocations of
// encoding/json: a page of a collection has hundreds of links.
func appendLink(dst []byte, l Link, base string) []byte {
	dst = append(dst, `{"href":"`...)
	if isPath(l.Href) {
		// Escaped apart, base and href give the bytes base+href would: href
		// starts with '/', which cannot continue a rune that base leaves
		// unfinished.
		dst = appendEscaped(dst, base)
	}
	dst = appendEscaped(dst, l.Href)
	dst = append(dst, '"')
	if l.Templated {
		dst = append(dst, `,"templated":true`...)
	}
	dst = appendMember(dst, "type", l.Type)
	dst = appendMember(dst, "deprecation", l.Deprecation)
	dst = appendMember(dst, "name", l.Name)
	dst = appendMember(dst, "profile", l.Profile)
	dst = appendMember(dst, "title", l.Title)
	dst = appendMember(dst, "hreflang", l.Hreflang)
	return append(dst, '}')
}

// appendMember appends ,"name":"value" unless value is empty, as omitempty
// does.
func appendMember(dst []byte, name, value string) []byte {
	if value == "" {
		return dst
	}
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return appendString(dst, value)
}

// appendString appends s as a JSON string, with the bytes appendMarshal
// would give it.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

// appendEscaped appends s escaped as encoding/json escapes a string when
// SetEscapeHTML is false: quote, backslash and control characters, invalid
// UTF-8 as U+FFFD, and U+2028 and U+2029, which JavaScript forbids in
// strings.
func appendEscaped(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= ' ' && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(dst, s[start:]...)
}

// appender is an io.Writer that appends to b.
type appender struct{ b []byte }

func (a *appender) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

// encoder is a json.Encoder writing to its appender; encoders keeps them
// between values, which saves allocating both for each one.
type encoder struct {
	appender
	enc *json.Encoder
}

// encoders is package state as the pools of encoding/json are: it holds
// no values, only encoders ready for the next.
var encoders = sync.Pool{New: func() any {
	e := new(encoder)
	e.enc = json.NewEncoder(&e.appender)
	e.enc.SetEscapeHTML(false)
	return e
}}

// appendMarshal appends the JSON of v to dst. It is json.Marshal without
// escaping &, < and >: HAL documents are not embedded in HTML, and "&amp;"
// in an href is noise to every reader.
func appendMarshal(dst []byte, v any) ([]byte, error) {
	e := encoders.Get().(*encoder)
	defer encoders.Put(e)
	e.b = dst
	err := e.enc.Encode(v)
	dst, e.b = e.b, nil // the pool must not keep the caller's buffer
	if err != nil {
		return nil, err
	}
	return dst[:len(dst)-1], nil // Encode ends the value with a newline
}
