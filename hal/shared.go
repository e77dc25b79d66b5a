package hal

import "errors"

// Shared is the part of a resource that many documents show alike,
// rendered once: its properties and its links, each left open so that a
// document can add members of its own (what differs by viewer, say) and
// reuse the rest as bytes. It is rendered for one base (see AppendJSON)
// and must be used with that base.
type Shared struct {
	props []byte // `{"a":1,"b":2` or `{`
	links []byte // `"self":{...},"x":{...}` or empty
}

// Share renders r, which must have neither embedded resources nor
// templates, as a Shared for base.
func (r *Resource) Share(base string) (*Shared, error) {
	if r.err != nil {
		return nil, r.err
	}
	if len(r.embedded) > 0 || len(r.templates) > 0 {
		return nil, errors.New("hal: a shared resource has only properties and links")
	}
	props, err := r.appendProps(nil)
	if err != nil {
		return nil, err
	}
	links, _ := appendRelMembers(nil, r.links, func(dst []byte, l Link) ([]byte, error) {
		return appendLink(dst, l, base), nil
	})
	return &Shared{props: props[:len(props)-1], links: links}, nil
}

// Size is how many bytes s holds.
func (s *Shared) Size() int { return len(s.props) + len(s.links) }

// With returns a resource that renders as s, with the members of props (a
// JSON object, or nil) after s's properties; links added to it come after
// s's links, and resources embedded in it after those.
func (s *Shared) With(props any) *Resource {
	// Room for the rels a viewer adds to a shared item (a user's edit and
	// sessions, or follow), where linkRel would make room for eight: 30 of
	// the 160 KB a GET of a page of 100 users allocated
	// (BenchmarkListUsers, less the test's recorder).
	return &Resource{props: props, shared: s, links: make([]relOf[Link], 0, 2)}
}

// appendSharedProps appends the properties of r, which uses shared: those
// of shared, then r's own.
func (r *Resource) appendSharedProps(dst []byte) ([]byte, error) {
	dst = append(dst, r.shared.props...)
	if r.props == nil {
		return append(dst, '}'), nil
	}
	start := len(dst)
	dst, err := r.appendProps(dst)
	if err != nil {
		return nil, err
	}
	own := dst[start:]
	if len(own) == 2 { // {}
		return append(dst[:start], '}'), nil
	}
	// {"own":1} after {"a":1 becomes ,"own":1}, or "own":1} after {.
	if len(r.shared.props) > 1 {
		own[0] = ','
		return dst, nil
	}
	return append(dst[:start], own[1:]...), nil
}

// appendSharedLinks appends the links of r, which uses shared: those of
// shared, then r's own.
func (r *Resource) appendSharedLinks(dst []byte, base string) []byte {
	dst = append(append(dst, '{'), r.shared.links...)
	dst, _ = appendRelMembersAfter(dst, r.links, len(r.shared.links) > 0, func(dst []byte, l Link) ([]byte, error) {
		return appendLink(dst, l, base), nil
	})
	return append(dst, '}')
}

// Failed is a resource that fails to render with err: what a constructor
// returns when it cannot make its resource, so that the document it is
// part of reports err when it is rendered.
func Failed(err error) *Resource { return &Resource{err: err} }
