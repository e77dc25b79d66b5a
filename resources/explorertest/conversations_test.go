package explorertest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// streamGate stands before the API and watches the live streams of
// notifications that the explorer opens: how many are open, the
// Last-Event-ID of each, and, while it is closed, it refuses them with a
// 503 as a server that takes no more streams does.
type streamGate struct {
	mu       sync.Mutex
	open     int
	lastIDs  []string
	closed   bool
	refusals int
}

func (g *streamGate) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/notifications" || r.Header.Get("Accept") != "text/event-stream" {
			next.ServeHTTP(w, r)
			return
		}
		g.mu.Lock()
		g.lastIDs = append(g.lastIDs, r.Header.Get("Last-Event-ID"))
		if g.closed {
			g.refusals++
			g.mu.Unlock()
			w.Header().Set("Content-Type", "application/problem+json")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"title": "Service Unavailable", "status": 503}`)
			return
		}
		g.open++
		g.mu.Unlock()
		defer func() {
			g.mu.Lock()
			g.open--
			g.mu.Unlock()
		}()
		next.ServeHTTP(w, r)
	})
}

// state returns how many streams are open, how many were refused, and the
// Last-Event-ID of every stream asked for.
func (g *streamGate) state() (open, refusals int, lastIDs []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open, g.refusals, append([]string(nil), g.lastIDs...)
}

func (g *streamGate) setClosed(closed bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = closed
}

// waitFor polls cond until it holds, and fails the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
	}
}

// conversation is what the test knows of its two users and their posts.
type conversation struct {
	t            *testing.T
	origin       string
	bob          string // bob's token
	me, bobID    int64  // the ids of the explorer's user and bob
	myPost       int64  // the explorer's post, which bob likes and answers
	bobPost      int64  // bob's post, which the explorer likes and answers
	lastNotified string // the id of the newest notification of the explorer's
}

// TestExplorerConversations drives the templates of replies, likes and
// messages as buttons and forms, and the live notifications panel: the
// unread count from the page, each act of another user shown as it
// happens, mark-read, a dropped stream resumed after its last event, and
// the stream closed at logout.
func TestExplorerConversations(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	b := newBrowser(ctx, t)
	gate := &streamGate{}
	ts := startServer(t, gate.wrap)
	cv := newConversation(t, ts.URL)

	openRoot(b, ts.URL)
	logIn(b, password)
	b.step("the panel opens with the unread count of the page",
		chromedp.Poll[chromedp.Void](`document.getElementById('notifications').dataset.state === 'live'`,
			chromedp.WithPollingTimeout(10*time.Second)),
	)
	if got := b.text(`#notifications-unread`); got != "1" {
		t.Errorf("the unread count at the start is %q, want 1 (bob's mention)", got)
	}
	b.check("the count came from one notification of the root's mb:notifications",
		`document.querySelector('#responses li[data-method="GET"][data-url="/api/notifications?per_page=1"][data-status="200"]') !== null`)

	cv.likeAndReply(b)
	cv.writeToBob(b)
	cv.notifiedLive(b)
	cv.markRead(b)
	cv.resumed(b, ts, gate)

	logOut(b)
	closedFor(b, gate, "logout")
	logIn(b, password)
	cv.revoked(b, ts, gate)
}

// closedFor checks that the panel is closed and empty, and that no stream
// is open or asked for any more, after what closed it.
func closedFor(b *browser, gate *streamGate, what string) {
	t := b.t
	waitFor(t, "the stream to close after "+what, func() bool { open, _, _ := gate.state(); return open == 0 })
	b.check("after "+what+" the panel is closed and empty", `document.getElementById('notifications').hidden
		&& document.getElementById('notifications').dataset.state === 'closed'
		&& document.querySelectorAll('#notifications-list li').length === 0`)
	_, _, asked := gate.state()
	time.Sleep(2500 * time.Millisecond) // longer than the first wait before a new attempt
	if open, _, again := gate.state(); open != 0 || len(again) != len(asked) {
		t.Errorf("after %s: %d streams open, %d asked for, want none open and no new one", what, open, len(again)-len(asked))
	}
}

