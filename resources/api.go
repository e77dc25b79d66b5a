// Package resources serves the microblog API: gin handlers that build HAL
// resources from what the persistence layer returns.
package resources

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/rs/cors"

	"microblog/hal"
	"microblog/persistence"
)

// Config holds the settings of the API.
type Config struct {
	// TokenTTL is how long a token lasts.
	TokenTTL time.Duration
	// MinPasswordLength is the shortest password registration accepts.
	MinPasswordLength int
	// TrustForwardedPrefix makes hrefs start with the X-Forwarded-Prefix
	// that a reverse proxy sends. Only a proxy that sets or strips that
	// header may be trusted with it.
	TrustForwardedPrefix bool
	// LoginPerUser, LoginPerAccount and LoginPerAddress limit the attempts
	// at a password (POST /api/tokens, and a change of password or email)
	// per username from one client address, per username from all
	// addresses together (looser, so that one address cannot lock a user
	// out), and per client address; zero values take the defaults.
	LoginPerUser, LoginPerAccount, LoginPerAddress RateLimit
	// RegisterPerAddress limits registrations (POST /api/users) per client
	// address; a zero value takes the default.
	RegisterPerAddress RateLimit
	// ResetPerAddress and ResetPerEmail limit the requests for a password
	// reset mail (POST /api/password-reset) per client address and per
	// email address asked about; zero values take the defaults.
	ResetPerAddress, ResetPerEmail RateLimit
	// TrustedProxies are the addresses (or CIDR ranges) of reverse proxies
	// whose X-Forwarded-For names the client; none means the client is the
	// peer of the connection.
	TrustedProxies []string
	// RequireIfMatch makes a PUT, PATCH or DELETE of a user or a post
	// with neither If-Match nor If-Unmodified-Since a 428: clients must
	// show they read what they change.
	RequireIfMatch bool
	// CORSOrigins are the origins allowed to call the API from a browser;
	// none turns CORS off.
	CORSOrigins []string
	// RequestTimeout bounds the work of a request under /api, the wait for
	// the database included: past it the request gets a 503. Zero means
	// no bound.
	RequestTimeout time.Duration
	// BodyTimeout bounds how long a client may take to send the body of a
	// request, from when the server starts on it: past it the request
	// gets a 408 and the connection closes. Zero means 10 s.
	BodyTimeout time.Duration
	// Draining, when set and true, makes /readyz answer 503 so that a load
	// balancer sends no new requests while the server finishes.
	Draining *atomic.Bool
	// Notifications is the listener that feeds the live streams of
	// notifications (text/event-stream on /api/notifications), which end
	// when it stops; one handler attaches to it. Nil leaves the streams
	// unavailable (503).
	Notifications *persistence.Listener
	// Changes, when set, follows the changes that commit on any instance
	// (Changes.Run must run meanwhile), which lets the API
	// serve GETs again from memory while what they show stands, and
	// check tokens from memory (responses.go). Nil reads every GET from
	// the database.
	Changes *persistence.Changes
	// StreamHeartbeat is how often an event stream gets a comment line and
	// its token is checked again, and how long a write to it may take;
	// zero means 15 s.
	StreamHeartbeat time.Duration
	// StreamsPerUser and MaxStreams cap the event streams open at once, per
	// user (beyond it: 429) and in all (503); zero values take the defaults,
	// 4 and 512.
	StreamsPerUser, MaxStreams int
	// Logger receives request logs and internal errors.
	Logger *slog.Logger
}

// Media types a resource can be served as, in the server's order of
// preference. HAL-FORMS clients get plain HAL where a resource has no
// templates.
var halOffers = []string{hal.MediaType, hal.FormsMediaType, "application/json"}

const (
	maxBody      = 1 << 20
	curieName    = "mb"
	curieHref    = "/api/rels/{rel}"
	ctxMediaType = "microblog.media_type"
	ctxRequestID = "microblog.request_id"
	ctxBase      = "microblog.base"
)

// handlerFunc is a handler that returns its failure instead of writing it.
type handlerFunc func(c *gin.Context) error

