package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/procfs"
)

// The soak's figures: what its load records a row at a time, what it reads
// from the server, the table and the verdict.

// serverSample is what the soak reads from the server at one moment:
// VmRSS from /proc/<pid>/status, the ESTABLISHED TCP connections on its
// listening address from /proc/net/tcp and tcp6, and the rest from its
// /metrics.
type serverSample struct {
	rssKiB, goroutines, fds, httpConns int64
	dbConns, dbMax                     int64
}

// soakRow is one row of the table: what the load did within it and the
// server's figures, each the median of the row's samples (VmHWM, which
// only grows, at its end).
type soakRow struct {
	elapsed         time.Duration // at the row's end
	requests        int
	errors          map[string]int // by kind: a status, or "net"
	p50, p99        time.Duration
	streams, events int
	server          serverSample
	hwmKiB          int64
}

// rowData is what a row collects while it runs.
type rowData struct {
	latencies       []time.Duration
	requests        int
	errors          map[string]int
	streams, events int
	samples         []serverSample
}

// recorder collects the load's outcomes and the server's samples into the
// row of the time they happen at; row i covers [start+i·length,
// start+(i+1)·length).
type recorder struct {
	mu     sync.Mutex
	start  time.Time
	length time.Duration
	rows   []rowData
}

// newRecorder returns a recorder of n rows of length from start.
func newRecorder(start time.Time, length time.Duration, n int) *recorder {
	r := &recorder{start: start, length: length, rows: make([]rowData, n)}
	for i := range r.rows {
		r.rows[i].errors = map[string]int{}
	}
	return r
}

// add runs f on the row of time t, if t is within the soak.
func (r *recorder) add(t time.Time, f func(*rowData)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := int(t.Sub(r.start) / r.length); i >= 0 && i < len(r.rows) {
		f(&r.rows[i])
	}
}

// request records a request that ended at t after d; kind is "" for a
// success, else what errorKind says. Only successes are timed.
func (r *recorder) request(t time.Time, d time.Duration, kind string) {
	r.add(t, func(row *rowData) {
		row.requests++
		if kind != "" {
			row.errors[kind]++
			return
		}
		row.latencies = append(row.latencies, d)
	})
}

// row returns row i's figures, hwmKiB being the server's VmHWM at its end.
func (r *recorder) row(i int, hwmKiB int64) soakRow {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := &r.rows[i]
	slices.Sort(d.latencies)
	out := soakRow{elapsed: time.Duration(i+1) * r.length, requests: d.requests, errors: maps.Clone(d.errors),
		p50: percentile(d.latencies, 0.50), p99: percentile(d.latencies, 0.99),
		streams: d.streams, events: d.events, server: medianSample(d.samples), hwmKiB: hwmKiB}
	d.latencies = nil // the row is done: its memory goes
	return out
}

// errorKind names the failure of a request that got status or err: ""
// for a 2xx, the status for another, "net" when no answer came.
func errorKind(status int, err error) string {
	switch {
	case err != nil:
		return "net"
	case status < 200 || status > 299:
		return strconv.Itoa(status)
	}
	return ""
}

// percentile returns the q-quantile of sorted by the nearest rank: the
// smallest value that at least q of them do not exceed; 0 for none.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(q*float64(len(sorted)) + 0.999999)
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// median returns the median of values, the lower middle one of an even
// number; 0 for none.
func median(values []int64) int64 {
	if len(values) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(values))
	return s[(len(s)-1)/2]
}

// medianSample returns the median of each figure of the samples.
func medianSample(samples []serverSample) serverSample {
	of := func(f func(serverSample) int64) int64 {
		values := make([]int64, len(samples))
		for i, s := range samples {
			values[i] = f(s)
		}
		return median(values)
	}
	return serverSample{
		rssKiB:     of(func(s serverSample) int64 { return s.rssKiB }),
		goroutines: of(func(s serverSample) int64 { return s.goroutines }),
		fds:        of(func(s serverSample) int64 { return s.fds }),
		httpConns:  of(func(s serverSample) int64 { return s.httpConns }),
		dbConns:    of(func(s serverSample) int64 { return s.dbConns }),
		dbMax:      of(func(s serverSample) int64 { return s.dbMax }),
	}
}

