package main

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/procfs"
)

func TestSoakFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
		rows int
	}{
		{args: []string{"--soak", "10m"}, ok: true, rows: 10},
		{args: []string{"--soak", "30s", "--soak-row", "10s"}, ok: true, rows: 3},
		{args: []string{"--soak", "35s", "--soak-row", "10s"}, ok: true, rows: 3}, // whole rows only
		{args: []string{"--soak", "2m"}},                                          // two rows: no verdict possible
		{args: []string{"--soak", "3s", "--soak-row", "500ms"}},
		{args: []string{"--soak", "1m", "--soak-row", "10s", "--soak-workers", "0"}},
		{args: []string{"--soak", "1m", "--soak-row", "10s", "--users", "11"}}, // too few users to log in as
		{args: []string{"--users", "3"}, ok: true},                             // the benchmark: no soak
	} {
		o, err := parseFlags(tc.args, io.Discard)
		if (err == nil) != tc.ok {
			t.Errorf("parseFlags(%q): err = %v, want ok = %v", tc.args, err, tc.ok)
			continue
		}
		if tc.ok && tc.rows > 0 && o.soak.rows() != tc.rows {
			t.Errorf("parseFlags(%q): %d rows, want %d", tc.args, o.soak.rows(), tc.rows)
		}
	}
}

func TestPercentileAndMedian(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		d := make([]time.Duration, len(n))
		for i, v := range n {
			d[i] = time.Duration(v) * time.Millisecond
		}
		return d
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{nil, 0.99, 0},
		{ms(7), 0.5, 7 * time.Millisecond},
		{ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{ms(hundred...), 0.5, 50 * time.Millisecond},
		{ms(hundred...), 0.99, 99 * time.Millisecond},
		{ms(hundred[:50]...), 0.99, 50 * time.Millisecond},
	} {
		if got := percentile(tc.sorted, tc.q); got != tc.want {
			t.Errorf("percentile(%d values, %v) = %v, want %v", len(tc.sorted), tc.q, got, tc.want)
		}
	}
	for _, tc := range []struct {
		values []int64
		want   int64
	}{{nil, 0}, {[]int64{5}, 5}, {[]int64{9, 1, 5}, 5}, {[]int64{9, 1}, 1}, {[]int64{4, 8, 1, 6}, 4}} {
		if got := median(tc.values); got != tc.want {
			t.Errorf("median(%v) = %d, want %d", tc.values, got, tc.want)
		}
	}
}

// TestRecorder puts requests and samples into rows by their time and reads
// a row's figures back.
func TestRecorder(t *testing.T) {
	start := time.Now()
	r := newRecorder(start, time.Minute, 2)
	for i := range 100 {
		r.request(start.Add(time.Second), time.Duration(i+1)*time.Millisecond, "")
	}
	r.request(start.Add(2*time.Second), time.Hour, "503")
	r.request(start.Add(3*time.Second), time.Hour, "net")
	r.request(start.Add(61*time.Second), time.Millisecond, "")
	r.request(start.Add(3*time.Minute), time.Millisecond, "") // after the end
	for _, s := range []serverSample{{rssKiB: 3, goroutines: 30}, {rssKiB: 1, goroutines: 10}, {rssKiB: 2, goroutines: 20}} {
		r.add(start.Add(30*time.Second), func(d *rowData) { d.samples = append(d.samples, s) })
	}
	r.add(start.Add(40*time.Second), func(d *rowData) { d.streams++; d.events += 5 })

	got := r.row(0, 77)
	want := soakRow{elapsed: time.Minute, requests: 102, errors: map[string]int{"503": 1, "net": 1},
		p50: 50 * time.Millisecond, p99: 99 * time.Millisecond, streams: 1, events: 5,
		server: serverSample{rssKiB: 2, goroutines: 20}, hwmKiB: 77}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(soakRow{}, serverSample{})); diff != "" {
		t.Errorf("row 1 (-want +got):\n%s", diff)
	}
	if second := r.row(1, 0); second.requests != 1 || second.elapsed != 2*time.Minute {
		t.Errorf("row 2: %d requests at %s, want 1 at 2m0s", second.requests, second.elapsed)
	}
}

func TestErrorKind(t *testing.T) {
	for _, tc := range []struct {
		status int
		err    error
		want   string
	}{{200, nil, ""}, {204, nil, ""}, {304, nil, "304"}, {429, nil, "429"}, {0, errors.New("reset"), "net"}} {
		if got := errorKind(tc.status, tc.err); got != tc.want {
			t.Errorf("errorKind(%d, %v) = %q, want %q", tc.status, tc.err, got, tc.want)
		}
	}
}

