package resources

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"microblog/persistence"
)

// eventStreamType is the media type of the live stream of notifications
// (server-sent events, in the HTML standard), which /api/notifications
// alone offers.
const eventStreamType = "text/event-stream"

// notificationOffers are the media types of /api/notifications: a page of
// notifications, or their live stream.
var notificationOffers = append(halOffers[:len(halOffers):len(halOffers)], eventStreamType)

// The defaults of the settings of streams (Config), and what is not a
// setting.
const (
	defaultStreamHeartbeat = 15 * time.Second
	defaultStreamsPerUser  = 4
	defaultMaxStreams      = 512
	// streamBuffer is how many notifications may wait for a stream's
	// client: one more ends the stream, so that a client that stops
	// reading holds no more memory than that.
	streamBuffer = 64
	// catchUpBatch is how many notifications a stream reads at a time when
	// it catches up after Last-Event-ID or a gap of the listener.
	catchUpBatch = 100
)

// hub passes the notifications that the listener hears to the event
// streams of their recipients open on this instance, and keeps the caps
// on open streams. It is the listener's persistence.Receiver.
type hub struct {
	heartbeat     time.Duration
	perUser, most int
	// retryAfter is what a refused stream is told to wait, in seconds.
	retryAfter string
	mu         sync.Mutex
	streams    map[int64]map[*stream]struct{} // by user: those to pass notifications to
	counts     map[int64]int                  // by user: those whose handlers run
	open       int
	stopped    bool
}

// stream is what the hub holds for one open event stream.
type stream struct {
	user int64
	// events are the notifications that wait for the client.
	events chan persistence.Notification
	// missed says the listener may have missed notifications: the stream
	// reads what it has not sent.
	missed chan struct{}
	// end is closed when the hub ends the stream, why says why.
	end chan struct{}
	why string
}

// newHub returns the hub of the stream settings of cfg, attached to its
// listener, or stopped when there is none.
func newHub(cfg Config) *hub {
	hb := &hub{heartbeat: cfg.StreamHeartbeat, perUser: cfg.StreamsPerUser, most: cfg.MaxStreams,
		streams: map[int64]map[*stream]struct{}{}, counts: map[int64]int{}}
	if hb.heartbeat <= 0 {
		hb.heartbeat = defaultStreamHeartbeat
	}
	if hb.perUser <= 0 {
		hb.perUser = defaultStreamsPerUser
	}
	if hb.most <= 0 {
		hb.most = defaultMaxStreams
	}
	// A heartbeat is how long the server may take to find that a client
	// has gone and its stream can be counted no more.
	hb.retryAfter = strconv.FormatInt(int64((hb.heartbeat+time.Second-1)/time.Second), 10)
	if cfg.Notifications != nil {
		cfg.Notifications.Attach(hb)
	} else {
		hb.Stopped()
	}
	return hb
}

// Wants reports whether user has a stream here.
func (hb *hub) Wants(user int64) bool {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	return len(hb.streams[user]) > 0
}

// Receive passes n to the streams of its recipient, and ends those whose
// buffer is full.
func (hb *hub) Receive(n persistence.Notification) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	for s := range hb.streams[n.Recipient] {
		select {
		case s.events <- n:
		default:
			hb.end(s, "the client did not keep up")
		}
	}
}

// Missed tells every stream to read what it may not have been passed.
func (hb *hub) Missed() {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	for _, streams := range hb.streams {
		for s := range streams {
			select {
			case s.missed <- struct{}{}:
			default: // told already
			}
		}
	}
}

// Stopped ends every stream, and refuses new ones: the listener has
// stopped, as the server does.
func (hb *hub) Stopped() {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	hb.stopped = true
	for _, streams := range hb.streams {
		for s := range streams {
			hb.end(s, "the server is stopping")
		}
	}
}

// end stops passing notifications to s and tells its handler why. The
// caller holds mu.
func (hb *hub) end(s *stream, why string) {
	delete(hb.streams[s.user], s)
	if len(hb.streams[s.user]) == 0 {
		delete(hb.streams, s.user)
	}
	s.why = why
	close(s.end)
}

