package resources

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Offers in the server's order of preference, as handle passes them.
const (
	halJSON   = "application/hal+json"
	halForms  = "application/prs.hal-forms+json"
	plainJSON = "application/json"
)

var testOffers = []string{halJSON, halForms, plainJSON}

// browserAccept is what Firefox sends when it navigates to a page.
const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

// chromeAccept is what Chromium sends when it navigates to a page.
const chromeAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp," +
	"image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"

// acceptCase is an Accept header and the ranges parseAccept must find in it.
type acceptCase struct {
	name   string
	header string
	want   []mediaRange
}

// testParseAccept checks each case in a parallel subtest.
func testParseAccept(t *testing.T, tests []acceptCase) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := parseAccept(tt.header)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(mediaRange{})); diff != "" {
				t.Errorf("parseAccept(%q) mismatch (-want +got):\n%s", tt.header, diff)
			}
		})
	}
}

func TestParseAccept(t *testing.T) {
	t.Parallel()
	testParseAccept(t, []acceptCase{
		{name: "empty", header: "", want: nil},
		{name: "blank", header: "   ", want: nil},
		{name: "anything", header: "*/*", want: []mediaRange{{"*", "*", 1}}},
		{name: "type wildcard", header: "application/*", want: []mediaRange{{"application", "*", 1}}},
		{name: "exact", header: "application/hal+json", want: []mediaRange{{"application", "hal+json", 1}}},
		{name: "case is folded", header: "Application/HAL+JSON", want: []mediaRange{{"application", "hal+json", 1}}},
		{
			name:   "several with q-values",
			header: "application/json;q=0.9, application/hal+json;q=0.1",
			want:   []mediaRange{{"application", "json", 0.9}, {"application", "hal+json", 0.1}},
		},
		{
			name:   "whitespace around everything",
			header: "  application/json  ;  q=0.5  ,\ttext/html\t",
			want:   []mediaRange{{"application", "json", 0.5}, {"text", "html", 1}},
		},
		{name: "space around the slash", header: "application / json", want: []mediaRange{{"application", "json", 1}}},
		{
			name:   "other parameters are ignored",
			header: "text/html;level=1;q=0.4, application/json;charset=utf-8",
			want:   []mediaRange{{"text", "html", 0.4}, {"application", "json", 1}},
		},
		{
			name:   "garbage elements are dropped",
			header: "garbage, /json, application/, */json, ;q=1, , application/json, =, /",
			want:   []mediaRange{{"application", "json", 1}},
		},
		{name: "only commas", header: ",,,", want: nil},
		{name: "browser", header: browserAccept, want: []mediaRange{
			{"text", "html", 1}, {"application", "xhtml+xml", 1}, {"application", "xml", 0.9}, {"*", "*", 0.8},
		}},
	})
}

// TestParseAcceptQValues holds parseAccept to RFC 9110 section 12.4.2: a
// malformed q-value counts as 0.
func TestParseAcceptQValues(t *testing.T) {
	t.Parallel()
	testParseAccept(t, []acceptCase{
		{name: "Q in capitals", header: "application/json;Q=0.5", want: []mediaRange{{"application", "json", 0.5}}},
		{name: "q=0", header: "application/hal+json;q=0", want: []mediaRange{{"application", "hal+json", 0}}},
		{name: "q=1.000", header: "application/hal+json;q=1.000", want: []mediaRange{{"application", "hal+json", 1}}},
		{name: "q not a number", header: "application/json;q=abc", want: []mediaRange{{"application", "json", 0}}},
		{name: "q above 1", header: "application/json;q=2", want: []mediaRange{{"application", "json", 0}}},
		{name: "q below 0", header: "application/json;q=-0.5", want: []mediaRange{{"application", "json", 0}}},
		{name: "q empty", header: "application/json;q=", want: []mediaRange{{"application", "json", 0}}},
		{name: "q without =", header: "application/json;q", want: []mediaRange{{"application", "json", 0}}},
		{name: "q infinite", header: "application/json;q=Inf", want: []mediaRange{{"application", "json", 0}}},
		// NaN is a malformed q-value too, and the doc comment says a
		// malformed q-value counts as 0.
		{name: "q NaN", header: "application/json;q=NaN", want: []mediaRange{{"application", "json", 0}}},
		// RFC 9110 section 12.4.2: a qvalue is 0 or 1 with at most three
		// decimals; anything else is malformed.
		{name: "q three decimals", header: "application/json;q=0.123", want: []mediaRange{{"application", "json", 0.123}}},
		{name: "q trailing dot", header: "application/json;q=1.", want: []mediaRange{{"application", "json", 1}}},
		{name: "q spaced", header: "application/json;q = 0.5 ", want: []mediaRange{{"application", "json", 0.5}}},
		{name: "q four decimals", header: "application/json;q=0.1234", want: []mediaRange{{"application", "json", 0}}},
		{name: "q just above 1", header: "application/json;q=1.001", want: []mediaRange{{"application", "json", 0}}},
		{name: "q exponent", header: "application/json;q=1e-1", want: []mediaRange{{"application", "json", 0}}},
		{name: "q hex float", header: "application/json;q=0x1p-1", want: []mediaRange{{"application", "json", 0}}},
		{name: "q with plus sign", header: "application/json;q=+0.5", want: []mediaRange{{"application", "json", 0}}},
		{name: "q without leading digit", header: "application/json;q=.5", want: []mediaRange{{"application", "json", 0}}},
	})
}