// TestSoakTable prints the header and a row: every line is as wide as the
// others, so the rows printed a minute apart line up.
func TestSoakTable(t *testing.T) {
	row := soakRow{elapsed: 10 * time.Minute, requests: 123456, errors: map[string]int{"net": 2, "429": 1},
		p50: 2940 * time.Microsecond, p99: 11 * time.Millisecond, streams: 7, events: 2296, hwmKiB: 111 << 10,
		server: serverSample{rssKiB: 45 << 10, goroutines: 66, fds: 30, httpConns: 14, dbConns: 4, dbMax: 4}}
	lines := strings.Split(strings.TrimSuffix(tableHeader()+row.line(), "\n"), "\n")
	want := []string{
		"| elapsed | requests |      errors |       p50 |       p99 | streams (events) |       RSS |       HWM | goroutines |  fds | http conns | db conns | pool max |",
		"| ------: | -------: | ----------: | --------: | --------: | ---------------: | --------: | --------: | ---------: | ---: | ---------: | -------: | -------: |",
		"|   10:00 |   123456 | 429×1 net×2 |   2.94 ms |  11.00 ms |         7 (2296) |  45.0 MiB | 111.0 MiB |         66 |   30 |         14 |        4 |        4 |",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	if errorsText(nil) != "0" {
		t.Errorf("no errors: %q, want 0", errorsText(nil))
	}
}

// TestJudge applies the flatness rule: the first half of the rows is the
// warm-up, the row after it the base, and the median of the last three
// rows may exceed it by 10% or the floor, whichever is more.
func TestJudge(t *testing.T) {
	rows := func(rss, goroutines []int64) []soakRow {
		out := make([]soakRow, len(rss))
		for i := range rss {
			out[i].server = serverSample{rssKiB: rss[i] << 10, goroutines: goroutines[i]}
		}
		return out
	}
	for _, tc := range []struct {
		name                string
		rows                []soakRow
		rssGrew, goGrew     bool
		rssFinal, goFinal   int64
		rssAllowed          int64
		goAllowed           int64
		baseRow, from, till int
	}{
		{name: "flat after the warm-up", rows: rows([]int64{20, 60, 61, 59, 62, 60}, []int64{30, 66, 67, 66, 70, 65}),
			rssFinal: 60, goFinal: 66, rssAllowed: 16, goAllowed: 10, baseRow: 4, from: 4, till: 6},
		{name: "the caches fill in the first half", rows: rows([]int64{40, 60, 80, 90, 91, 90}, []int64{66, 66, 66, 66, 66, 66}),
			rssFinal: 90, goFinal: 66, rssAllowed: 16, goAllowed: 10, baseRow: 4, from: 4, till: 6},
		{name: "a spike in one of the last rows", rows: rows([]int64{20, 60, 61, 59, 300, 60}, []int64{30, 66, 67, 66, 500, 65}),
			rssFinal: 60, goFinal: 66, rssAllowed: 16, goAllowed: 10, baseRow: 4, from: 4, till: 6},
		{name: "RSS grows", rows: rows([]int64{20, 60, 80, 100, 120, 140}, []int64{30, 66, 67, 66, 70, 65}),
			rssGrew: true, rssFinal: 120, goFinal: 66, rssAllowed: 16, goAllowed: 10, baseRow: 4, from: 4, till: 6},
		{name: "goroutines grow", rows: rows([]int64{20, 60, 61, 59, 62, 60}, []int64{30, 66, 80, 100, 120, 140}),
			goGrew: true, rssFinal: 60, goFinal: 120, rssAllowed: 16, goAllowed: 10, baseRow: 4, from: 4, till: 6},
		{name: "10% of a large base", rows: rows([]int64{20, 400, 420, 439, 430}, []int64{300, 300, 320, 331, 329}),
			rssFinal: 430, goFinal: 329, rssAllowed: 42, goAllowed: 32, baseRow: 3, from: 3, till: 5},
		{name: "ten rows", rows: rows([]int64{47, 59, 71, 88, 93, 93, 93, 93, 93, 94}, make([]int64, 10)),
			rssFinal: 93, rssAllowed: 16, goAllowed: 10, baseRow: 6, from: 8, till: 10},
		{name: "three rows: rows 2 and 3, the lower", rows: rows([]int64{20, 60, 90}, []int64{30, 66, 90}),
			rssFinal: 60, goFinal: 66, rssAllowed: 16, goAllowed: 10, baseRow: 2, from: 2, till: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := judge(tc.rows)
			rss, gor := got[0], got[1]
			if rss.grew() != tc.rssGrew || gor.grew() != tc.goGrew {
				t.Errorf("grew: RSS %v, goroutines %v; want %v, %v", rss.grew(), gor.grew(), tc.rssGrew, tc.goGrew)
			}
			if rss.final != tc.rssFinal<<10 || gor.final != tc.goFinal || rss.allowed>>10 != tc.rssAllowed ||
				gor.allowed != tc.goAllowed || rss.baseRow != tc.baseRow || rss.from != tc.from || rss.to != tc.till {
				t.Errorf("RSS %s; goroutines %s", rss, gor)
			}
		})
	}
}

