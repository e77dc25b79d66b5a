package resources_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium is where Debian's Chromium lives; .ci/run installs it.
const chromium = "/usr/bin/chromium"

func TestExplorerServesItsFiles(t *testing.T) {
	t.Parallel()
	h := newTestServer(t).handler
	tests := []struct {
		path, contentType string
	}{
		{"/explorer/", "text/html; charset=utf-8"},
		{"/explorer/explorer.js", "text/javascript; charset=utf-8"},
		{"/explorer/explorer.css", "text/css; charset=utf-8"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
		if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			t.Fatalf("GET %s = %d with %d bytes, want 200 with a body", tt.path, rec.Code, rec.Body.Len())
		}
		if got := rec.Header().Get("Content-Type"); got != tt.contentType {
			t.Errorf("GET %s: Content-Type = %q, want %q", tt.path, got, tt.contentType)
		}
		if got := rec.Header().Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control = %q, want no-cache", tt.path, got)
		}
		csp := rec.Header().Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: Content-Security-Policy %q lacks %q", tt.path, csp, want)
			}
		}
		etag := rec.Header().Get("ETag")
		req := httptest.NewRequest(http.MethodGet, tt.path, nil)
		req.Header.Set("If-None-Match", etag)
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if etag == "" || rec.Code != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match %s = %d, want 304", tt.path, etag, rec.Code)
		}
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, tt.path, nil))
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
			t.Errorf("HEAD %s = %d with %d bytes, want 200 and no body", tt.path, rec.Code, rec.Body.Len())
		}
	}

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/explorer", nil))
	if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "explorer/" {
		t.Errorf("GET /explorer = %d to %q, want 301 to explorer/", rec.Code, rec.Header().Get("Location"))
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/explorer/index.html", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET /explorer/index.html = %d, want 404", rec.Code)
	}
}

// browser drives one tab of headless Chromium and remembers what went wrong
// inside the page: uncaught exceptions and Content-Security-Policy
// violations.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string
}

func newBrowser(ctx context.Context, t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the explorer's end-to-end test needs Chromium at %s: apt-get install chromium (%v)", chromium, err)
	}
	// Chromium's helper processes can still write to the profile for a
	// moment after the browser exits, so the profile is removed with
	// retries before t.TempDir removes its parent.
	profile := filepath.Join(t.TempDir(), "profile")
	t.Cleanup(func() {
		for range 50 {
			if err := os.RemoveAll(profile); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 800),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelTab)
	b := &browser{t: t, ctx: tabCtx}
	// Start the browser, then listen before the first page loads.
	if err := chromedp.Do(tabCtx); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	err := chromedp.Listen(tabCtx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			b.problem(fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber+1, msg))
		case *cdplog.EventEntryAdded:
			if strings.Contains(ev.Entry.Text, "Content Security Policy") {
				b.problem("CSP violation: " + ev.Entry.Text)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, p := range b.problems {
			t.Errorf("in the page: %s", p)
		}
	})
	return b
}

func (b *browser) problem(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, s)
}

