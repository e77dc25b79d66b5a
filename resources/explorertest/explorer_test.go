// Package explorertest drives the explorer that resources serves in
// headless Chromium. It is a package of its own, with tests only, so that
// "go test ./resources" needs no browser; "go test ./..." runs it, and it
// fails, never skips, where Chromium is missing.
package explorertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/chromedp/chromedp"
	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"

	"microblog/migrations"
	"microblog/persistence"
	"microblog/persistence/pgtest"
	"microblog/resources"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(pgtest.Main(m, migrations.UpURL))
}

// newServer serves the real API over a fresh database, as the resources
// tests build it (a fixed clock, cheap password hashing), and returns its
// origin.
func newServer(t *testing.T) string {
	t.Helper()
	return startServer(t, nil).URL
}

// startServer serves the real API as newServer does, through wrap when it
// is not nil, with the listener that feeds its live streams of
// notifications running until the test ends. with, if any, gets the store
// (to work its jobs, say).
func startServer(t *testing.T, wrap func(http.Handler) http.Handler, with ...func(*persistence.Store)) *httptest.Server {
	t.Helper()
	h, store, listener, err := newHandler(t, pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range with {
		f(store)
	}
	if wrap != nil {
		h = wrap(h)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	// The test's context ends before the cleanups run: the listener stops,
	// which ends the streams that Close would wait for.
	done := make(chan struct{})
	go func() {
		defer close(done)
		listener.Run(t.Context())
	}()
	t.Cleanup(func() { <-done })
	return ts
}

// newHandler is the API over the database at databaseURL, with a pool
// that closes when t ends, its store, and the listener of its live
// streams, which the caller runs.
func newHandler(t *testing.T, databaseURL string) (http.Handler, *persistence.Store, *persistence.Listener, error) {
	pcfg, err := persistence.PoolConfig(databaseURL)
	if err != nil {
		return nil, nil, nil, err
	}
	pool, err := pgxpool.NewWithConfig(t.Context(), pcfg)
	if err != nil {
		return nil, nil, nil, err
	}
	t.Cleanup(pool.Close)
	cheap := &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	hasher, err := persistence.NewHasher(cheap, 4)
	if err != nil {
		return nil, nil, nil, err
	}
	store := persistence.NewStore(pool, hasher)
	// The resources tests' fixed clock: what the explorer shows does not
	// depend on when the test runs.
	epoch := time.Date(2026, 11, 27, 18, 15, 47, 123456000, time.UTC)
	store.Now = func() time.Time { return epoch }
	listener := persistence.NewListener(pool.Config().ConnConfig, func(err error) { t.Logf("listener: %v", err) })
	// The test registers a dozen users from one address at once.
	many := resources.RateLimit{Events: 1000, Period: time.Minute, Burst: 1000}
	h, err := resources.NewHandler(store, resources.Config{TokenTTL: time.Hour, MinPasswordLength: 8,
		RegisterPerAddress: many, Notifications: listener})
	return h, store, listener, err
}

// seedUsers registers users seed01, seed02 … seedNN through the API.
func seedUsers(t *testing.T, origin string, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		registerAs(t, origin, fmt.Sprintf("seed%02d", i), "seed-password")
	}
}

// registerAs registers the user name with password through the API.
func registerAs(t *testing.T, origin, name, password string) {
	t.Helper()
	body := fmt.Sprintf(`{"username": %q, "email": "%s@example.com", "password": %q}`, name, name, password)
	res, err := http.Post(origin+"/api/users", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("register %s: %s", name, res.Status)
	}
}

const (
	username    = "explorer"
	password    = "explorer-password"
	newPassword = "another-explorer-password"
	// postBody is markup that the explorer must show as text.
	postBody = `<b>bold</b> & <script>window.pwned=1</script>`
	// defaultForm is the form of a resource's default template.
	defaultForm = `[data-template="default"]`
)

// TestExplorerEndToEnd drives the explorer in headless Chromium through
// registration, login, paging, following and posting, as a person would.
func TestExplorerEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	b := newBrowser(ctx, t)
	origin := newServer(t)
	// Twelve users and the one the browser registers make two pages of ten.
	seedUsers(t, origin, 12)

	openRoot(b, origin)
	register(b)
	logIn(b, password)
	editProfile(b)
	changePassword(b)
	pageThroughUsers(b)
	followFirstUser(b)
	postToFeed(b)
	logOut(b)
	logIn(b, newPassword)
	deleteAccount(b)
}

