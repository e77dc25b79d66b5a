package persistence

import (
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// A column is one column a statement reads, and where its value goes. The
// row types (User, Author, Post) list their columns once, in a columns
// method: every statement's select list and every scan are made from that
// list, so a new column is one line there and its number is never counted
// by hand.
type column struct {
	name string
	dest any
	// expr, when set, is the column's value computed from the row aliased
	// alias, in place of alias.name.
	expr func(alias string) string
}

// columnList is the select list of cols from the table or row aliased
// alias: "u.id, u.username, ...".
func columnList(alias string, cols []column) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		if c.expr != nil {
			names[i] = c.expr(alias)
		} else {
			names[i] = alias + "." + c.name
		}
	}
	return strings.Join(names, ", ")
}

// dests are the scan destinations of the columns of several row types, in
// order.
func dests(rows ...[]column) []any {
	var d []any
	for _, cols := range rows {
		for _, c := range cols {
			d = append(d, c.dest)
		}
	}
	return d
}

// The destinations below scan a value in place and NULL as the zero value:
// a page whose statement found no item still returns its one row, with the
// item's columns NULL, and a zero ID tells the item is absent. They
// implement pgx's own scanner interfaces, which decode straight into the
// field, and a struct of one pointer fits in an interface without an
// allocation.

type int8Dest struct{ p *int64 }

func (d int8Dest) ScanInt64(v pgtype.Int8) error {
	*d.p = v.Int64
	return nil
}

type textDest struct{ p *string }

func (d textDest) ScanText(v pgtype.Text) error {
	*d.p = v.String
	return nil
}

type boolDest struct{ p *bool }

func (d boolDest) ScanBool(v pgtype.Bool) error {
	*d.p = v.Bool
	return nil
}

type timeDest struct{ p *time.Time }

func (d timeDest) ScanTimestamptz(v pgtype.Timestamptz) error {
	*d.p = v.Time
	return nil
}

// timePtrDest scans NULL as nil, for a time that may never have been.
type timePtrDest struct{ p **time.Time }

func (d timePtrDest) ScanTimestamptz(v pgtype.Timestamptz) error {
	*d.p = nil
	if v.Valid {
		t := v.Time
		*d.p = &t
	}
	return nil
}