// step runs actions, each step within its own time limit; on failure it
// saves a screenshot and says what the page showed last.
func (b *browser) step(name string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		status, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.getElementById('status').textContent`))
		b.screenshot()
		b.t.Fatalf("step %q: %v\nthe page's last status: %s", name, err, status)
	}
	b.t.Logf("step %q: done", name)
}

// check evaluates a JavaScript expression that must be true.
func (b *browser) check(what, expr string) {
	b.t.Helper()
	ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](expr))
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	if !ok {
		b.t.Errorf("%s: %s is false", what, expr)
	}
}

// text returns the text content of the first element that matches sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// screenshot saves the whole page outside the repository and logs where.
func (b *browser) screenshot() {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot: %v", err)
		return
	}
	path := filepath.Join(os.TempDir(), "microblog-explorer-e2e.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Logf("screenshot: %v", err)
		return
	}
	b.t.Logf("screenshot: %s", path)
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestExplorerEndToEnd drives the explorer in headless Chromium through
// registration, login, paging, following and posting, as a person would.
func TestExplorerEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	b := newBrowser(ctx, t)
	srv := newTestServer(t)
	// Twelve users and the one the browser registers make two pages of ten.
	for i := range 12 {
		srv.register(t, fmt.Sprintf("seed%02d", i+1), "seed-password")
	}
	ts := httptest.NewServer(srv.handler)
	t.Cleanup(ts.Close)

	const (
		username = "explorer"
		password = "explorer-password"
		body     = `<b>bold</b> & <script>window.pwned=1</script>`
		register = `[data-template="default"]`
	)
	click := func(sel string) chromedp.Action[chromedp.Void] { return chromedp.Click(chromedp.CSS(sel)) }
	visible := func(sel string) chromedp.Action[chromedp.Void] { return chromedp.WaitVisible(chromedp.CSS(sel)) }
	typeIn := func(sel, text string) chromedp.Action[chromedp.Void] {
		return chromedp.SendKeys(chromedp.CSS(sel), text)
	}

	b.step("open the explorer at the root",
		chromedp.Navigate(ts.URL+"/explorer/"),
		visible(`#resource[data-path="/api"] #links [data-rel="mb:users"] form.templated`),
		visible(`#properties [data-property="title"]`),
	)
	if got := b.text(`#properties [data-property="title"] td`); got != "Microblog API" {
		t.Errorf("root title shown as %q", got)
	}
	b.check("the fragment names the root", `location.hash === '#/api'`)

	b.step("register with the root's default form",
		typeIn(register+` [name="username"]`, username),
		typeIn(register+` [name="email"]`, username+"@example.com"),
		typeIn(register+` [name="password"]`, password),
		click(register+` button[type="submit"]`),
		visible(`#responses li[data-method="POST"][data-url="/api/users"][data-status="201"]`),
		visible(`#resource[data-path^="/api/users/"] #properties [data-property="username"]`),
	)
	if got := b.text(`#properties [data-property="username"] td`); got != username {
		t.Errorf("the new user is shown as %q", got)
	}

	b.step("log in",
		typeIn(`#login-username`, username),
		typeIn(`#login-password`, password),
		click(`#login-submit`),
		visible(`#logout`),
	)
	if got := b.text(`#session-user`); got != username {
		t.Errorf("logged in as %q, want %q", got, username)
	}
	b.check("the token is in memory only",
		`localStorage.length === 0 && sessionStorage.length === 0 && document.cookie === ''`)

	b.step("open mb:users by expanding its template with no values",
		click(`#home`),
		visible(`#resource[data-path="/api"] #links [data-rel="mb:users"] button`),
		click(`#links [data-rel="mb:users"] button`),
		visible(`#resource[data-path="/api/users"] [data-embedded-rel="mb:users"] details`),
	)
	b.check("the fragment names the users", `location.hash === '#/api/users'`)

	b.step("follow next",
		click(`#links [data-rel="next"] a.link`),
		visible(`#resource[data-path*="page=2"] [data-embedded-rel="mb:users"] details`),
	)
	b.check("the fragment names page 2", `location.hash.startsWith('#/api/users?') && location.hash.includes('page=2')`)

	b.step("open the first user on the page through its self link",
		click(`[data-embedded-rel="mb:users"] details a.open`),
		visible(`#resource[data-path^="/api/users/"] #properties [data-property="username"]`),
	)
	followed := b.text(`#properties [data-property="username"] td`)

	b.step("follow them with the follow form",
		visible(`[data-template="follow"] button`),
		click(`[data-template="follow"] button`),
		visible(`#responses li[data-method="PUT"][data-status="204"]`),
		visible(`[data-template="unfollow"] button`),
		visible(`#properties [data-property="is_following"]`),
	)
	if got := b.text(`#properties [data-property="is_following"] td`); got != "true" {
		t.Errorf("after following %s, is_following is shown as %q", followed, got)
	}

	b.step("open mb:feed from the root",
		click(`#home`),
		visible(`#resource[data-path="/api"] #links [data-rel="mb:feed"] button`),
		click(`#links [data-rel="mb:feed"] button`),
		visible(`#resource[data-path^="/api/feed"] `+register+` [name="body"]`),
	)

	b.step("post with the feed's default form",
		chromedp.SetValue(chromedp.CSS(register+` [name="body"]`), body),
		click(register+` button[type="submit"]`),
		visible(`#responses li[data-method="POST"][data-url="/api/posts"][data-status="201"]`),
		visible(`#resource[data-path^="/api/posts/"] #properties [data-property="body"]`),
	)

	b.step("go back to the feed",
		chromedp.Evaluate[chromedp.Void](`history.back()`),
		visible(`#resource[data-path^="/api/feed"] [data-embedded-rel="mb:posts"] details`),
	)
	b.check("the post body is shown as text", `document.getElementById('embedded').textContent.includes(`+js(body)+`)`)
	b.check("the post body's script did not run", `typeof window.pwned === 'undefined'`)
	b.check("the post body made no elements",
		`document.querySelectorAll('#resource b, #resource script').length === 0 && document.scripts.length === 1`)
	b.check("the fragment names the feed", `location.hash.startsWith('#/api/feed')`)
	b.screenshot()

	b.step("log out",
		click(`#logout`),
		visible(`#responses li[data-method="DELETE"][data-url="/api/tokens"][data-status="204"]`),
		visible(`#login-submit`),
	)
}
