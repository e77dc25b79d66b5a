package explorertest

import (
	"context"
	"encoding/json"
	"fmt"
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

// browser drives one tab of headless Chromium and remembers what went wrong
// inside the page: uncaught exceptions and Content-Security-Policy
// violations.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string
}

// newBrowser starts Chromium with one tab; the test fails, and never
// skips, where Chromium is missing. When the test ends, every problem seen
// in the page fails it.
func newBrowser(ctx context.Context, t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the explorer's end-to-end test needs Chromium at %s: apt-get install chromium (%v)", chromium, err)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, chromiumOptions(t)...)
	t.Cleanup(cancelAlloc)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelTab)
	b := &browser{t: t, ctx: tabCtx}
	// Start the browser, then listen before the first page loads.
	if err := chromedp.Do(tabCtx); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	if err := chromedp.Listen(tabCtx, b.watch); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.report)
	return b
}

// chromiumOptions are the settings of a headless Chromium with a profile
// of its own in a temporary directory.
func chromiumOptions(t *testing.T) []chromedp.ExecAllocatorOption {
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
	return append(chromedp.DefaultExecAllocatorOptions[:],
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
}

// watch remembers the events of the page that are problems.
func (b *browser) watch(ev any) {
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
}

func (b *browser) problem(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, s)
}

// report fails the test with each problem seen in the page.
func (b *browser) report() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("in the page: %s", p)
	}
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
	b.screenshotAs("microblog-explorer-e2e.png")
}

// screenshotAs saves the whole page in the temporary directory as name
// and logs where.
func (b *browser) screenshotAs(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot: %v", err)
		return
	}
	path := filepath.Join(os.TempDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Logf("screenshot: %v", err)
		return
	}
	b.t.Logf("screenshot: %s", path)
}

// click, visible and typeIn are the actions of a step on the first
// element that matches sel.
func click(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Click(chromedp.CSS(sel))
}

// clickUntil clicks the element button selects until target is visible:
// once for each such element, so that a click on a button the page
// replaced (a render still in flight, a panel that moved it) is made again
// on the new one.
func clickUntil(button, target string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](`(() => {
		if (document.querySelector(`+js(target)+`)?.checkVisibility()) return true;
		const b = document.querySelector(`+js(button)+`);
		if (b && !b.dataset.clicked) { b.dataset.clicked = 'yes'; b.click(); }
		return false;
	})()`, chromedp.WithPollingTimeout(15*time.Second))
}

// markShown marks the properties shown now, and shownAnew waits until the
// page shows properties it has rendered since. A step whose action shows
// the same resource again (a login, a link to the page on screen) waits
// for the new render: otherwise what was on screen before meets its
// conditions, and the next step acts on elements the render then replaces.
func markShown() chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('#properties tbody tr').forEach((r) => { r.dataset.shown = 'before'; })`)
}

func shownAnew() chromedp.Action[chromedp.Void] {
	return visible(`#properties tbody tr:not([data-shown])`)
}

func visible(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(sel))
}

func typeIn(sel, text string) chromedp.Action[chromedp.Void] {
	return chromedp.SendKeys(chromedp.CSS(sel), text)
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
