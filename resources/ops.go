package resources

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"microblog/persistence"
)

// metrics are the Prometheus metrics of the server, in a registry of their
// own (no process-wide default): requests, the pool's and the password
// hasher's, and the Go runtime's and the process's (go_goroutines,
// process_resident_memory_bytes, process_open_fds …), which the soak
// (cmd/loadbench --soak) watches for leaks.
type metrics struct {
	registry *prometheus.Registry
	handler  http.Handler
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// kept counts the GETs answered from a kept response (responses.go).
	kept prometheus.Counter
}

func newMetrics(store *persistence.Store) *metrics {
	m := &metrics{registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "microblog_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "microblog_http_request_duration_seconds", Help: "HTTP request latency by route and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method"}),
		kept: prometheus.NewCounter(prometheus.CounterOpts{Name: "microblog_kept_responses_served_total",
			Help: "GETs answered from a kept response, with no statement."}),
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	m.registry.MustRegister(m.requests, m.latency, m.kept,
		gauge("microblog_db_pool_connections", "Open database connections.",
			func() float64 { return float64(store.PoolStat().TotalConns()) }),
		gauge("microblog_db_pool_acquired_connections", "Database connections in use.",
			func() float64 { return float64(store.PoolStat().AcquiredConns()) }),
		gauge("microblog_db_pool_idle_connections", "Idle database connections.",
			func() float64 { return float64(store.PoolStat().IdleConns()) }),
		gauge("microblog_db_pool_max_connections", "The pool's connection limit.",
			func() float64 { return float64(store.PoolStat().MaxConns()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "microblog_db_pool_empty_acquires_total",
			Help: "Acquisitions that had to wait for a connection."},
			func() float64 { return float64(store.PoolStat().EmptyAcquireCount()) }),
		gauge("microblog_argon2_queue_length", "Password hashes waiting for a slot.",
			func() float64 { w, _ := store.HashQueue(); return float64(w) }),
		gauge("microblog_argon2_running", "Password hashes running.",
			func() float64 { _, r := store.HashQueue(); return float64(r) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "microblog_argon2_hashes_total",
			Help: "Password hashes computed, checks included."},
			func() float64 { return float64(store.HashesDone()) }),
		jobsCollector{store},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.handler = promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
	return m
}

// jobsDesc describes the gauge of the job queue's jobs.
var jobsDesc = prometheus.NewDesc("microblog_jobs", "Jobs in the queue (mails, password resets, exports) by kind and "+
	"state, counted in the database, so the same from every instance; completed and discarded ones are kept a day "+
	"and a week.", []string{"kind", "state"}, nil)

// jobsCollector reports the queue's jobs at each scrape, from one statement
// bounded by a second; a database out of reach leaves the gauge out of
// that scrape rather than failing it.
type jobsCollector struct{ store *persistence.Store }

func (jobsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- jobsDesc }

func (j jobsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	counts, err := j.store.JobCounts(ctx)
	if err != nil {
		return
	}
	for _, c := range counts {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(c.Count), c.Kind, c.State)
	}
}

// getMetrics serves GET /metrics.
func (h *handler) getMetrics(c *gin.Context) {
	w := http.ResponseWriter(c.Writer)
	if c.Request.Method == http.MethodHead {
		w = headWriter{w}
	}
	h.metrics.handler.ServeHTTP(w, c.Request)
}

// headWriter drops the body that a handler unaware of HEAD writes.
type headWriter struct{ http.ResponseWriter }

func (headWriter) Write(p []byte) (int, error) { return len(p), nil }

// servedMethods are the methods the API serves: the values of the
// metrics' method label, besides OTHER.
var servedMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions}

// knownMethods are the methods of RFC 9110 and PATCH (RFC 5789). The server
// refuses the others with 501; CONNECT and TRACE get the 405 of a method
// the path does not allow.
var knownMethods = append(slices.Clip(servedMethods), http.MethodConnect, http.MethodTrace)

// refuseUnknownMethods answers 501 to a method the server does not know,
// before it is routed or counted: a client may invent any number of
// methods, and a label for each would grow /metrics without bound.
func (h *handler) refuseUnknownMethods(c *gin.Context) {
	if slices.Contains(knownMethods, c.Request.Method) {
		return
	}
	// gin has named the methods the path allows, as for a 405.
	c.Writer.Header().Del("Allow")
	writeError(c, h.log, newError(http.StatusNotImplemented, "the server does not implement this method"))
	c.Abort()
}

// measure counts each request by its route pattern (not its path, whose
// ids would make a series per user) and times it. Every label comes from a
// fixed set: the route is a pattern or "unmatched", the method one the API
// serves or OTHER.
func (m *metrics) measure(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	method := c.Request.Method
	if !slices.Contains(servedMethods, method) {
		method = "OTHER"
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(c.Writer.Status())).Inc()
	m.latency.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
}

// health is a body of the health check draft (application/health+json):
// "pass", "warn" or "fail".
type health struct {
	Status string `json:"status"`
	Output string `json:"output,omitempty"`
	// Checks are the parts that readiness depends on, by name.
	Checks map[string][]healthCheck `json:"checks,omitempty"`
}

// healthCheck is the state of one part of the server.
type healthCheck struct {
	Status string `json:"status"`
	Output string `json:"output,omitempty"`
}

func writeHealth(c *gin.Context, status int, h health) {
	c.Header("Cache-Control", "no-store")
	body, _ := json.Marshal(h) // strings always marshal
	writeBody(c, status, "application/health+json", append(body, '\n'))
}

// healthz serves GET /healthz: the process is alive, whatever the database.
func (h *handler) healthz(c *gin.Context) {
	writeHealth(c, http.StatusOK, health{Status: "pass"})
}

// readyz serves GET /readyz: 200 when the database answers within a
// second, 503 when it does not. Its checks say which part is failing: the
// database, or the listener that feeds the live streams, which reconnects
// by itself after the database comes back; until it listens the status is
// "warn" (a 200: requests are served, and a stream catches up once it
// listens).
func (h *handler) readyz(c *gin.Context) {
	if h.cfg.Draining != nil && h.cfg.Draining.Load() {
		c.Header("Retry-After", "1")
		writeHealth(c, http.StatusServiceUnavailable, health{Status: "fail", Output: "shutting down"})
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), time.Second)
	defer cancel()
	res, status := health{Status: "pass", Checks: map[string][]healthCheck{}}, http.StatusOK
	if err := h.store.Ping(ctx); err != nil {
		c.Header("Retry-After", "1")
		res.Status, res.Output, status = "fail", "the database does not answer", http.StatusServiceUnavailable
		res.Checks["postgresql:connections"] = []healthCheck{{Status: "fail", Output: "the database does not answer"}}
	} else {
		res.Checks["postgresql:connections"] = []healthCheck{{Status: "pass"}}
	}
	if l := h.cfg.Notifications; l != nil {
		listener := healthCheck{Status: "pass"}
		if !l.Listening() {
			listener = healthCheck{Status: "warn", Output: "connecting to the database to listen for notifications"}
			if res.Status == "pass" {
				res.Status = "warn"
			}
		}
		res.Checks["notifications:listener"] = []healthCheck{listener}
	}
	writeHealth(c, status, res)
}
