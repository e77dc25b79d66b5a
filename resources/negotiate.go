package resources

import (
	"regexp"
	"strconv"
	"strings"
)

// mediaRange is one element of an Accept header.
type mediaRange struct {
	typ, subtype string
	q            float64
}

// parseAccept parses an Accept header (RFC 9110 section 12.5.1). Elements
// that do not parse are dropped, as a lenient server does; an element with a
// malformed q-value counts as q=0 rather than as a wish for everything.
func parseAccept(header string) []mediaRange {
	var ranges []mediaRange
	for elem := range strings.SplitSeq(header, ",") {
		params := strings.Split(elem, ";")
		typ, subtype, ok := strings.Cut(strings.TrimSpace(params[0]), "/")
		typ, subtype = strings.TrimSpace(typ), strings.TrimSpace(subtype)
		if !ok || typ == "" || subtype == "" || (typ == "*" && subtype != "*") {
			continue
		}
		r := mediaRange{typ: strings.ToLower(typ), subtype: strings.ToLower(subtype), q: 1}
		for _, p := range params[1:] {
			k, v, _ := strings.Cut(p, "=")
			if !strings.EqualFold(strings.TrimSpace(k), "q") {
				continue
			}
			r.q = parseQ(strings.TrimSpace(v))
		}
		ranges = append(ranges, r)
	}
	return ranges
}

// parseQ parses a qvalue: "0" to "1" with at most three decimals. Anything
// else (NaN, exponents, hex floats, out of range) counts as 0.
func parseQ(v string) float64 {
	if !qvalue.MatchString(v) {
		return 0
	}
	q, _ := strconv.ParseFloat(v, 64) // the pattern admits only decimals
	return q
}

var qvalue = regexp.MustCompile(`^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$`)

// quality returns the q-value that ranges give the media type mt, taken
// from the most specific range that matches it, and -1 if none does.
func quality(ranges []mediaRange, mt string) float64 {
	typ, subtype, _ := strings.Cut(mt, "/")
	q, specificity := -1.0, -1
	for _, r := range ranges {
		s := -1
		switch {
		case r.typ == typ && r.subtype == subtype:
			s = 2
		case r.typ == typ && r.subtype == "*":
			s = 1
		case r.typ == "*":
			s = 0
		}
		if s > specificity {
			q, specificity = r.q, s
		}
	}
	return q
}

// negotiate returns the offer that the Accept header likes best, offers
// being in the server's order of preference, which breaks ties. An absent
// or empty header accepts anything. It returns "" when nothing is
// acceptable.
func negotiate(header string, offers ...string) string {
	if strings.TrimSpace(header) == "" {
		return offers[0]
	}
	ranges := parseAccept(header)
	best, bestQ := "", 0.0
	for _, o := range offers {
		if q := quality(ranges, o); q > bestQ {
			best, bestQ = o, q
		}
	}
	return best
}

// prefersHTML reports whether a client would rather have text/html than
// JSON, as a browser navigating to a URL would.
func prefersHTML(header string) bool {
	ranges := parseAccept(header)
	html := quality(ranges, "text/html")
	json := max(quality(ranges, "application/json"), quality(ranges, "application/problem+json"))
	return html > 0 && html > json
}