func TestPrintVerdict(t *testing.T) {
	var out strings.Builder
	flat := []soakRow{{}, {server: serverSample{rssKiB: 60 << 10, goroutines: 66}}, {server: serverSample{rssKiB: 61 << 10, goroutines: 67}}}
	if err := printVerdict(&out, flat); err != nil {
		t.Errorf("flat rows: %v", err)
	}
	for _, want := range []string{"RSS: 60.0 MiB in row 2, 60.0 MiB the median of rows 2-3: +0.0 MiB, allowed +16.0 MiB: flat",
		"goroutines: 66 in row 2, 66 the median of rows 2-3: +0, allowed +10: flat", "stayed flat"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the verdict lacks %q:\n%s", want, out.String())
		}
	}
	leaking := append(flat, soakRow{server: serverSample{rssKiB: 61 << 10, goroutines: 200}},
		soakRow{server: serverSample{rssKiB: 61 << 10, goroutines: 300}})
	out.Reset()
	err := printVerdict(&out, leaking)
	if err == nil || !strings.Contains(err.Error(), "goroutines grew") || !strings.Contains(out.String(), "+133, allowed +10: GREW") {
		t.Errorf("goroutines 67 → 200: err = %v\n%s", err, out.String())
	}
}

// metricsText is a part of the server's /metrics, as client_golang writes
// it.
const metricsText = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 66
# HELP microblog_db_pool_connections Open database connections.
# TYPE microblog_db_pool_connections gauge
microblog_db_pool_connections 3
# HELP microblog_db_pool_max_connections The pool's connection limit.
# TYPE microblog_db_pool_max_connections gauge
microblog_db_pool_max_connections 4
# HELP microblog_http_requests_total HTTP requests by route, method and status.
# TYPE microblog_http_requests_total counter
microblog_http_requests_total{method="GET",route="/api",status="200"} 2
# HELP process_open_fds Number of open file descriptors.
# TYPE process_open_fds gauge
process_open_fds 31
`

func TestMetricsSample(t *testing.T) {
	var s serverSample
	if err := metricsSample(strings.NewReader(metricsText), &s); err != nil {
		t.Fatal(err)
	}
	if want := (serverSample{goroutines: 66, fds: 31, dbConns: 3, dbMax: 4}); s != want {
		t.Errorf("sample = %+v, want %+v", s, want)
	}
	without := strings.ReplaceAll(metricsText, "process_open_fds", "process_other")
	if err := metricsSample(strings.NewReader(without), &s); err == nil || !strings.Contains(err.Error(), "process_open_fds") {
		t.Errorf("without process_open_fds: err = %v", err)
	}
}

// TestEstablishedOn counts the server's accepted connections in a /proc
// made of lines of a real one: ESTABLISHED (01) with the listening
// address as their local end, in tcp and, IPv4-mapped, in tcp6; not the
// listening socket (0A), a connection closing (06), the client's end
// (whose remote end is the address) nor another port's.
func TestEstablishedOn(t *testing.T) {
	dir := t.TempDir()
	const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	line := func(local, remote, state string) string {
		return "   0: " + local + " " + remote + " " + state + " 00000000:00000000 00:00000000 00000000     0        0 2524749 1 0000000000000000 20 4 30 10 -1\n"
	}
	// 0x9393 is port 37779, 0100007F 127.0.0.1.
	tcp := header + line("0100007F:9393", "00000000:0000", "0A") +
		line("0100007F:9393", "0100007F:D431", "01") + line("0100007F:9393", "0100007F:D432", "01") +
		line("0100007F:9393", "0100007F:D433", "06") + line("0100007F:D431", "0100007F:9393", "01") +
		line("0100007F:1F90", "0100007F:D434", "01")
	tcp6 := header + line("0000000000000000FFFF00000100007F:9393", "0000000000000000FFFF00000100007F:D435", "01") +
		line("00000000000000000000000001000000:9393", "00000000000000000000000001000000:D436", "01")
	if err := os.MkdirAll(filepath.Join(dir, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"tcp": tcp, "tcp6": tcp6} {
		if err := os.WriteFile(filepath.Join(dir, "net", name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fs, err := procfs.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	n, err := establishedOn(fs, netip.MustParseAddrPort("127.0.0.1:37779"))
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
}