// metricsSample reads the figures of a sample that come from the server's
// /metrics, Prometheus text, into s.
func metricsSample(r io.Reader, s *serverSample) error {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return fmt.Errorf("read /metrics: %w", err)
	}
	for name, dst := range map[string]*int64{"go_goroutines": &s.goroutines, "process_open_fds": &s.fds,
		"microblog_db_pool_connections": &s.dbConns, "microblog_db_pool_max_connections": &s.dbMax} {
		mf, ok := families[name]
		if !ok || len(mf.GetMetric()) != 1 || mf.GetType() != dto.MetricType_GAUGE {
			return fmt.Errorf("read /metrics: no gauge %s", name)
		}
		*dst = int64(mf.GetMetric()[0].GetGauge().GetValue())
	}
	return nil
}

// tcpEstablished is the state ESTABLISHED in /proc/net/tcp.
const tcpEstablished = 1

// establishedOn counts the ESTABLISHED TCP connections whose local end is
// addr, a listening address, in the /proc of procFS: those accepted by
// the server listening there.
func establishedOn(procFS procfs.FS, addr netip.AddrPort) (int64, error) {
	var n int64
	for _, read := range []func() (procfs.NetTCP, error){procFS.NetTCP, procFS.NetTCP6} {
		sockets, err := read()
		if errors.Is(err, fs.ErrNotExist) {
			continue // a kernel without IPv6
		}
		if err != nil {
			return 0, fmt.Errorf("read /proc/net/tcp: %w", err)
		}
		for _, s := range sockets {
			local, ok := netip.AddrFromSlice(s.LocalAddr)
			if ok && s.St == tcpEstablished && s.LocalPort == uint64(addr.Port()) && local.Unmap() == addr.Addr().Unmap() {
				n++
			}
		}
	}
	return n, nil
}

// soakColumns are the table's columns and their widths.
var soakColumns = []struct {
	name  string
	width int
}{
	{"elapsed", 7}, {"requests", 8}, {"errors", 11}, {"p50", 9}, {"p99", 9}, {"streams (events)", 16},
	{"RSS", 9}, {"HWM", 9}, {"goroutines", 10}, {"fds", 4}, {"http conns", 10}, {"db conns", 8}, {"pool max", 8},
}

// tableHeader returns the table's header and its alignment line: every
// column right-aligned.
func tableHeader() string {
	names := make([]string, len(soakColumns))
	rule := make([]string, len(soakColumns))
	for i, c := range soakColumns {
		names[i] = c.name
		rule[i] = strings.Repeat("-", max(c.width, len(c.name))-1) + ":"
	}
	return tableLine(names) + tableLine(rule)
}

// tableLine returns cells as a line of the table.
func tableLine(cells []string) string {
	var b strings.Builder
	b.WriteString("|")
	for i, c := range cells {
		fmt.Fprintf(&b, " %*s |", max(soakColumns[i].width, len(soakColumns[i].name)), c)
	}
	b.WriteString("\n")
	return b.String()
}

// line returns r as a line of the table.
func (r soakRow) line() string {
	mib := func(kib int64) string { return strconv.FormatFloat(float64(kib)/1024, 'f', 1, 64) + " MiB" }
	n := strconv.FormatInt
	s := r.server
	return tableLine([]string{clock(r.elapsed), strconv.Itoa(r.requests), errorsText(r.errors), millis(r.p50), millis(r.p99),
		fmt.Sprintf("%d (%d)", r.streams, r.events), mib(s.rssKiB), mib(r.hwmKiB), n(s.goroutines, 10), n(s.fds, 10),
		n(s.httpConns, 10), n(s.dbConns, 10), n(s.dbMax, 10)})
}

// clock formats an elapsed time as minutes and seconds, 10:00.
func clock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d/time.Minute), int(d%time.Minute/time.Second))
}

