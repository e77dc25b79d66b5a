package resources

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/maypok86/otter/v2"

	"microblog/persistence"
)

// responseBytes bounds the memory of the responses kept: the sum of their
// bodies, headers and topics.
const responseBytes = 8 << 20

// ctxPending holds the pendingResponse of a GET that may be kept;
// ctxRecords marks a GET whose token check records the token's use.
const (
	ctxPending = "microblog.pending_response"
	ctxRecords = "microblog.records_use"
)

// responseKey names a response: what was asked for (the path and query as
// sent, the media type negotiated, the base of hrefs) and by whom.
type responseKey struct {
	user          int64
	uri, mt, base string
}

// keptResponse is a 200 as it was sent, and what it was made of: the
// topics it shows, read under the number of changes read.
type keptResponse struct {
	body                           []byte
	contentType, tag, cacheControl string
	contentLocation                string
	modified                       time.Time
	read                           uint64
	topics                         []persistence.Topic
}

// pendingResponse is a GET on its way: the caller's token, the number of
// changes it reads under, and the topics its handler said it shows.
type pendingResponse struct {
	token    string
	read     uint64
	declared bool
	topics   []persistence.Topic
}

// responses keeps the 200s of GETs whose handlers name what they show
// (dependOn), and serves them again, with no statement at all, while none
// of it has changed: a response is kept for one user, under the number of
// the changes it was read under, and is served again only while
//   - this instance has read every change that committed more than
//     persistence.StaleAfter (1 s) ago, on any instance (Changes.Trusted);
//   - it has read the changes of the token's last write on this instance
//     (writers): a client sees its own writes at once;
//   - none of its topics changed after it was read (Changes.Unchanged);
//   - the token is one the store knows live (Store.Token): not expired,
//     and no token of its user ended since it was checked;
//   - the token's use is not due to be recorded (TokenState.SeenDue),
//     which the statement of the request does.
//
// Otherwise the request goes to its handler, as if nothing were kept.
// Kept responses are bounded by weight (otter, as the representations).
type responses struct {
	changes *persistence.Changes
	cache   *otter.Cache[responseKey, *keptResponse]
	// writers is when each token last made a request that may have
	// written, on this instance, for as long as that matters.
	writers *otter.Cache[string, time.Time]
}

func newResponses(changes *persistence.Changes) (*responses, error) {
	cache, err := otter.New(&otter.Options[responseKey, *keptResponse]{
		MaximumWeight: responseBytes,
		Weigher: func(k responseKey, r *keptResponse) uint32 {
			return uint32(len(k.uri) + len(r.body) + len(r.tag) + len(r.contentLocation) + 16*len(r.topics) + 128)
		},
	})
	if err != nil {
		return nil, err
	}
	writers, err := otter.New(&otter.Options[string, time.Time]{
		MaximumSize:      100_000,
		ExpiryCalculator: otter.ExpiryWriting[string, time.Time](2 * persistence.StaleAfter),
	})
	if err != nil {
		return nil, err
	}
	return &responses{changes: changes, cache: cache, writers: writers}, nil
}

// keepResponses makes h keep responses when its settings follow the
// changes, and its store remember the tokens it checks.
func (h *handler) keepResponses() error {
	if h.cfg.Changes == nil {
		return nil
	}
	h.store.Watch(h.cfg.Changes)
	var err error
	h.responses, err = newResponses(h.cfg.Changes)
	return err
}

// responseKey names the response to c for user.
func (h *handler) responseKey(c *gin.Context, user int64) responseKey {
	return responseKey{user: user, uri: c.Request.URL.RequestURI(), mt: mediaType(c), base: h.base(c)}
}

// serveKeptResponse answers a GET or HEAD from a kept response, when one is
// true (responses), and reports whether it did. Otherwise it marks the
// request as one whose response may be kept.
func (h *handler) serveKeptResponse(c *gin.Context) bool {
	r := h.responses
	if r == nil || (c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead) {
		return false
	}
	token, ok := bearerToken(c)
	if !ok || !wellFormedToken(token) {
		return false
	}
	token = strings.ToLower(token)
	st := h.store.Token(token)
	if st.SeenDue {
		// The request's token check records a write (wrote).
		c.Set(ctxRecords, true)
		return false
	}
	// What the handler reads may be kept whether or not what is kept may
	// be served now: it is checked when it is served.
	c.Set(ctxPending, &pendingResponse{token: token, read: r.changes.Now()})
	if !r.changes.Trusted(time.Now()) {
		return false
	}
	if at, ok := r.writers.GetIfPresent(token); ok && !r.changes.LookedSince(at) {
		// The first read after a write asks for the look that lets the
		// next ones be served: a client that only writes costs none.
		r.changes.AskLook()
		return false
	}
	if !st.Live {
		return false
	}
	kept, ok := r.cache.GetIfPresent(h.responseKey(c, st.User))
	if !ok || !r.changes.Unchanged(kept.read, kept.topics...) {
		return false
	}
	addVary(c, "Accept", "Authorization")
	c.Header("Cache-Control", kept.cacheControl)
	if kept.contentLocation != "" {
		c.Header("Content-Location", kept.contentLocation)
	}
	h.metrics.kept.Inc()
	if notModified(c, kept.tag, kept.modified) {
		return true
	}
	setValidators(c, kept.tag, kept.modified)
	writeBody(c, http.StatusOK, kept.contentType, kept.body)
	return true
}

// dependOn says that the response to c shows topics: a handler that names
// every topic of what it shows makes its 200 one that may be kept.
func dependOn(c *gin.Context, topics ...persistence.Topic) {
	if v, ok := c.Get(ctxPending); ok {
		p := v.(*pendingResponse)
		p.declared = true
		p.topics = append(p.topics, topics...)
	}
}

// keepResponse keeps body, just sent as a 200 of contentType, when its
// handler named what it shows.
func (h *handler) keepResponse(c *gin.Context, contentType string, body []byte) {
	v, _ := c.Get(ctxPending)
	p, _ := v.(*pendingResponse)
	if p == nil || !p.declared {
		return
	}
	st := h.store.Token(p.token)
	if !st.Live {
		return
	}
	hd := c.Writer.Header()
	kept := &keptResponse{body: append([]byte(nil), body...), contentType: contentType, tag: hd.Get("ETag"),
		cacheControl: hd.Get("Cache-Control"), contentLocation: hd.Get("Content-Location"), read: p.read,
		topics: append(p.topics, persistence.TokensOf(st.User))}
	if lm := hd.Get("Last-Modified"); lm != "" {
		kept.modified, _ = http.ParseTime(lm)
	}
	h.responses.cache.Set(h.responseKey(c, st.User), kept)
}

// wrote notes that c may have written, a request that is not a read or a
// read whose token check records the token's use: its token is served
// nothing kept until its changes are read (serveKeptResponse).
func (h *handler) wrote(c *gin.Context) {
	if h.responses == nil {
		return
	}
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		if !c.GetBool(ctxRecords) {
			return
		}
	}
	if token, ok := bearerToken(c); ok && wellFormedToken(token) {
		h.responses.writers.Set(strings.ToLower(token), time.Now())
	}
}
