package hal

import (
	"net/url"
	"strconv"
)

// Page describes one page of a collection: its number (from 1), its size and
// the number of items in the whole collection. After is the cursor the page
// was read after, if any, which its self link keeps; NextAfter and
// PrevAfter, when set, are the cursors of the next and the previous page,
// which their links carry as the "after" parameter beside the page number,
// so that a client walking the collection by links reaches each page
// through an index, at the same cost however deep it is. End says that the
// page is known to end the collection, having fewer items than its size:
// it gets no next link, even when TotalItems, which counts items added
// since the walk began, says there are more pages. Query holds the
// parameters that pick the collection, such as a search's terms, which
// every link keeps.
type Page struct {
	Query      url.Values
	Number     int64
	Size       int64
	TotalItems int64
	After      string
	NextAfter  string
	PrevAfter  string
	End        bool
}

// PageMeta is the "_meta" member of a collection page.
type PageMeta struct {
	Page       int64 `json:"page"`
	PerPage    int64 `json:"per_page"`
	TotalPages int64 `json:"total_pages"`
	TotalItems int64 `json:"total_items"`
}

// TotalPages returns how many pages the collection has. An empty collection
// has one page, with no items, so that "first" and "last" always exist.
func (p Page) TotalPages() int64 {
	if p.TotalItems == 0 || p.Size < 1 {
		return 1
	}
	return (p.TotalItems-1)/p.Size + 1
}

// Meta returns the "_meta" member describing p.
func (p Page) Meta() PageMeta {
	return PageMeta{Page: p.Number, PerPage: p.Size, TotalPages: p.TotalPages(), TotalItems: p.TotalItems}
}

// href returns path with the page and per_page parameters for page n, and
// the cursor after when it is not empty.
func (p Page) href(path string, n int64, after string) string {
	q := url.Values{}
	for k, v := range p.Query {
		q[k] = v
	}
	if after != "" {
		q.Set("after", after)
	}
	q.Set("page", strconv.FormatInt(n, 10))
	q.Set("per_page", strconv.FormatInt(p.Size, 10))
	return path + "?" + q.Encode()
}

// AddPageLinks adds self, first, prev, next and last links for page p of the
// collection at path. prev is absent on the first page and next on the last;
// a page past the end has a prev link to the last page, so that a client can
// find its way back to items.
func (r *Resource) AddPageLinks(path string, p Page) *Resource {
	last := p.TotalPages()
	r.AddLink("self", Link{Href: p.href(path, p.Number, p.After)})
	r.AddLink("first", Link{Href: p.href(path, 1, "")})
	switch {
	case p.Number > last+1:
		r.AddLink("prev", Link{Href: p.href(path, last, "")})
	case p.Number > 1:
		r.AddLink("prev", Link{Href: p.href(path, p.Number-1, p.PrevAfter)})
	}
	if p.Number < last && !p.End {
		r.AddLink("next", Link{Href: p.href(path, p.Number+1, p.NextAfter)})
	}
	return r.AddLink("last", Link{Href: p.href(path, last, "")})
}