// handler holds what every handler needs; its methods are the handlers of
// every route, which routes lists.
type handler struct {
	store  *persistence.Store
	cfg    Config
	log    *slog.Logger
	fields fields
	// loginByUser, loginByAccount, loginByAddress and registerByAddress
	// bound attempts at a password and registrations, and so the argon2id
	// work a client can ask for.
	loginByUser, loginByAccount, loginByAddress, registerByAddress *limiter
	// resetByAddress and resetByEmail limit requests for a reset mail.
	resetByAddress, resetByEmail *limiter
	// tagSalt is mixed into the entity tags made from versions.
	tagSalt string
	// bodies keeps the buffers that render marshals into, which a page
	// of users would otherwise grow from nothing on every request.
	bodies  sync.Pool
	metrics *metrics
	// reps keeps rendered representations by entity tag, and sharedUsers
	// and sharedPosts what every caller sees alike of each version of a
	// user or post.
	reps        *representations
	sharedUsers *sharedParts[userKey]
	sharedPosts *sharedParts[postKey]
	// responses keeps whole responses while what they show stands, when
	// the settings follow the database's changes (Config.Changes).
	responses *responses
	// docs is the documentation page, explorer the explorer's files: both
	// made once from what is compiled in and the settings.
	docs     []byte
	explorer map[string]asset
	// rels documents the API's own link relations, problemTypes its problem
	// types.
	rels         []relDoc
	problemTypes []problemDoc
	// hub passes live notifications to the event streams open here.
	hub *hub
}

// maxPooledBody is the largest buffer that goes back to handler.bodies:
// one huge document must not pin its buffer for good.
const maxPooledBody = 1 << 20

// NewHandler returns the HTTP handler of the whole API, /metrics, /healthz
// and /readyz included. It fails only on malformed settings.
func NewHandler(store *persistence.Store, cfg Config) (http.Handler, error) {
	h, err := newHandler(store, cfg)
	if err != nil {
		return nil, err
	}
	r, err := h.engine(h.routes, h.opsRoutes)
	if err != nil {
		return nil, err
	}
	return h.withCORS(r), nil
}

// NewHandlers returns the HTTP handler of the API without /metrics,
// /healthz and /readyz, and admin, the handler of those three alone, for a
// listener of their own. admin's metrics count api's requests. It fails
// only on malformed settings.
func NewHandlers(store *persistence.Store, cfg Config) (api, admin http.Handler, err error) {
	h, err := newHandler(store, cfg)
	if err != nil {
		return nil, nil, err
	}
	r, err := h.engine(h.routes)
	if err != nil {
		return nil, nil, err
	}
	ops, err := h.engine(h.opsRoutes)
	if err != nil {
		return nil, nil, err
	}
	return h.withCORS(r), ops, nil
}

// engine returns a router with the server's middleware and the routes that
// each of add adds.
func (h *handler) engine(add ...func(*gin.Engine)) (*gin.Engine, error) {
	r := gin.New()
	if err := r.SetTrustedProxies(h.cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("resources: trusted proxies: %w", err)
	}
	// A proxy that does not set X-Real-IP passes on the client's, so only
	// X-Forwarded-For, to which each proxy adds, names the client.
	r.RemoteIPHeaders = []string{"X-Forwarded-For"}
	r.HandleMethodNotAllowed = true
	r.RedirectFixedPath = false
	r.RedirectTrailingSlash = false
	r.Use(h.everyResponse)
	r.Use(h.logRequests, h.refuseUnknownMethods, h.metrics.measure, gin.CustomRecovery(func(c *gin.Context, err any) {
		writeError(c, h.log, panicError{err})
	}), h.limitBodyTime)
	if len(h.cfg.TrustedProxies) > 0 {
		r.Use(dropForwardedPorts)
	}
	r.NoRoute(h.noRoute)
	r.NoMethod(h.noMethod)
	for _, routes := range add {
		routes(r)
	}
	addHeadAndOptions(r)
	return r, nil
}