// subscribe opens a stream of user's notifications, within the caps: 429
// past the user's, 503 past the total or when there is no listener.
func (hb *hub) subscribe(user int64) (*stream, error) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	switch {
	case hb.stopped:
		return nil, newError(http.StatusServiceUnavailable, "live notifications are not available now").
			with("Retry-After", hb.retryAfter)
	case hb.open >= hb.most:
		return nil, newError(http.StatusServiceUnavailable, "the server has as many live streams open as it takes").
			with("Retry-After", hb.retryAfter)
	case hb.counts[user] >= hb.perUser:
		return nil, newError(http.StatusTooManyRequests, "you have "+strconv.Itoa(hb.perUser)+
			" live streams of notifications open, as many as one user may").
			with("Retry-After", hb.retryAfter).with("Cache-Control", "no-store")
	}
	s := &stream{user: user, events: make(chan persistence.Notification, streamBuffer),
		missed: make(chan struct{}, 1), end: make(chan struct{})}
	if hb.streams[user] == nil {
		hb.streams[user] = map[*stream]struct{}{}
	}
	hb.streams[user][s] = struct{}{}
	hb.counts[user]++
	hb.open++
	return s, nil
}

// unsubscribe forgets s, whose handler returns.
func (hb *hub) unsubscribe(s *stream) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if _, ok := hb.streams[s.user][s]; ok {
		hb.end(s, "")
	}
	if hb.counts[s.user]--; hb.counts[s.user] == 0 {
		delete(hb.counts, s.user)
	}
	hb.open--
}

// streamNotifications serves GET /api/notifications as text/event-stream:
// each notification of the caller that commits from now on, or after the
// one Last-Event-ID names, as an event whose id is the notification's,
// whose type is its type and whose data is its HAL document on one line.
// A comment line comes every heartbeat, when the token is checked again;
// the stream ends when the token is revoked or expires, when the server
// stops, and when the client does not keep up.
func (h *handler) streamNotifications(c *gin.Context, token string) error {
	ctx := c.Request.Context()
	sub, err := h.store.Subscriber(ctx, token)
	if err != nil {
		return err
	}
	if c.Request.Method == http.MethodHead {
		startEvents(c)
		return nil
	}
	s, err := h.hub.subscribe(sub.Caller.ID)
	if err != nil {
		return err
	}
	defer h.hub.unsubscribe(s)
	es := &eventStream{h: h, c: c, rc: http.NewResponseController(c.Writer), token: token, sub: sub, s: s,
		last: sub.Newest}
	if after, ok := lastEventID(c); ok {
		es.last = after
	}
	if err := es.run(ctx); err != nil && ctx.Err() == nil {
		h.log.WarnContext(ctx, "notification stream failed", "err", err, "user_id", sub.Caller.ID,
			"request_id", requestID(c))
	}
	return nil
}