// deleteAccount deletes the account with the own user's delete-account
// form, which sends nothing until the username is typed, then sends
// If-Match, forgets the token and returns to the root.
func deleteAccount(b *browser) {
	form := `[data-template="delete-account"]`
	b.step("open the own user",
		click(`#session-user`),
		visible(`#resource[data-path^="/api/users/"] `+form),
	)
	b.step("a wrong username sends nothing",
		typeIn(form+` [name="confirm-username"]`, "someone"),
		click(form+` button[type="submit"]`),
		chromedp.Poll[chromedp.Void](`document.querySelector('#status')?.textContent.includes('Type the username')`,
			chromedp.WithPollingTimeout(10*time.Second)),
	)
	b.check("no DELETE was sent", `!document.querySelector('#responses li[data-method="DELETE"][data-url^="/api/users/"]')`)
	b.step("delete the account",
		chromedp.SetValue(chromedp.CSS(form+` [name="confirm-username"]`), username),
		click(form+` button[type="submit"]`),
		visible(`#responses li[data-method="DELETE"][data-url^="/api/users/"][data-status="204"]`),
		visible(`#login-submit`),
		visible(`#resource[data-path="/api"] #properties [data-property="title"]`),
	)
	b.check("the token is forgotten", `document.querySelector('#session').hidden`)
}

func logOut(b *browser) {
	b.step("log out",
		click(`#logout`),
		visible(`#responses li[data-method="DELETE"][data-url="/api/tokens"][data-status="204"]`),
		visible(`#login-submit`),
	)
}