// withCORS wraps r in the CORS handler when origins are allowed.
func (h *handler) withCORS(r http.Handler) http.Handler {
	if len(h.cfg.CORSOrigins) == 0 {
		return r
	}
	return noSniff(cors.New(cors.Options{
		AllowedOrigins: h.cfg.CORSOrigins,
		AllowedMethods: []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
			http.MethodPatch, http.MethodDelete},
		AllowedHeaders: []string{"Accept", "Authorization", "Content-Type", "If-Match", "If-None-Match",
			"If-Modified-Since", "If-Unmodified-Since", "Prefer", "X-Request-Id"},
		ExposedHeaders: []string{"Allow", "Content-Disposition", "Content-Location", "ETag", "Last-Modified", "Location",
			"WWW-Authenticate", "X-Request-Id", "Accept-Patch", "Link", "Preference-Applied"},
		MaxAge: 600,
	}).Handler(r))
}

// noSniff sets nosniff, as everyResponse does, on the answers that the CORS
// handler gives without the router: preflights.
func noSniff(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// newHandler fills in the default settings and makes what the handlers
// share.
func newHandler(store *persistence.Store, cfg Config) (*handler, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// The default login limits allow a person a few mistyped passwords,
	// and a household or office behind one address its logins; a username
	// from everywhere gets six times what one address may spend of it.
	// People register once: an address gets a few registrations at once.
	if cfg.LoginPerUser.Events == 0 {
		cfg.LoginPerUser = RateLimit{Events: 10, Period: time.Minute, Burst: 5}
	}
	if cfg.LoginPerAccount.Events == 0 {
		cfg.LoginPerAccount = RateLimit{Events: 60, Period: time.Minute, Burst: 30}
	}
	if cfg.LoginPerAddress.Events == 0 {
		cfg.LoginPerAddress = RateLimit{Events: 60, Period: time.Minute, Burst: 20}
	}
	if cfg.BodyTimeout == 0 {
		cfg.BodyTimeout = 10 * time.Second
	}
	if cfg.RegisterPerAddress.Events == 0 {
		cfg.RegisterPerAddress = RateLimit{Events: 60, Period: time.Minute, Burst: 20}
	}
	// A reset is asked for once and perhaps again when the mail is slow;
	// an address, which may hold a household, gets a few more.
	if cfg.ResetPerAddress.Events == 0 {
		cfg.ResetPerAddress = RateLimit{Events: 10, Period: time.Hour, Burst: 5}
	}
	if cfg.ResetPerEmail.Events == 0 {
		cfg.ResetPerEmail = RateLimit{Events: 5, Period: time.Hour, Burst: 3}
	}
	h := &handler{store: store, cfg: cfg, log: cfg.Logger, fields: newFields(cfg.MinPasswordLength),
		loginByUser: newLimiter(cfg.LoginPerUser), loginByAccount: newLimiter(cfg.LoginPerAccount),
		loginByAddress: newLimiter(cfg.LoginPerAddress), registerByAddress: newLimiter(cfg.RegisterPerAddress),
		resetByAddress: newLimiter(cfg.ResetPerAddress), resetByEmail: newLimiter(cfg.ResetPerEmail),
		tagSalt: tagSalt(cfg.MinPasswordLength), metrics: newMetrics(store)}
	var err error
	if err := h.makeCaches(); err != nil {
		return nil, err
	}
	if h.rels, err = readRels(); err != nil {
		return nil, err
	}
	if h.problemTypes, err = readProblems(); err != nil {
		return nil, err
	}
	if h.explorer, err = explorerAssets(); err != nil {
		return nil, err
	}
	if h.docs, err = h.docsPage(); err != nil {
		return nil, err
	}
	h.hub = newHub(cfg)
	return h, h.keepResponses()
}

// noRoute answers a path the API does not have.
func (h *handler) noRoute(c *gin.Context) {
	addVary(c, "Accept")
	writeError(c, h.log, notFound())
}

// noMethod answers a method the path does not allow, naming those it does.
func (h *handler) noMethod(c *gin.Context) {
	addVary(c, "Accept")
	// gin lists the allowed methods in the order the routes were added.
	methods := strings.Split(c.Writer.Header().Get("Allow"), ", ")
	slices.Sort(methods)
	writeError(c, h.log, newError(http.StatusMethodNotAllowed, "").with("Allow", strings.Join(methods, ", ")))
}

// home serves GET /: a browser goes to the explorer, anything else to the
// API's root.
func (h *handler) home(c *gin.Context) {
	addVary(c, "Accept")
	to := "/api"
	if prefersHTML(c.GetHeader("Accept")) {
		to = "/explorer/"
	}
	c.Redirect(http.StatusFound, h.base(c)+to)
}

type panicError struct{ v any }

func (p panicError) Error() string { return "panic: " + strings.TrimSpace(fmtAny(p.v)) }

func fmtAny(v any) string {
	if err, ok := v.(error); ok {
		return err.Error()
	}
	if s, ok := v.(string); ok {
		return s
	}
	return "non-error panic value"
}

// addHeadAndOptions gives every GET route a HEAD twin and every path an
// OPTIONS handler that lists what the path allows.
func addHeadAndOptions(r *gin.Engine) {
	allowed := map[string][]string{}
	var paths []string
	routes := r.Routes()
	for _, ri := range routes {
		if _, ok := allowed[ri.Path]; !ok {
			paths = append(paths, ri.Path)
		}
		allowed[ri.Path] = append(allowed[ri.Path], ri.Method)
	}
	for _, ri := range routes {
		if ri.Method == http.MethodGet && !slices.Contains(allowed[ri.Path], http.MethodHead) {
			r.HEAD(ri.Path, ri.HandlerFunc)
			allowed[ri.Path] = append(allowed[ri.Path], http.MethodHead)
		}
	}
	for _, p := range paths {
		methods := append(allowed[p], http.MethodOptions)
		slices.Sort(methods)
		allow := strings.Join(methods, ", ")
		r.OPTIONS(p, func(c *gin.Context) {
			c.Header("Allow", allow)
			c.Status(http.StatusNoContent)
		})
	}
}

// handle adapts a handlerFunc of a HAL resource to gin: see handleAs.
func (h *handler) handle(f handlerFunc) gin.HandlerFunc { return h.handleAs(halOffers, f) }

// handleAs adapts a handlerFunc to gin: it picks the representation the
// client accepts among offers before any work is done, bounds the
// request's work by RequestTimeout, and sends every failure to writeError.
func (h *handler) handleAs(offers []string, f handlerFunc) gin.HandlerFunc {
	return h.handleWithin(h.cfg.RequestTimeout, offers, f)
}

// handleLong adapts the handler of a download as handleAs does, but does
// not bound the request's work as a whole: a client reads a large file
// for as long as it keeps reading (exports.go). Each statement is still
// bounded by the database's statement timeout.
func (h *handler) handleLong(offers []string, f handlerFunc) gin.HandlerFunc {
	return h.handleWithin(0, offers, f)
}

// handleWithin is handleAs with the bound timeout (0: none).
func (h *handler) handleWithin(timeout time.Duration, offers []string, f handlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		addVary(c, "Accept")
		mt := negotiate(c.GetHeader("Accept"), offers...)
		if mt == "" && c.Request.Method != http.MethodDelete {
			writeError(c, h.log, newError(http.StatusNotAcceptable,
				"this resource is available as "+strings.Join(offers, ", ")))
			return
		}
		// An event stream lasts as long as its client reads it, within
		// bounds of its own (stream.go).
		if timeout > 0 && mt != eventStreamType {
			ctx, cancel := context.WithTimeout(c.Request.Context(), timeout)
			defer cancel()
			c.Request = c.Request.WithContext(ctx)
		}
		c.Set(ctxMediaType, mt)
		if h.serveKeptResponse(c) {
			return
		}
		if err := f(c); err != nil {
			writeError(c, h.log, err)
		}
		h.wrote(c)
	}
}

