package persistence

import (
	"math"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// Page is a page of a list: at most Limit items, either the first after
// the item After names or, without After, those after skipping Offset.
// OFFSET reads and throws away every item it skips; After finds the start
// of the page in an index, at the same cost however deep the page is.
type Page struct {
	Offset int64
	Limit  int64
	After  *Cursor
}

// Cursor names an item of a list by the key the list is sorted on: the
// time of the item (a post's creation, a follow's) for the lists newest
// first, and the id, which alone orders the list of all users.
type Cursor struct {
	At time.Time
	ID int64
}

// Listing is what a page query tells besides the items of the page.
type Listing struct {
	// Total is the number of items in the whole list.
	Total int64
	// Next names the last item of the page, after which the next page
	// starts; nil when the page is empty.
	Next *Cursor
	// Prev names the item after which the previous page starts. It is
	// found only for a page read after a cursor, and it is nil when fewer
	// than a page of items come before the page: the previous page is then
	// at the start of the list.
	Prev *Cursor
}

// afterID is the id a page of a list by id starts after; 0 without a
// cursor, before every id.
func (p Page) afterID() int64 {
	if p.After == nil {
		return 0
	}
	return p.After.ID
}

// afterKey is the key a page of a list newest first starts after; without
// a cursor, the infinite future, before every item.
func (p Page) afterKey() (pgtype.Timestamptz, int64) {
	if p.After == nil {
		return pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}, math.MaxInt64
	}
	return pgtype.Timestamptz{Time: p.After.At, Valid: true}, p.After.ID
}

// cursorOf turns the nullable key columns of a row into a cursor.
func cursorOf(at *time.Time, id *int64) *Cursor {
	if id == nil {
		return nil
	}
	c := &Cursor{ID: *id}
	if at != nil {
		c.At = *at
	}
	return c
}