func TestQuality(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header string
		mt     string
		want   float64
	}{
		{name: "no ranges", header: "", mt: plainJSON, want: -1},
		{name: "no match", header: "text/html", mt: plainJSON, want: -1},
		{name: "other subtype", header: "application/xml", mt: plainJSON, want: -1},
		{name: "exact", header: "application/json;q=0.7", mt: plainJSON, want: 0.7},
		{name: "type wildcard", header: "application/*;q=0.6", mt: plainJSON, want: 0.6},
		{name: "type wildcard of another type", header: "text/*", mt: plainJSON, want: -1},
		{name: "full wildcard", header: "*/*;q=0.5", mt: plainJSON, want: 0.5},
		{name: "exact beats wildcard after it", header: "application/json;q=0.2, */*", mt: plainJSON, want: 0.2},
		{name: "exact beats wildcard before it", header: "*/*, application/json;q=0.2", mt: plainJSON, want: 0.2},
		{name: "type wildcard beats full wildcard", header: "*/*;q=0.3, application/*;q=0.5", mt: plainJSON, want: 0.5},
		{name: "full wildcard for another type", header: "*/*;q=0.3, application/*;q=0.5", mt: "text/html", want: 0.3},
		{name: "exact q=0 beats wildcard", header: "*/*, application/hal+json;q=0", mt: halJSON, want: 0},
		{name: "exact q=0 leaves other types", header: "*/*, application/hal+json;q=0", mt: halForms, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := quality(parseAccept(tt.header), tt.mt); got != tt.want {
				t.Errorf("quality(parseAccept(%q), %q) = %v, want %v", tt.header, tt.mt, got, tt.want)
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header string
		offers []string // testOffers when nil
		want   string
	}{
		{name: "empty header", header: "", want: halJSON},
		{name: "blank header", header: " \t ", want: halJSON},
		{name: "anything", header: "*/*", want: halJSON},
		{name: "any application type", header: "application/*", want: halJSON},
		{name: "HAL", header: "application/hal+json", want: halJSON},
		{name: "plain JSON", header: "application/json", want: plainJSON},
		{name: "HAL-FORMS", header: "application/prs.hal-forms+json", want: halForms},
		{name: "XML only", header: "application/xml", want: ""},
		{name: "HTML only", header: "text/html", want: ""},
		{name: "other type wildcard", header: "text/*", want: ""},
		{name: "q-values pick JSON", header: "application/json;q=0.9, application/hal+json;q=0.1", want: plainJSON},
		{name: "q-values pick HAL", header: "application/json;q=0.1, application/hal+json;q=0.9", want: halJSON},
		{name: "equal q: server order breaks the tie", header: "application/json, application/hal+json", want: halJSON},
		{name: "equal q below 1: server order", header: "application/json;q=0.5, application/prs.hal-forms+json;q=0.5", want: halForms},
		{name: "q=0 excludes the only range", header: "application/hal+json;q=0", want: ""},
		{name: "q=0 on HAL beats */*: next offer", header: "*/*, application/hal+json;q=0", want: halForms},
		{name: "q=0 on HAL beats */* before it", header: "application/hal+json;q=0, */*", want: halForms},
		{name: "q=0 on HAL beats application/*", header: "application/*, application/hal+json;q=0", want: halForms},
		{name: "q=0 on two offers", header: "*/*;q=0.1, application/hal+json;q=0, application/prs.hal-forms+json;q=0", want: plainJSON},
		{name: "everything q=0", header: "*/*;q=0", want: ""},
		{name: "specific over wildcard q", header: "application/*;q=0.5, application/json", want: plainJSON},
		{name: "malformed q counts as 0", header: "application/json;q=abc", want: ""},
		{name: "q above 1 counts as 0", header: "application/json;q=2", want: ""},
		{name: "malformed q beside a wildcard", header: "application/json;q=abc, */*;q=0.1", want: halJSON},
		{name: "malformed q on HAL beside JSON", header: "application/hal+json;q=abc, application/json;q=0.1", want: plainJSON},
		{name: "capitals", header: "Application/HAL+JSON", want: halJSON},
		{name: "capitals JSON", header: "APPLICATION/JSON", want: plainJSON},
		{name: "whitespace", header: "  application/json  ;  q=0.5  ", want: plainJSON},
		{name: "garbage elements ignored", header: "garbage, ;;, application/json", want: plainJSON},
		{name: "garbage after a valid element", header: "application/json,/,*/x", want: plainJSON},
		{name: "browser", header: browserAccept, want: halJSON},
		{name: "browser, HTML offered", header: browserAccept, offers: append(slices.Clone(testOffers), "text/html"), want: "text/html"},
		{name: "curl, HTML offered", header: "*/*", offers: append(slices.Clone(testOffers), "text/html"), want: halJSON},
		{name: "JSON client, HTML offered", header: "application/json", offers: append(slices.Clone(testOffers), "text/html"), want: plainJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			offers := tt.offers
			if offers == nil {
				offers = testOffers
			}
			if got := negotiate(tt.header, offers...); got != tt.want {
				t.Errorf("negotiate(%q, %q) = %q, want %q", tt.header, offers, got, tt.want)
			}
		})
	}
}

