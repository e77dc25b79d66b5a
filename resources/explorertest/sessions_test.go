package explorertest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestExplorerSessions logs the explorer's user in twice through the API
// and once in the page: the own user shows the three sessions, the page's
// own marked; Revoke ends one of the others, whose token is refused from
// then on; "Revoke all others" ends the last; revoking the page's own
// session logs the page out.
func TestExplorerSessions(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	b := newBrowser(ctx, t)
	origin := newServer(t)
	registerAs(t, origin, username, password)
	older := apiToken(t, origin, username, password)
	newer := apiToken(t, origin, username, password)

	openRoot(b, origin)
	logIn(b, password)
	b.step("open the own user, which lists its sessions",
		click(`#session-user`),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('#sessions-list li.session').length === 3`,
			chromedp.WithPollingTimeout(10*time.Second)),
	)
	b.check("the page's own session is the newest, marked as this session",
		`document.querySelector('#sessions-list li.session').dataset.current === 'true'
		&& document.querySelector('#sessions-list li.session .current').textContent === 'this session'
		&& document.querySelectorAll('#sessions-list li[data-current="true"]').length === 1`)
	b.check("each session shows its client and its times",
		`[...document.querySelectorAll('#sessions-list li.session')].every((li) =>
			li.querySelector('.agent').textContent !== '' && li.querySelectorAll('.times time').length === 3)
		&& document.querySelector('#sessions-list li[data-current="false"] .agent').textContent.startsWith('Go-http-client')`)

	b.step("revoke the newer of the other sessions",
		click(`#sessions-list li[data-current="false"] button.revoke`),
		visible(`#responses li[data-method="DELETE"][data-url^="/api/tokens/"][data-status="204"]`),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('#sessions-list li.session').length === 2`,
			chromedp.WithPollingTimeout(10*time.Second)),
	)
	if got := meStatus(t, origin, newer); got != http.StatusUnauthorized {
		t.Errorf("the revoked session's token: GET /api/me %d, want 401", got)
	}
	if got := meStatus(t, origin, older); got != http.StatusOK {
		t.Errorf("the other session's token: GET /api/me %d, want 200", got)
	}

	b.step("revoke all other sessions",
		click(`#sessions-revoke-others`),
		visible(`#responses li[data-method="DELETE"][data-url$="/sessions"][data-status="204"]`),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('#sessions-list li.session').length === 1`,
			chromedp.WithPollingTimeout(10*time.Second)),
	)
	if got := meStatus(t, origin, older); got != http.StatusUnauthorized {
		t.Errorf("after revoke-others, the other token: GET /api/me %d, want 401", got)
	}

	b.step("revoke the page's own session, which logs it out",
		click(`#sessions-list li[data-current="true"] button.revoke`),
		visible(`#login-submit`),
		chromedp.Poll[chromedp.Void](`document.getElementById('sessions').hidden`, chromedp.WithPollingTimeout(10*time.Second)),
	)
}

// meStatus is the status of GET /api/me with token.
func meStatus(t *testing.T, origin, token string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, origin+"/api/me", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}