// startEvents sends the headers of an event stream.
func startEvents(c *gin.Context) {
	hd := c.Writer.Header()
	hd.Set("Content-Type", eventStreamType)
	hd.Set("Cache-Control", "no-store")
	// nginx and others buffer what they pass on unless told not to.
	hd.Set("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	c.Writer.WriteHeaderNow()
}

// lastEventID is the id of the last notification a reconnecting client
// got, from Last-Event-ID. Anything but an integer is no id: the stream
// then starts from now, as it does without one.
func lastEventID(c *gin.Context) (int64, bool) {
	v := strings.TrimSpace(c.GetHeader("Last-Event-ID"))
	id, err := strconv.ParseInt(v, 10, 64)
	return id, err == nil && id >= 0
}

// eventStream writes the events of one stream.
type eventStream struct {
	h     *handler
	c     *gin.Context
	rc    *http.ResponseController
	token string
	sub   persistence.Subscriber
	s     *stream
	// last is the id of the last notification sent, or the one the stream
	// starts after.
	last int64
	buf  []byte
}

// run streams until the stream ends, and says why in a last comment line
// when it can. It catches up first: with what committed after Last-Event-ID,
// or, from now, after the Subscriber's read and before subscribe.
func (es *eventStream) run(ctx context.Context) error {
	startEvents(es.c)
	if err := es.flush(); err != nil {
		return nil // the client has gone
	}
	if err := es.catchUp(ctx); err != nil {
		return ended(err)
	}
	heartbeat := time.NewTicker(es.h.hub.heartbeat)
	defer heartbeat.Stop()
	expiry := time.NewTimer(es.sub.ExpiresAt.Sub(es.h.store.Now()))
	defer expiry.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return nil
		case <-es.s.end:
			return es.comment(es.s.why)
		case <-expiry.C:
			return es.comment("the token has expired")
		case <-es.s.missed:
			err = es.catchUp(ctx)
		case n := <-es.s.events:
			err = es.send(n)
		case <-heartbeat.C:
			err = es.beat(ctx)
		}
		if err != nil {
			return ended(err)
		}
	}
}

// errStreamEnded ends a stream that has said why, or whose client has
// gone.
var errStreamEnded = errors.New("the stream has ended")

// ended is what run returns for err: nothing for a stream that ended as
// streams do, err for a failure.
func ended(err error) error {
	if errors.Is(err, errStreamEnded) {
		return nil
	}
	return err
}

// catchUp sends the caller's notifications after the last one sent, read
// from the database a batch at a time.
func (es *eventStream) catchUp(ctx context.Context) error {
	for {
		batch, err := es.h.store.NotificationsAfter(ctx, es.sub.Caller.ID, es.last, catchUpBatch)
		if err != nil {
			return err
		}
		for _, n := range batch {
			if err := es.send(n); err != nil {
				return err
			}
		}
		if len(batch) < catchUpBatch {
			return nil
		}
	}
}

// send writes n as an event, unless it was sent already: the listener
// may pass on what a catch-up read too. A user's notifications commit in
// the order of their ids, so one with an id below the last is never new.
func (es *eventStream) send(n persistence.Notification) error {
	if n.ID <= es.last {
		return nil
	}
	body, err := notificationDocument(n).AppendJSON(es.buf[:0], es.h.base(es.c))
	if err != nil {
		return err
	}
	es.buf = body
	var b strings.Builder
	b.WriteString("id: " + strconv.FormatInt(n.ID, 10) + "\nevent: " + n.Type + "\ndata: ")
	b.Write(body)
	b.WriteString("\n\n")
	if err := es.write(b.String()); err != nil {
		return errStreamEnded
	}
	es.last = n.ID
	return nil
}

// beat checks the token again and sends a comment line, which tells the
// client and every proxy on the way that the stream is alive, and tells
// the server whether the client still is.
func (es *eventStream) beat(ctx context.Context) error {
	_, err := es.h.store.Authenticate(ctx, es.token)
	if errors.Is(err, persistence.ErrInvalidToken) {
		_ = es.comment("the token is no longer valid")
		return errStreamEnded
	}
	// Another failure (the database out of reach) leaves the stream open:
	// the next beat checks again.
	if err := es.write(": keep-alive\n\n"); err != nil {
		return errStreamEnded
	}
	return nil
}

// comment sends a last comment line, if there is anything to say and the
// client still reads.
func (es *eventStream) comment(why string) error {
	if why != "" {
		_ = es.write(": " + why + "\n\n")
	}
	return nil
}

// write sends text to the client at once. A write that takes longer than
// a heartbeat fails: the client does not read.
func (es *eventStream) write(text string) error {
	_ = es.rc.SetWriteDeadline(time.Now().Add(es.h.hub.heartbeat))
	if _, err := es.c.Writer.WriteString(text); err != nil {
		return err
	}
	return es.flush()
}

// flush sends what is written; a recorder, which has no connection, needs
// no flushing.
func (es *eventStream) flush() error {
	if err := es.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}