// render sends res with status in the negotiated media type: HAL-FORMS
// only where res has templates, plain HAL where it has none.
func (h *handler) render(c *gin.Context, status int, res *hal.Resource) error {
	mt := c.GetString(ctxMediaType)
	buf, _ := h.bodies.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	var (
		body []byte
		err  error
	)
	switch {
	case mt == hal.FormsMediaType && res.HasTemplates():
		body, err = res.AppendForms((*buf)[:0], h.base(c))
	case mt == hal.FormsMediaType:
		mt = hal.MediaType
		fallthrough
	default:
		body, err = res.AppendJSON((*buf)[:0], h.base(c))
	}
	if err != nil {
		return err
	}
	// Written, the body is the network's or the recorder's copy.
	defer func() {
		if cap(body) <= maxPooledBody {
			*buf = body[:0]
			h.bodies.Put(buf)
		}
	}()
	if read := c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead; read && status == http.StatusOK {
		if c.Writer.Header().Get("Cache-Control") == "" {
			c.Header("Cache-Control", cachePrivate)
		}
		// Without a version to make it from, the tag is a hash of the
		// body: strong by construction, at the cost of rendering first.
		if c.Writer.Header().Get("ETag") == "" {
			tag := bodyTag(mt, body)
			if notModified(c, tag, time.Time{}) {
				return nil
			}
			c.Header("ETag", tag)
		}
	}
	// A final newline keeps a shell prompt off the end of curl's output.
	body = append(body, '\n')
	if status == http.StatusOK {
		h.keep(c, mt, body)
	}
	h.send(c, status, mt, body)
	return nil
}