// revoked changes the password of the explorer's user through the API,
// which revokes the token the page holds, and drops the connections: the
// stream asked for again is a 401, and the page stops it and logs out.
func (cv *conversation) revoked(b *browser, ts *httptest.Server, gate *streamGate) {
	b.step("the panel opens again at the next login",
		chromedp.Poll[chromedp.Void](`document.getElementById('notifications').dataset.state === 'live'
			&& document.getElementById('notifications-unread').textContent === '1'`,
			chromedp.WithPollingTimeout(10*time.Second)),
	)
	token := apiToken(cv.t, cv.origin, username, password)
	cv.call(token, http.MethodPatch, "/api/users/"+strconv.FormatInt(cv.me, 10),
		`{"old_password": `+js(password)+`, "password": `+js(newPassword)+`}`, http.StatusOK)
	ts.CloseClientConnections()
	b.step("the stream's 401 logs the page out",
		visible(`#responses li[data-method="GET"][data-url="/api/notifications"][data-status="401"]`),
		visible(`#login-submit`),
	)
	if got := b.text(`#status`); !strings.Contains(got, "log in again") {
		b.t.Errorf("after the stream's 401 the status line says %q", got)
	}
	closedFor(b, gate, "the stream's 401")
}

// newConversation registers the explorer's user and bob; each writes a
// post, and bob mentions the explorer's user before they log in.
func newConversation(t *testing.T, origin string) *conversation {
	registerAs(t, origin, username, password)
	registerAs(t, origin, "bob", "bob-password")
	cv := &conversation{t: t, origin: origin, bob: apiToken(t, origin, "bob", "bob-password")}
	mine := apiToken(t, origin, username, password)
	cv.me = cv.id(cv.call(mine, http.MethodGet, "/api/me", "", http.StatusOK))
	cv.bobID = cv.id(cv.call(cv.bob, http.MethodGet, "/api/me", "", http.StatusOK))
	cv.myPost = cv.id(cv.call(mine, http.MethodPost, "/api/posts", `{"body": "My tomatoes are ripe"}`, http.StatusCreated))
	cv.bobPost = cv.id(cv.call(cv.bob, http.MethodPost, "/api/posts", `{"body": "Rain at last"}`, http.StatusCreated))
	cv.call(cv.bob, http.MethodPost, "/api/posts", `{"body": "Hello @`+username+`"}`, http.StatusCreated)
	return cv
}

