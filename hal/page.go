package hal

import (
	"net/url"
	"strconv"
)

// Page describes one page of a collection: its number (from 1), its size and
// the number of items in the whole collection.
type Page struct {
	Number     int64
	Size       int64
	TotalItems int64
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

// Href returns path with the page and per_page parameters for page n, and
// the other parameters of query kept.
func (p Page) Href(path string, query url.Values, n int64) string {
	q := url.Values{}
	for k, vs := range query {
		q[k] = vs
	}
	q.Set("page", strconv.FormatInt(n, 10))
	q.Set("per_page", strconv.FormatInt(p.Size, 10))
	return path + "?" + q.Encode()
}

// AddPageLinks adds self, first, prev, next and last links for page p of the
// collection at path. prev is absent on the first page and next on the last;
// a page past the end has a prev link to the last page, so that a client can
// find its way back to items.
func (r *Resource) AddPageLinks(path string, query url.Values, p Page) *Resource {
	last := p.TotalPages()
	r.AddLink("self", Link{Href: p.Href(path, query, p.Number)})
	r.AddLink("first", Link{Href: p.Href(path, query, 1)})
	if p.Number > 1 {
		r.AddLink("prev", Link{Href: p.Href(path, query, min(p.Number-1, last))})
	}
	if p.Number < last {
		r.AddLink("next", Link{Href: p.Href(path, query, p.Number+1)})
	}
	return r.AddLink("last", Link{Href: p.Href(path, query, last)})
}