// TestHALOffers checks that the offers handle negotiates with are the ones
// the tests above use, in the same order.
func TestHALOffers(t *testing.T) {
	t.Parallel()
	if diff := cmp.Diff(testOffers, halOffers); diff != "" {
		t.Errorf("halOffers mismatch (-want +got):\n%s", diff)
	}
}

func TestPrefersHTML(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header string
		want   bool
	}{
		{name: "Firefox", header: browserAccept, want: true},
		{name: "Chromium", header: chromeAccept, want: true},
		{name: "curl", header: "*/*", want: false},
		{name: "no header", header: "", want: false},
		{name: "JSON", header: "application/json", want: false},
		{name: "problem JSON", header: "application/problem+json", want: false},
		{name: "HAL", header: "application/hal+json", want: false},
		{name: "HTML only", header: "text/html", want: true},
		{name: "any text", header: "text/*", want: true},
		{name: "HTML refused", header: "text/html;q=0", want: false},
		{name: "HTML refused, JSON absent", header: "text/html;q=0, image/png", want: false},
		{name: "HTML and JSON equal", header: "text/html, application/json", want: false},
		{name: "HTML and problem JSON equal", header: "text/html, application/problem+json", want: false},
		{name: "HTML below JSON", header: "text/html;q=0.5, application/json", want: false},
		{name: "HTML above JSON", header: "application/json;q=0.5, text/html", want: true},
		{name: "HTML above problem JSON", header: "application/problem+json;q=0.5, text/html", want: true},
		{name: "HTML, JSON refused", header: "text/html, application/json;q=0", want: true},
		// A malformed q-value counts as 0, so this is the case above.
		{name: "HTML, JSON with NaN q", header: "text/html, application/json;q=NaN", want: true},
		{name: "HTML, JSON with malformed q", header: "text/html, application/json;q=abc", want: true},
		{name: "capitals", header: "TEXT/HTML", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := prefersHTML(tt.header); got != tt.want {
				t.Errorf("prefersHTML(%q) = %t, want %t", tt.header, got, tt.want)
			}
		})
	}
}

func FuzzNegotiate(f *testing.F) {
	for _, h := range []string{
		"", " ", "*/*", "application/*", halJSON, plainJSON, halForms, "application/xml",
		"application/json;q=0.9, application/hal+json;q=0.1", "*/*, application/hal+json;q=0",
		"application/json;q=abc", "application/json;q=2", "Application/HAL+JSON", "garbage, application/json",
		browserAccept, chromeAccept, ",;=/*", "a/b;q=0.001", "*/*;q=1e-400", "text/html;q=0x1p-1",
	} {
		f.Add(h, "text/html", uint8(0))
	}
	f.Add("application/json", "", uint8(3))
	f.Add("*/*", "*/*", uint8(1))
	f.Fuzz(func(t *testing.T, header, extra string, rotate uint8) {
		// The offers are the server's, in any order, plus one more.
		offers := append(slices.Clone(testOffers), extra)
		n := int(rotate) % len(offers)
		offers = append(offers[n:], offers[:n]...)

		got := negotiate(header, offers...)
		if got != "" && !slices.Contains(offers, got) {
			t.Fatalf("negotiate(%q, %q) = %q, which is neither \"\" nor an offer", header, offers, got)
		}
		if got != "" {
			if q := quality(parseAccept(header), got); q <= 0 && len(parseAccept(header)) > 0 {
				t.Fatalf("negotiate(%q, %q) = %q, whose quality is %v", header, offers, got, q)
			}
		}
		if got := negotiate("", offers...); got != offers[0] {
			t.Fatalf("negotiate(\"\", %q) = %q, want the first offer", offers, got)
		}
		for _, r := range parseAccept(header) {
			if !(r.q >= 0 && r.q <= 1) {
				t.Fatalf("parseAccept(%q) gave q = %v, want 0 <= q <= 1", header, r.q)
			}
		}
		_ = prefersHTML(header)
	})
}