// call sends a request with token as the user it is of and returns the
// body of the response, whose status must be want.
func (cv *conversation) call(token, method, path, body string, want int) []byte {
	cv.t.Helper()
	req, err := http.NewRequestWithContext(cv.t.Context(), method, cv.origin+path, strings.NewReader(body))
	if err != nil {
		cv.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cv.t.Fatal(err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != want {
		cv.t.Fatalf("%s %s: %s, want %d (%v): %s", method, path, res.Status, want, err, got)
	}
	return got
}

// id is the id member of a JSON document.
func (cv *conversation) id(body []byte) int64 {
	cv.t.Helper()
	var doc struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.ID == 0 {
		cv.t.Fatalf("no id in %s (%v)", body, err)
	}
	return doc.ID
}

// attr returns the attribute name of the first element that matches sel,
// "" when it has none.
func (b *browser) attr(sel, name string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector(`+js(sel)+`)?.getAttribute(`+js(name)+`) ?? ''`))
	if err != nil {
		b.t.Fatalf("attribute %s of %s: %v", name, sel, err)
	}
	return s
}

func postPath(id int64) string { return "/api/posts/" + strconv.FormatInt(id, 10) }

// shows is a step's wait for the resource at path with the property name
// shown as value.
func shows(path, name, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](`document.getElementById('resource').dataset.path === `+js(path)+
		` && document.querySelector('#properties [data-property="`+name+`"] td')?.textContent === `+js(value),
		chromedp.WithPollingTimeout(10*time.Second))
}

// likeAndReply opens bob's post from the list of posts, likes it with its
// like button, replies to it with its reply form, and takes the like back:
// after each the post is read again and shows its new counts and buttons.
func (cv *conversation) likeAndReply(b *browser) {
	post := postPath(cv.bobPost)
	openFromRoot(b, "open mb:posts from the root", "mb:posts", `#resource[data-path="/api/posts"] [data-embedded-rel="mb:posts"] details`)
	b.step("open bob's post",
		click(`[data-embedded-rel="mb:posts"] details[data-self="`+post+`"] a.open`),
		shows(post, "like_count", "0"),
		visible(`[data-template="like"] button`),
		visible(`[data-template="reply"] [name="body"]`),
	)
	b.step("like it with its like button",
		click(`[data-template="like"] button`),
		visible(`#responses li[data-method="PUT"][data-url="`+post+`/likes/`+strconv.FormatInt(cv.me, 10)+`"][data-status="201"]`),
		shows(post, "like_count", "1"),
		visible(`[data-template="unlike"] button`),
	)
	b.check("the post says the caller likes it, and offers like no more",
		`document.querySelector('#properties [data-property="liked"] td').textContent === 'true'
		&& document.querySelector('[data-template="like"]') === null`)
	b.step("reply with its reply form",
		chromedp.SetValue(chromedp.CSS(`[data-template="reply"] [name="body"]`), "Good for the garden"),
		click(`[data-template="reply"] button[type="submit"]`),
		visible(`#responses li[data-method="POST"][data-url="`+post+`/replies"][data-status="201"]`),
		visible(`#properties [data-property="body"]`),
		visible(`#links [data-rel="mb:in-reply-to"] a.link`),
	)
	if got := b.text(`#properties [data-property="body"] td`); got != "Good for the garden" {
		b.t.Errorf("the reply shown is %q", got)
	}
	b.step("follow the reply's mb:in-reply-to back to the post",
		click(`#links [data-rel="mb:in-reply-to"] a.link`),
		shows(post, "reply_count", "1"),
	)
	b.step("take the like back with its unlike button",
		click(`[data-template="unlike"] button`),
		visible(`#responses li[data-method="DELETE"][data-status="204"]`),
		shows(post, "like_count", "0"),
		visible(`[data-template="like"] button`),
	)
	b.check("the post says the caller does not like it", `document.querySelector('#properties [data-property="liked"] td').textContent === 'false'`)
}

// writeToBob opens bob from his post and writes to him with his message
// form.
func (cv *conversation) writeToBob(b *browser) {
	b.step("open bob from his post",
		click(`#links [data-rel="author"] a.link`),
		visible(`#resource[data-path="/api/users/`+strconv.FormatInt(cv.bobID, 10)+`"] [data-template="message"] [name="body"]`),
	)
	b.step("write to bob with his message form",
		chromedp.SetValue(chromedp.CSS(`[data-template="message"] [name="body"]`), "Lunch tomorrow?"),
		click(`[data-template="message"] button[type="submit"]`),
		visible(`#responses li[data-method="POST"][data-url="/api/users/`+strconv.FormatInt(cv.bobID, 10)+`/messages"][data-status="201"]`),
		visible(`#resource[data-path^="/api/messages/"] #links [data-rel="mb:recipient"]`),
	)
	if got := b.text(`#properties [data-property="body"] td`); got != "Lunch tomorrow?" {
		b.t.Errorf("the message shown is %q", got)
	}
}

// notifiedLive has bob follow the explorer's user, like and answer their
// post, mention them and write to them, through the API, and sees each
// appear in the panel as it happens, with the unread count.
func (cv *conversation) notifiedLive(b *browser) {
	me := strconv.FormatInt(cv.me, 10)
	bob := strconv.FormatInt(cv.bobID, 10)
	acts := []struct {
		kind    string
		act     func() []byte
		subject func(body []byte) string
	}{
		{"follow", func() []byte {
			return cv.call(cv.bob, http.MethodPut, "/api/users/"+bob+"/following/"+me, "", http.StatusCreated)
		}, func([]byte) string { return "/api/users/" + bob }},
		{"like", func() []byte {
			return cv.call(cv.bob, http.MethodPut, postPath(cv.myPost)+"/likes/"+bob, "", http.StatusCreated)
		}, func([]byte) string { return postPath(cv.myPost) }},
		{"reply", func() []byte {
			return cv.call(cv.bob, http.MethodPost, postPath(cv.myPost)+"/replies", `{"body": "Send me some"}`, http.StatusCreated)
		}, func(body []byte) string { return postPath(cv.id(body)) }},
		{"mention", func() []byte {
			return cv.call(cv.bob, http.MethodPost, "/api/posts", `{"body": "Ask @`+username+` about tomatoes"}`, http.StatusCreated)
		}, func(body []byte) string { return postPath(cv.id(body)) }},
		{"message", func() []byte {
			return cv.call(cv.bob, http.MethodPost, "/api/users/"+me+"/messages", `{"body": "Yes, at noon"}`, http.StatusCreated)
		}, func(body []byte) string { return fmt.Sprintf("/api/messages/%d", cv.id(body)) }},
	}
	var subject string
	for i, a := range acts {
		subject = a.subject(a.act())
		newest := `#notifications-list li:first-child`
		b.step("bob's "+a.kind+" shows in the panel",
			chromedp.Poll[chromedp.Void](`document.querySelectorAll('#notifications-list li').length === `+strconv.Itoa(i+1)+
				` && document.querySelector('`+newest+`').dataset.type === `+js(a.kind),
				chromedp.WithPollingTimeout(10*time.Second)),
		)
		b.check("the "+a.kind+" names bob and links its subject", `(() => { const li = document.querySelector('`+newest+`');
			return li.querySelector('a.actor').textContent === 'bob' && li.querySelector('a.actor').getAttribute('href') === '#/api/users/`+bob+`'
				&& li.querySelector('a.subject').getAttribute('href') === `+js("#"+subject)+`; })()`)
		if got, want := b.text(`#notifications-unread`), strconv.Itoa(i+2); got != want {
			b.t.Errorf("after bob's %s the unread count is %s, want %s", a.kind, got, want)
		}
	}
	b.screenshotAs("microblog-explorer-notifications.png")
	cv.lastNotified = b.attr(`#notifications-list li:first-child`, "data-id")
	b.step("open the message from its notification",
		click(`#notifications-list li:first-child a.subject`),
		visible(`#resource[data-path="`+subject+`"] #properties [data-property="body"]`),
	)
	if got := b.text(`#properties [data-property="body"] td`); got != "Yes, at noon" {
		b.t.Errorf("the message opened from the panel is %q", got)
	}
}

// markRead opens every notification from the panel and marks them read
// with the page's mark-read form: the panel's count follows the page's.
func (cv *conversation) markRead(b *browser) {
	b.step("open all notifications from the panel",
		click(`#notifications-all`),
		visible(`#resource[data-path="/api/notifications"] [data-embedded-rel="mb:notifications"] details`),
		visible(`[data-template="mark-read"] button`),
	)
	b.step("mark them read with the page's mark-read form",
		click(`[data-template="mark-read"] button`),
		visible(`#responses li[data-method="POST"][data-url="/api/notifications"][data-status="204"]`),
		chromedp.Poll[chromedp.Void](`document.getElementById('notifications-unread').textContent === '0'`,
			chromedp.WithPollingTimeout(10*time.Second)),
	)
	b.check("the page read again says none is unread",
		`JSON.parse(document.querySelector('#properties [data-property="_meta"] td').textContent).unread === 0`)
}

// resumed drops the connections while streams are refused, has bob
// mention the explorer's user meanwhile, and lets streams through again:
// the panel waits, comes back with Last-Event-ID, and shows the mention
// it missed, once.
func (cv *conversation) resumed(b *browser, ts *httptest.Server, gate *streamGate) {
	t := cv.t
	gate.setClosed(true)
	ts.CloseClientConnections()
	waitFor(t, "the panel to try again and be refused", func() bool { _, refusals, _ := gate.state(); return refusals > 0 })
	b.step("the panel says it waits",
		chromedp.Poll[chromedp.Void](`document.getElementById('notifications').dataset.state === 'waiting'`,
			chromedp.WithPollingTimeout(10*time.Second)),
	)
	cv.call(cv.bob, http.MethodPost, "/api/posts", `{"body": "Did you see this, @`+username+`?"}`, http.StatusCreated)
	gate.setClosed(false)
	b.step("the mention made while the stream was down shows",
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('#notifications-list li').length === 6
			&& document.querySelector('#notifications-list li:first-child').dataset.type === 'mention'
			&& document.getElementById('notifications').dataset.state === 'live'`,
			chromedp.WithPollingTimeout(15*time.Second)),
	)
	if got := b.text(`#notifications-unread`); got != "1" {
		t.Errorf("after the mention missed, the unread count is %q, want 1", got)
	}
	b.check("no notification shows twice",
		`new Set([...document.querySelectorAll('#notifications-list li')].map((li) => li.dataset.id)).size === 6`)
	_, _, lastIDs := gate.state()
	for _, id := range lastIDs[len(lastIDs)-2:] { // the refused attempt and the one that worked
		if id != cv.lastNotified {
			t.Errorf("a stream after the drop was asked for after %q, want after the last event, %s (all: %q)", id, cv.lastNotified, lastIDs)
		}
	}
}

// TestExplorerReadsEventStreams feeds the explorer's parser of event
// streams a stream cut at every place, and cut into single characters:
// it finds the same events each time, as the HTML standard reads them.
func TestExplorerReadsEventStreams(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	b := newBrowser(ctx, t)
	openRoot(b, newServer(t))
	stream := ": keep-alive\n" +
		"id: 7\nevent: like\ndata: {\"id\":7}\n\n" + // an event
		"data:no space\r\ndata:  two spaces\r\n\r\n" + // CRLF; the id holds; the type is message
		"event: nothing\n\n" + // no data: no event
		"id: 8\rretry: 10\rdata\r\r" + // CR; a field with no colon; a field ignored
		"id\n: a comment\ndata: x\n\n" + // an empty id
		"id: 9\x00\ndata: y\n\n" + // an id with NUL is ignored
		"data: unfinished\n" // no empty line: no event
	want := `[{"id":"7","type":"like","data":"{\"id\":7}"},{"id":"7","type":"message","data":"no space\n two spaces"},` +
		`{"id":"8","type":"message","data":""},{"id":"","type":"message","data":"x"},{"id":"","type":"message","data":"y"}]`
	expr := `import('./explorer.js').then(({ sseParser }) => {
		const stream = ` + js(stream) + `;
		const cuts = [...Array(stream.length + 1).keys()].map((i) => [stream.slice(0, i), stream.slice(i)]);
		cuts.push([...stream]);
		const wrong = [];
		for (const chunks of cuts) {
			const events = [];
			const push = sseParser((e) => events.push(e));
			chunks.forEach(push);
			const got = JSON.stringify(events);
			if (got !== ` + js(want) + `) wrong.push(JSON.stringify(chunks) + ' -> ' + got);
		}
		return wrong;
	})`
	wrong, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range wrong {
		t.Errorf("cut as %s", w)
	}
}
