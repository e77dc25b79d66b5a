package explorertest

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestExplorerPasswordReset follows the login form's link to the password
// reset resource and sends both its forms: a request for a mail, 202, and
// a reset with a token no mail held, which the page shows as the
// server's problem.
func TestExplorerPasswordReset(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	b := newBrowser(ctx, t)
	origin := newServer(t)
	registerAs(t, origin, "susan", "old-password")
	openRoot(b, origin)
	request, reset := `[data-template="request"]`, `[data-template="reset"]`
	b.step("follow the login form's link to the password reset resource",
		click(`#forgot`),
		visible(`#resource[data-path="/api/password-reset"] `+request+` [name="email"]`),
		visible(reset+` [name="token"]`),
		visible(reset+` [name="password"]`),
	)
	b.step("ask for a reset mail",
		typeIn(request+` [name="email"]`, "susan@example.com"),
		click(request+` button[type="submit"]`),
		visible(`#responses li[data-method="POST"][data-url="/api/password-reset"][data-status="202"]`),
	)
	b.step("reset with a token that no mail held",
		// After the 202, the page shows the resource again.
		visible(`#responses li:first-child[data-method="GET"][data-url="/api/password-reset"]`),
		visible(`#resource[data-path="/api/password-reset"] `+reset+` [name="token"]`),
		typeIn(reset+` [name="token"]`, strings.Repeat("ab", 32)),
		typeIn(reset+` [name="password"]`, "new-password"),
		click(reset+` button[type="submit"]`),
		visible(`#responses li[data-method="POST"][data-url="/api/password-reset"][data-status="400"]`),
		visible(`#problem`),
	)
	b.check("the problem is the invalid reset token",
		`document.getElementById('problem-detail').textContent.includes('reset token')`)
}
