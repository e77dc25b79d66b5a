package explorertest

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"microblog/persistence"
	"microblog/persistence/mail"
)

// workJobs works the jobs of a store until the test ends, its mail going
// to an outbox.
func workJobs(t *testing.T) func(*persistence.Store) {
	return func(store *persistence.Store) {
		outbox, err := mail.NewOutbox(t.TempDir(), "Microblog <microblog@example.com>", slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		stop, err := store.StartJobs(t.Context(), persistence.JobSettings{Mailer: outbox, ResetTTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		// The test's context is over when the cleanups run; the jobs stop
		// before the database does.
		t.Cleanup(func() {
			if err := stop(context.WithoutCancel(t.Context())); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestExplorerExport exports the posts of the user logged in with the own
// user's form export: the export panel polls the job until it is done,
// with its progress bar full, and its button downloads the file.
func TestExplorerExport(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	b := newBrowser(ctx, t)
	origin := startServer(t, nil, workJobs(t)).URL
	registerAs(t, origin, username, password)
	token := apiToken(t, origin, username, password)
	for i := range 5 {
		createPost(t, origin, token, fmt.Sprintf("post %d to export", i))
	}

	openRoot(b, origin)
	logIn(b, password)
	form := `[data-template="export"]`
	b.step("open the own user, which offers the form export",
		click(`#session-user`),
		visible(form+` button[type="submit"]`),
	)
	b.step("export with the form, and watch the job until it is done",
		click(form+` button[type="submit"]`),
		visible(`#responses li[data-method="POST"][data-status="202"]`),
		visible(`#export progress`),
		chromedp.Poll[chromedp.Void](`document.querySelector('#export').dataset.state === 'done'`,
			chromedp.WithPollingTimeout(20*time.Second)),
		visible(`#export-download`),
	)
	b.check("the bar is full and counts the posts", `document.querySelector('#export-progress').value === 100 &&
		document.querySelector('#export-state').textContent.includes('5 posts')`)
	b.check("the resource shown is still the user", `location.hash.startsWith('#/api/users/')`)
	b.step("download the file",
		click(`#export-download`),
		visible(`#responses li[data-url$="/download"][data-status="200"]`),
	)
	b.check("the file is saved under the server's name",
		`document.querySelector('#export-download').dataset.saved === 'microblog-`+username+`-export-1.json'`)
	b.screenshot()
	b.step("log out, which closes the panel", click(`#logout`), visible(`#login-submit`))
	b.check("the panel is closed", `document.querySelector('#export').hidden`)
}