// send writes body, of media type mt, with status, and keeps it when it
// is a 200 that may be kept (responses).
func (h *handler) send(c *gin.Context, status int, mt string, body []byte) {
	writeBody(c, status, mt, body)
	if status == http.StatusOK {
		h.keepResponse(c, mt, body)
	}
}

var forwardedPrefix = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)+$`)

// base is what hrefs start with: "" or, behind a trusted proxy, its
// X-Forwarded-Prefix.
func (h *handler) base(c *gin.Context) string {
	if !h.cfg.TrustForwardedPrefix {
		return ""
	}
	p := strings.TrimSuffix(c.GetHeader("X-Forwarded-Prefix"), "/")
	if !forwardedPrefix.MatchString(p) {
		return ""
	}
	return p
}

// addVary adds names to the Vary header, keeping what is there (the CORS
// handler's Origin, say) and naming each field once.
func addVary(c *gin.Context, names ...string) {
	h := c.Writer.Header()
	var have []string
	for _, v := range h.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				have = append(have, f)
			}
		}
	}
	for _, n := range names {
		if !slices.ContainsFunc(have, func(f string) bool { return strings.EqualFold(f, n) }) {
			have = append(have, n)
		}
	}
	h.Set("Vary", strings.Join(have, ", "))
}

// addCuries adds the curie of the API's own rels to a top-level document.
func addCuries(res *hal.Resource) *hal.Resource {
	return res.AddCurie(curieName, curieHref)
}

// parseID reads a positive int64 id from a path parameter, written as the
// server writes it: 01 or +1 would make a second URL of one resource.
// Anything else names no resource, so it is a 404, not a 400.
func parseID(c *gin.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id < 1 || strconv.FormatInt(id, 10) != c.Param(name) {
		return 0, notFound()
	}
	return id, nil
}

// strictCSP lets an HTML page load nothing, submit nothing and be framed
// by no one: the pages of errors, rels and problem types need nothing but
// their markup. The explorer and the documentation page set their own.
const strictCSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// everyResponse sets what every response carries, whatever writes it:
// nosniff, so that no browser reads a body as another type than its label,
// and strictCSP, which a JSON body does not mind and every HTML one needs.
// It keeps the base of hrefs for writeError.
func (h *handler) everyResponse(c *gin.Context) {
	hd := c.Writer.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", strictCSP)
	c.Set(ctxBase, h.base(c))
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// logRequests gives the request an id (the client's X-Request-Id when it is
// sane, else a new one), echoes it, and logs the request when it is done.
func (h *handler) logRequests(c *gin.Context) {
	start := time.Now()
	id := c.GetHeader("X-Request-Id")
	if !requestIDPattern.MatchString(id) {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id = hex.EncodeToString(b)
	}
	c.Set(ctxRequestID, id)
	c.Header("X-Request-Id", id)
	c.Next()
	// LogAttrs with typed attributes: no value is boxed on the way.
	h.log.LogAttrs(c.Request.Context(), slog.LevelInfo, "request",
		slog.String("method", c.Request.Method), slog.String("path", c.Request.URL.Path),
		slog.Int("status", c.Writer.Status()), slog.Int("bytes", max(c.Writer.Size(), 0)),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000), slog.String("request_id", id))
}

func requestID(c *gin.Context) string { return c.GetString(ctxRequestID) }