// editProfile opens the caller's own user, whose identicon shows, and sends
// its profile form as shown, with about_me set, and with about_me emptied.
func editProfile(b *browser) {
	about := defaultForm + ` [name="about_me"]`
	b.step("open the own user from the session's link",
		markShown(),
		click(`#session-user`),
		shownAnew(),
		visible(`#resource[data-path^="/api/users/"] `+about),
		chromedp.Poll[chromedp.Void](`document.querySelector('#links [data-rel="mb:avatar"] img.avatar')?.naturalWidth > 0`,
			chromedp.WithPollingTimeout(10*time.Second)),
	)
	b.step("send the profile form as shown",
		click(defaultForm+` button[type="submit"]`),
		visible(`#responses li[data-method="PUT"][data-status="200"]`),
	)
	b.step("set about_me with the profile form",
		chromedp.SetValue(chromedp.CSS(about), "Hello from the explorer"),
		click(defaultForm+` button[type="submit"]`),
		chromedp.Poll[chromedp.Void](`document.querySelector('#properties [data-property="about_me"] td')?.textContent === 'Hello from the explorer'`,
			chromedp.WithPollingTimeout(10*time.Second)),
	)
	// Gravatar cannot be reached from here: what matters is that the page
	// asks for it, and that the CSP lets it (a violation fails the test).
	b.step("show the Gravatar with the profile form",
		chromedp.SetValue(chromedp.CSS(defaultForm+` [name="gravatar"]`), "true"),
		click(defaultForm+` button[type="submit"]`),
		chromedp.Poll[chromedp.Void](`document.querySelector('#links [data-rel="mb:avatar"] img')?.src.startsWith('https://www.gravatar.com/avatar/')`,
			chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.SetValue(chromedp.CSS(defaultForm+` [name="gravatar"]`), "false"),
		click(defaultForm+` button[type="submit"]`),
		chromedp.Poll[chromedp.Void](`document.querySelector('#links [data-rel="mb:avatar"] img')?.src.endsWith('/avatar')`,
			chromedp.WithPollingTimeout(10*time.Second)),
	)
	b.step("empty about_me with the profile form",
		// SetValue cannot tell "" from no result: the page empties it.
		chromedp.Evaluate[chromedp.Void](`document.querySelector(`+js(about)+`).value = ''`),
		click(defaultForm+` button[type="submit"]`),
		chromedp.Poll[chromedp.Void](`document.querySelector('#properties [data-property="about_me"] td')?.textContent === '""'`,
			chromedp.WithPollingTimeout(10*time.Second)),
	)
}

// changePassword changes the password with the own user's change-password
// form.
func changePassword(b *browser) {
	form := `[data-template="change-password"]`
	b.step("change the password with its own form",
		typeIn(form+` [name="old_password"]`, password),
		typeIn(form+` [name="password"]`, newPassword),
		click(form+` button[type="submit"]`),
		visible(`#responses li[data-method="PATCH"][data-status="200"]`),
	)
}

// openRoot opens the explorer, which shows the root of the API.
func openRoot(b *browser, origin string) {
	b.step("open the explorer at the root",
		chromedp.Navigate(origin+"/explorer/"),
		visible(`#resource[data-path="/api"] #links [data-rel="mb:users"] form.templated`),
		visible(`#properties [data-property="title"]`),
	)
	if got := b.text(`#properties [data-property="title"] td`); got != "Microblog API" {
		b.t.Errorf("root title shown as %q", got)
	}
	b.check("the fragment names the root", `location.hash === '#/api'`)
}

// register registers the user of the test with the root's default form.
func register(b *browser) {
	b.step("register with the root's default form",
		typeIn(defaultForm+` [name="username"]`, username),
		typeIn(defaultForm+` [name="email"]`, username+"@example.com"),
		typeIn(defaultForm+` [name="password"]`, password),
		click(defaultForm+` button[type="submit"]`),
		visible(`#responses li[data-method="POST"][data-url="/api/users"][data-status="201"]`),
		visible(`#resource[data-path^="/api/users/"] #properties [data-property="username"]`),
	)
	if got := b.text(`#properties [data-property="username"] td`); got != username {
		b.t.Errorf("the new user is shown as %q", got)
	}
}

// logIn logs the user of the test in; the token stays in memory.
func logIn(b *browser, password string) {
	b.step("log in",
		markShown(),
		chromedp.SetValue(chromedp.CSS(`#login-username`), username),
		typeIn(`#login-password`, password),
		click(`#login-submit`),
		visible(`#logout`),
		shownAnew(),
	)
	if got := b.text(`#session-user`); got != username {
		b.t.Errorf("logged in as %q, want %q", got, username)
	}
	b.check("the token is in memory only",
		`localStorage.length === 0 && sessionStorage.length === 0 && document.cookie === ''`)
}

// openFromRoot goes to the root and follows its link rel, a template
// expanded with no values, until sel is visible.
func openFromRoot(b *browser, name, rel, sel string) {
	b.step(name,
		click(`#home`),
		visible(`#resource[data-path="/api"] #links [data-rel="`+rel+`"] button`),
		clickUntil(`#resource[data-path="/api"] #links [data-rel="`+rel+`"] button`, sel),
	)
}

// pageThroughUsers opens the users from the root and goes to page 2.
func pageThroughUsers(b *browser) {
	openFromRoot(b, "open mb:users by expanding its template with no values", "mb:users",
		`#resource[data-path="/api/users"] [data-embedded-rel="mb:users"] details`)
	b.check("the fragment names the users", `location.hash === '#/api/users'`)

	b.step("follow next",
		click(`#links [data-rel="next"] a.link`),
		visible(`#resource[data-path*="page=2"] [data-embedded-rel="mb:users"] details`),
	)
	b.check("the fragment names page 2", `location.hash.startsWith('#/api/users?') && location.hash.includes('page=2')`)
}

// followFirstUser opens the first user of the page shown and follows them.
func followFirstUser(b *browser) {
	b.step("open the first user on the page through its self link",
		click(`[data-embedded-rel="mb:users"] details a.open`),
		visible(`#resource[data-path^="/api/users/"] #properties [data-property="username"]`),
	)
	followed := b.text(`#properties [data-property="username"] td`)

	b.step("follow them with the follow form",
		visible(`[data-template="follow"] button`),
		click(`[data-template="follow"] button`),
		visible(`#responses li[data-method="PUT"][data-status="201"]`),
		visible(`[data-template="unfollow"] button`),
		visible(`#properties [data-property="is_following"]`),
	)
	if got := b.text(`#properties [data-property="is_following"] td`); got != "true" {
		b.t.Errorf("after following %s, is_following is shown as %q", followed, got)
	}
}

// postToFeed posts markup from the feed's form and checks, back on the
// feed, that it shows as text and never runs.
func postToFeed(b *browser) {
	openFromRoot(b, "open mb:feed from the root", "mb:feed",
		`#resource[data-path^="/api/feed"] `+defaultForm+` [name="body"]`)
	b.step("post with the feed's default form",
		chromedp.SetValue(chromedp.CSS(defaultForm+` [name="body"]`), postBody),
		click(defaultForm+` button[type="submit"]`),
		visible(`#responses li[data-method="POST"][data-url="/api/posts"][data-status="201"]`),
		visible(`#resource[data-path^="/api/posts/"] #properties [data-property="body"]`),
	)
	b.step("go back to the feed",
		chromedp.Evaluate[chromedp.Void](`history.back()`),
		visible(`#resource[data-path^="/api/feed"] [data-embedded-rel="mb:posts"] details`),
	)
	b.check("the post body is shown as text", `document.getElementById('embedded').textContent.includes(`+js(postBody)+`)`)
	b.check("the post body's script did not run", `typeof window.pwned === 'undefined'`)
	b.check("the post body made no elements",
		`document.querySelectorAll('#resource b, #resource script').length === 0 && document.scripts.length === 1`)
	b.check("the fragment names the feed", `location.hash.startsWith('#/api/feed')`)
	b.screenshot()
}

// TestFormRegexesInJavaScript checks that the registration form's regexes
// judge strings in JavaScript as in Go, where the server checks them: as
// Ketting compiles a regex (no flags) and as the explorer's form applies it
// (a pattern attribute, which the browser compiles with the v flag, on the
// value as the browser sanitizes it).
func TestFormRegexesInJavaScript(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	b := newBrowser(ctx, t)
	origin := newServer(t)
	openRoot(b, origin)
	candidates := []string{"susan@example.com", "a@b", "a..b@c.d", ".a@b.c", "a@b.", "a b@c.d", `"a b"@c.d`,
		"Al <a@b.c>", "a@[127.0.0.1]", "a@b@c", "josé@exämple.com", "a\u037eb@c.d", "a\u00a0b@c.d", " a@b.c",
		"a\nb@c.d", "explorer", "su/san", strings.Repeat("x", 64), strings.Repeat("x", 65), "12345678", "1234567",
		strings.Repeat("😀", 4), strings.Repeat("😀", 8), strings.Repeat("😀", 7) + "a", "😀a😀b😀c😀d😀e😀f😀g😀h",
		"é\u0301é\u0301é\u0301é\u0301", "\ue000\ue000\ue000\ue000\ue000\ue000\ue000\ue000", "true", "false"}
	list, _ := json.Marshal(candidates)
	var checked []string
	for _, p := range registrationProperties(t, origin) {
		if p.Regex == "" {
			continue
		}
		checked = append(checked, p.Name)
		re := regexp.MustCompile(p.Regex)
		expr := fmt.Sprintf(`(() => {
			const input = document.querySelector('[data-template="default"] [name=%s]');
			const re = new RegExp(%s);
			return %s.map((c) => {
				input.value = c;
				return {plain: re.test(c), value: input.value, pattern: !input.validity.patternMismatch, hasOne: input.pattern !== ''};
			});
		})()`, p.Name, js(p.Regex), list)
		got, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]verdict](expr))
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		for i, c := range candidates {
			g := got[i]
			if !g.HasOne {
				t.Errorf("%s: the form has no pattern attribute for %q", p.Name, p.Regex)
			}
			if want := re.MatchString(c); g.Plain != want {
				t.Errorf("%s: new RegExp(regex).test(%q) = %v, Go: %v", p.Name, c, g.Plain, want)
			}
			if want := re.MatchString(g.Value); g.Pattern != want {
				t.Errorf("%s: the pattern attribute passes %q: %v, Go: %v", p.Name, g.Value, g.Pattern, want)
			}
		}
	}
	if got := strings.Join(checked, " "); got != "username email password" {
		t.Errorf("the registration properties with a regex: %s, want username email password", got)
	}
}

// verdict is what JavaScript made of a candidate value: whether the regex
// compiled without flags matches it, the value as the browser sanitized
// it in the form's input, and whether the input's pattern attribute (which
// the input must have) passes it.
type verdict struct {
	Plain   bool   `json:"plain"`
	Value   string `json:"value"`
	Pattern bool   `json:"pattern"`
	HasOne  bool   `json:"hasOne"`
}

// property is a HAL-FORMS property as a client reads it.
type property struct {
	Name  string `json:"name"`
	Regex string `json:"regex"`
}

// registrationProperties are the properties of the root's registration
// template.
func registrationProperties(t *testing.T, origin string) []property {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, origin+"/api", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/prs.hal-forms+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		Templates struct {
			Default struct {
				Properties []property `json:"properties"`
			} `json:"default"`
		} `json:"_templates"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc.Templates.Default.Properties
}