// errorsText formats errors by kind, "0" when there are none: "429×2 net×1".
func errorsText(errs map[string]int) string {
	if len(errs) == 0 {
		return "0"
	}
	var parts []string
	for _, kind := range slices.Sorted(maps.Keys(errs)) {
		parts = append(parts, kind+"×"+strconv.Itoa(errs[kind]))
	}
	return strings.Join(parts, " ")
}

// The flatness rule: the first half of the rows is the warm-up, the row
// after it the base, and the median of the last three rows (of those after
// the warm-up) may exceed the base by at most the larger of a share of it
// and a floor. The warm-up is that long because the server's caches of
// representations, bounded by weight, take minutes to fill under the soak's
// load, each new post making new ones: at 1,000 users RSS rose from 47 to
// 93 MiB over the first five minutes of ten and then stayed within 0.2 MiB.
// A leak grows to the end.
const (
	flatShare          = 0.10
	flatRSSFloorKiB    = 16 << 10
	flatGoroutineFloor = 10
)

// flatness is the verdict on one figure.
type flatness struct {
	name        string
	base, final int64 // the base row's; the median of rows from to to
	baseRow     int   // counted from 1
	from, to    int   // the last three rows, counted from 1
	allowed     int64 // how much final may exceed base
	format      func(int64) string
}

// grew reports whether the figure grew by more than allowed.
func (f flatness) grew() bool { return f.final-f.base > f.allowed }

// String says what the verdict is and why.
func (f flatness) String() string {
	verdict := "flat"
	if f.grew() {
		verdict = "GREW"
	}
	diff := f.format(f.final - f.base)
	if f.final >= f.base {
		diff = "+" + diff
	}
	return fmt.Sprintf("%s: %s in row %d, %s the median of rows %d-%d: %s, allowed +%s: %s",
		f.name, f.format(f.base), f.baseRow, f.format(f.final), f.from, f.to, diff, f.format(f.allowed), verdict)
}

// judge applies the flatness rule to the RSS and the goroutines of rows,
// of which there must be at least three.
func judge(rows []soakRow) []flatness {
	base := max(1, len(rows)/2)
	from := max(base, len(rows)-3)
	last := rows[from:]
	figure := func(name string, of func(soakRow) int64, floor int64, format func(int64) string) flatness {
		values := make([]int64, len(last))
		for i, r := range last {
			values[i] = of(r)
		}
		b := of(rows[base])
		return flatness{name: name, base: b, baseRow: base + 1, final: median(values), from: from + 1, to: len(rows),
			allowed: max(int64(float64(b)*flatShare), floor), format: format}
	}
	mib := func(kib int64) string { return strconv.FormatFloat(float64(kib)/1024, 'f', 1, 64) + " MiB" }
	count := func(n int64) string { return strconv.FormatInt(n, 10) }
	return []flatness{
		figure("RSS", func(r soakRow) int64 { return r.server.rssKiB }, flatRSSFloorKiB, mib),
		figure("goroutines", func(r soakRow) int64 { return r.server.goroutines }, flatGoroutineFloor, count),
	}
}

// printVerdict writes the verdict on rows and returns an error naming
// what grew, if anything did.
func printVerdict(w io.Writer, rows []soakRow) error {
	fmt.Fprintf(w, "\nverdict: the first half of the rows is the warm-up (the caches fill); the median of the last three "+
		"rows after it (the lower middle of two) may exceed the row after it by %.0f%% or by %d MiB of RSS and %d goroutines, "+
		"whichever is more\n", flatShare*100, flatRSSFloorKiB>>10, flatGoroutineFloor)
	var grew []string
	for _, f := range judge(rows) {
		fmt.Fprintln(w, "  "+f.String())
		if f.grew() {
			grew = append(grew, f.name)
		}
	}
	if len(grew) > 0 {
		return fmt.Errorf("soak: the server's %s grew: a leak of streams, timers or buffers?", strings.Join(grew, " and "))
	}
	fmt.Fprintln(w, "  RSS and goroutines stayed flat")
	return nil
}
