package persistence

import (
	"math"
	"strconv"
	"strings"
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
// first, and the id, which alone orders the list of all users. Search
// results come first by Rank, and users found by a search by Name (see
// search.go).
type Cursor struct {
	At   time.Time
	ID   int64
	Rank float32
	Name string
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

// args are the arguments of a page of l, in the order list.joins numbers
// them: the limit, the offset, and the key the page starts after. Without a
// cursor that key is before every item: id 0 for the list by id (the
// largest id when it is sorted largest first), the infinite future for the
// lists newest first.
func (p Page) args(l list) []any {
	if l.at == "" {
		var after int64
		if l.idDesc {
			after = math.MaxInt64
		}
		if p.After != nil {
			after = p.After.ID
		}
		return []any{p.Limit, p.Offset, after}
	}
	if p.After == nil {
		return []any{p.Limit, p.Offset, math.MaxInt64, pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}}
	}
	return []any{p.Limit, p.Offset, p.After.ID, pgtype.Timestamptz{Time: p.After.At, Valid: true}}
}

// A list is what the paged statements cut pages from: the rows of a table
// that a condition picks, in the order of an index. Every paged statement
// finds its page with list.joins, which adds two LATERAL subqueries:
//
//   - k, the keys (at, id) of the page's items. After a cursor they are
//     found in the index. A page asked for by number skips index keys
//     only, and from whichever end of the list is nearer, which the total
//     tells: the last page of a million users, the "last" link of every
//     page, costs what the first does. Of the two branches of the UNION,
//     the one whose end is further is never run.
//   - pv, the key after which the previous page starts: the item a page's
//     length back from the cursor, NULL when the list's head is nearer.
//
// The aliases the statements share: t the token, u the caller, seen the
// caller's last_seen, o the owner of the list (or the row of its total),
// pv and k as above, x a listed user, v whether the caller follows x, p a
// listed post, a its author.
type list struct {
	// from is the table, with the alias that where, at and id use.
	from string
	// where picks the list's rows, "true" for all of them.
	where string
	// at is the time the list is sorted on, newest first; "" for the list
	// of users, sorted by id alone, smallest first.
	at string
	// idDesc sorts a list without at by id, largest first: a user's
	// notifications, whose ids are in the order they committed.
	idDesc bool
	// id names an item.
	id string
	// total is how many items the list has; NULL means the owner of the
	// list does not exist.
	total string
}

// joins are the LATERAL joins k and pv of a page of l, whose parameters are
// numbered from first in the order of Page.args.
func (l list) joins(first int) string {
	param := func(i int) string { return "$" + strconv.Itoa(first+i) }
	limit, offset := param(0), param(1)
	at, key, cursor := "NULL::timestamptz", l.id, param(2)
	forward, back, before, after := l.id, l.id+" DESC", "<=", ">"
	if l.idDesc {
		forward, back, before, after = l.id+" DESC", l.id, ">=", "<"
	}
	if l.at != "" {
		at, key, cursor = l.at, "("+l.at+", "+l.id+")", "("+param(3)+", "+param(2)+")"
		forward, back, before, after = l.at+" DESC, "+l.id+" DESC", l.at+", "+l.id, ">=", "<"
	}
	return strings.NewReplacer("{at}", at, "{id}", l.id, "{from}", l.from, "{where}", l.where, "{key}", key,
		"{cursor}", cursor, "{forward}", forward, "{back}", back, "{before}", before, "{after}", after,
		"{limit}", limit, "{offset}", offset, "{total}", l.total).Replace(`
	LEFT JOIN LATERAL (
		SELECT {at} AS at, {id} AS id FROM {from} WHERE {where} AND {key} {before} {cursor}
		ORDER BY {back} LIMIT 1 OFFSET {limit}
	) pv ON true
	LEFT JOIN LATERAL (
		(SELECT {at} AS at, {id} AS id FROM {from}
		 WHERE {where} AND {key} {after} {cursor} AND {offset} <= {total} / 2
		 ORDER BY {forward} LIMIT {limit} OFFSET {offset})
		UNION ALL
		(SELECT {at}, {id} FROM {from} WHERE {where} AND {offset} > {total} / 2
		 ORDER BY {back}
		 LIMIT greatest(least({limit}, {total} - least({offset}, {total})), 0)
		 OFFSET greatest({total} - least({offset}, {total}) - {limit}, 0))
	) k ON true`)
}

// order is the ORDER BY of a page of l.
func (l list) order() string {
	if l.idDesc {
		return "k.id DESC"
	}
	if l.at == "" {
		return "k.id"
	}
	return "k.at DESC, k.id DESC"
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
