package explorertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// gardenPosts is how many posts the gardener writes: a page of ten search
// results and two more.
const gardenPosts = 12

// TestExplorerSearch drives the search box: words find the users and the
// posts that match, page by page; a post's tag link leads to the tag's
// posts; "@username" and "#tag" open what they name; a query the server
// refuses shows its problem; and the root's search-posts form sends its
// query in the URL.
func TestExplorerSearch(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	b := newBrowser(ctx, t)
	origin := newServer(t)
	registerAs(t, origin, username, password)
	registerAs(t, origin, "gardener", "gardener-password")
	token := apiToken(t, origin, "gardener", "gardener-password")
	for i := 1; i <= gardenPosts; i++ {
		createPost(t, origin, token, fmt.Sprintf("Day %d in my garden: tomatoes #Summer @%s", i, username))
	}
	createPost(t, origin, token, "Nothing else grows here")

	openRoot(b, origin)
	logIn(b, password)
	searchWords(b)
	followTagLink(b)
	jumpByName(b)
	refusedQuery(b)
	searchPostsForm(b)
}

// found is the selector of what a search box's results show in the box
// with the given id: its embedded items.
func found(box, rel string) string {
	return `#` + box + ` [data-embedded-rel="` + rel + `"] details`
}

// searchWords searches for a word, sees the user and the posts it matches,
// and pages through the posts in the results.
func searchWords(b *browser) {
	b.step("search for garden",
		chromedp.SetValue(chromedp.CSS(`#search-q`), "garden"),
		click(`#search-submit`),
		visible(found("search-users", "mb:users")),
		visible(found("search-posts", "mb:posts")),
	)
	b.check("the user found is the gardener",
		`[...document.querySelectorAll('#search-users [data-embedded-rel="mb:users"] details .label')].map((e) => e.textContent).join() === 'gardener'`)
	b.check("ten posts are found on the first page, all about the garden",
		`(() => { const l = [...document.querySelectorAll('#search-posts [data-embedded-rel="mb:posts"] details .label')];
			return l.length === 10 && l.every((e) => e.textContent.includes('in my garden')); })()`)
	b.check("the root's templates were expanded with q", `document.getElementById('search-users').dataset.path === '/api/search/users?q=garden'
		&& document.getElementById('search-posts').dataset.path === '/api/search/posts?q=garden'`)
	b.screenshotAs("microblog-explorer-search.png")

	b.step("follow next in the posts found",
		click(`#search-posts > ul.links [data-rel="next"] a.link`),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('#search-posts [data-embedded-rel="mb:posts"] details').length === `+
			fmt.Sprint(gardenPosts-10)+` && document.getElementById('search-posts').dataset.path.includes('page=2')`,
			chromedp.WithPollingTimeout(10*time.Second)),
	)
	b.check("paging the results leaves the resource shown", `location.hash === '#/api'`)
}

// followTagLink opens a post found and follows its tag link, labelled
// with the tag, to the tag's posts.
func followTagLink(b *browser) {
	post := `#search-posts [data-embedded-rel="mb:posts"] details`
	b.step("open a post found",
		click(post+` > summary .label`),
		visible(post+`[open] [data-rel="mb:tags"] a.link`),
	)
	b.check("the tag link is labelled with the tag",
		`document.querySelector(`+js(post+`[open] [data-rel="mb:tags"] a.link`)+`).textContent === 'summer'`)
	b.check("the mention link is labelled with the username",
		`document.querySelector(`+js(post+`[open] [data-rel="mb:mentions"] a.link`)+`).textContent === `+js(username))
	b.step("follow the tag link",
		click(post+`[open] [data-rel="mb:tags"] a.link`),
		visible(`#resource[data-path="/api/tags/summer"] [data-embedded-rel="mb:posts"] details`),
	)
	b.check("the tag's posts are the gardener's", `document.querySelectorAll('#embedded [data-embedded-rel="mb:posts"] details').length === 10`)
}

// jumpByName opens a user by "@username" and a tag by "#tag".
func jumpByName(b *browser) {
	b.step("search for @gardener",
		chromedp.SetValue(chromedp.CSS(`#search-q`), "@gardener"),
		click(`#search-submit`),
		visible(`#resource[data-path="/api/users/by-name/gardener"] #properties [data-property="username"]`),
	)
	if got := b.text(`#properties [data-property="username"] td`); got != "gardener" {
		b.t.Errorf("@gardener shows the user %q", got)
	}
	b.check("the search results are closed", `document.getElementById('search-results').hidden`)
	b.check("a post with no tag says its mb:tags is an empty array",
		`document.querySelector('#embedded [data-embedded-rel="mb:posts"] details [data-rel="mb:tags"] .none')?.textContent === 'none (an empty array)'`)
	b.step("search for #summer",
		chromedp.SetValue(chromedp.CSS(`#search-q`), "#summer"),
		click(`#search-submit`),
		visible(`#resource[data-path="/api/tags/summer"] [data-embedded-rel="mb:posts"] details`),
	)
}

// refusedQuery searches for spaces only, which the server refuses with a
// problem that names q.
func refusedQuery(b *browser) {
	b.step("search for spaces only",
		chromedp.SetValue(chromedp.CSS(`#search-q`), "   "),
		click(`#search-submit`),
		visible(`#search-users .problem`),
		visible(`#search-posts .problem`),
		visible(`#problem`),
	)
	b.check("the results say the server refused q",
		`document.querySelector('#search-posts .problem').textContent.includes('400')
		&& document.querySelector('#search-posts .problem code')?.textContent === 'q'`)
	if got := b.text(`#problem-params li code`); got != "q" {
		b.t.Errorf("the problem names %q, want q", got)
	}
}

// searchPostsForm submits the root's search-posts HAL-FORMS template,
// whose method is GET: its property goes in the query string, with no
// body.
func searchPostsForm(b *browser) {
	form := `[data-template="search-posts"]`
	b.step("submit the root's search-posts form",
		click(`#home`),
		visible(`#resource[data-path="/api"] `+form+` [name="q"]`),
		typeIn(form+` [name="q"]`, "tomatoes garden"),
		click(form+` button[type="submit"]`),
		visible(`#responses li[data-method="GET"][data-url="/api/search/posts?q=tomatoes+garden"][data-status="200"]`),
		visible(`#resource[data-path="/api/search/posts?q=tomatoes+garden"] [data-embedded-rel="mb:posts"] details`),
	)
	b.check("the form sent no body",
		`!document.querySelector('#responses li[data-url^="/api/search/posts"]').textContent.includes('Request body')`)
	b.check("the form's results page by next", `document.querySelector('#links [data-rel="next"] a.link') !== null`)
}

// apiToken logs name in through the API and returns the token.
func apiToken(t *testing.T, origin, name, password string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, origin+"/api/tokens", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(name, password)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("log in %s: %s (%v)", name, res.Status, err)
	}
	return body.Token
}

// createPost posts text with token through the API.
func createPost(t *testing.T, origin, token, text string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"body": text})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, origin+"/api/posts", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("post %q: %s", text, res.Status)
	}
}
