package resources

import (
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// limitBodyTime gives the body of a request, when it has one,
// Config.BodyTimeout to arrive: a client that trickles it gets a 408
// (decodeObject), and the connection is closed rather than held.
func (h *handler) limitBodyTime(c *gin.Context) {
	if c.Request.ContentLength == 0 {
		return
	}
	// Only a real connection has a deadline (not httptest's recorder).
	_ = http.NewResponseController(c.Writer).SetReadDeadline(time.Now().Add(h.cfg.BodyTimeout))
}

// bodyRead lifts the deadline of limitBodyTime once the whole body is in:
// net/http then watches the idle connection, and a deadline passing there
// would cancel the request's context, and so the work that follows.
func bodyRead(c *gin.Context) {
	_ = http.NewResponseController(c.Writer).SetReadDeadline(time.Time{})
}

// dropForwardedPorts rewrites the entries of X-Forwarded-For that carry a
// port ("192.0.2.7:4711", "[2001:db8::7]:4711"), which some proxies send,
// to the address alone. gin takes such an entry for garbage, and so the
// proxy for the client.
func dropForwardedPorts(c *gin.Context) {
	values := c.Request.Header.Values("X-Forwarded-For")
	if len(values) == 0 {
		return
	}
	entries := strings.Split(strings.Join(values, ","), ",")
	for i, e := range entries {
		if ap, err := netip.ParseAddrPort(strings.TrimSpace(e)); err == nil {
			entries[i] = ap.Addr().String()
		}
	}
	c.Request.Header.Set("X-Forwarded-For", strings.Join(entries, ","))
}
