package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/yosida95/uritemplate/v3"
)

// halMediaType is what the client asks for.
const halMediaType = "application/hal+json"

// client is a small HAL client of the microblog API: it follows links from
// GET /api, as any client would, rather than building paths itself.
type client struct {
	http  *http.Client
	base  *url.URL
	token string
}

// doc is the part of a HAL document that loadbench reads.
type doc struct {
	Links    map[string]json.RawMessage `json:"_links"`
	Embedded map[string]json.RawMessage `json:"_embedded"`
	Meta     struct {
		Page       int64 `json:"page"`
		TotalItems int64 `json:"total_items"`
	} `json:"_meta"`
	ID         int64  `json:"id"`
	Username   string `json:"username"`
	Token      string `json:"token"`
	ReplyCount int64  `json:"reply_count"`
	LikeCount  int64  `json:"like_count"`
}

// link is a HAL link object.
type link struct {
	Href      string `json:"href"`
	Templated bool   `json:"templated"`
}

// link returns the link of rel, the first one when rel holds an array.
func (d doc) link(rel string) (link, bool) {
	raw, ok := d.Links[rel]
	if !ok {
		return link{}, false
	}
	var l link
	if json.Unmarshal(raw, &l) == nil && l.Href != "" {
		return l, true
	}
	var ls []link
	if json.Unmarshal(raw, &ls) == nil && len(ls) > 0 && ls[0].Href != "" {
		return ls[0], true
	}
	return link{}, false
}

// self returns the href of d's self link, "" when it has none.
func (d doc) self() string {
	l, _ := d.link("self")
	return l.Href
}

// expandLink returns the href of d's link rel, its template, if it has
// one, expanded with no variables.
func (d doc) expandLink(rel string) (string, error) {
	l, err := d.mustLink(rel)
	if err != nil {
		return "", err
	}
	return l.expand(nil)
}

// mustLink is link with an error naming what is missing.
func (d doc) mustLink(rel string) (link, error) {
	l, ok := d.link(rel)
	if !ok {
		return link{}, fmt.Errorf("no %q link in the document", rel)
	}
	return l, nil
}

// expand fills a templated link's variables (RFC 6570) and returns the href;
// an untemplated link is returned as it is.
func (l link) expand(vars map[string]string) (string, error) {
	if !l.Templated {
		return l.Href, nil
	}
	t, err := uritemplate.New(l.Href)
	if err != nil {
		return "", fmt.Errorf("link template %q: %w", l.Href, err)
	}
	values := uritemplate.Values{}
	for k, v := range vars {
		values.Set(k, uritemplate.String(v))
	}
	href, err := t.Expand(values)
	if err != nil {
		return "", fmt.Errorf("expand %q: %w", l.Href, err)
	}
	return href, nil
}

// resolve returns href, which may be relative, as an absolute URL.
func (c *client) resolve(href string) (string, error) {
	u, err := c.base.Parse(href)
	if err != nil {
		return "", fmt.Errorf("link %q: %w", href, err)
	}
	return u.String(), nil
}

// send sends one request to href with the token, when there is one, and
// returns the status and body.
func (c *client) send(ctx context.Context, method, href, body string, basic *url.Userinfo) (int, []byte, error) {
	target, err := c.resolve(href)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, target, strings.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, target, err)
	}
	req.Header.Set("Accept", halMediaType)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if basic != nil {
		password, _ := basic.Password()
		req.SetBasicAuth(basic.Username(), password)
	} else if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, target, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: read body: %w", method, target, err)
	}
	return res.StatusCode, raw, nil
}

// check sends one request and fails unless it gets a 2xx status (want,
// when want is not zero).
func (c *client) check(ctx context.Context, method, href, body string, want int) ([]byte, error) {
	status, raw, err := c.send(ctx, method, href, body, nil)
	if err != nil {
		return nil, err
	}
	if (want != 0 && status != want) || status < 200 || status > 299 {
		return nil, fmt.Errorf("%s %s: status %d, want %s: %s", method, href, status, wantText(want), truncate(raw, 500))
	}
	return raw, nil
}

// wantText describes the wanted status in an error.
func wantText(want int) string {
	if want == 0 {
		return "2xx"
	}
	return strconv.Itoa(want)
}

// get reads the HAL document at href, which must answer 2xx.
func (c *client) get(ctx context.Context, href string) (doc, error) {
	raw, err := c.check(ctx, http.MethodGet, href, "", 0)
	if err != nil {
		return doc{}, err
	}
	var d doc
	if err := json.Unmarshal(raw, &d); err != nil {
		return doc{}, fmt.Errorf("GET %s: not HAL+JSON: %w", href, err)
	}
	return d, nil
}

// logIn posts the Basic credentials to the tokens link of root and keeps
// the bearer token it gets.
func (c *client) logIn(ctx context.Context, root doc, username, password string) error {
	tokens, err := root.mustLink("mb:tokens")
	if err != nil {
		return fmt.Errorf("log in: %w", err)
	}
	status, raw, err := c.send(ctx, http.MethodPost, tokens.Href, "", url.UserPassword(username, password))
	if err != nil {
		return fmt.Errorf("log in as %s: %w", username, err)
	}
	var d doc
	if status != http.StatusOK || json.Unmarshal(raw, &d) != nil || d.Token == "" {
		return fmt.Errorf("log in as %s: status %d, want 200 with a token: %s", username, status, truncate(raw, 500))
	}
	c.token = d.Token
	return nil
}

// embedded returns the documents embedded under rel.
func (d doc) embedded(rel string) ([]doc, error) {
	raw, ok := d.Embedded[rel]
	if !ok {
		return nil, fmt.Errorf("nothing embedded under %q", rel)
	}
	var docs []doc
	if err := json.Unmarshal(raw, &docs); err != nil {
		return nil, fmt.Errorf("_embedded %q: %w", rel, err)
	}
	return docs, nil
}

// walk is the outcome of following next links.
type walk struct {
	href    string // the page reached
	page    int64  // its number
	elapsed time.Duration
}

// walkPages follows the next link from the page at href until page target,
// or the last page when there are fewer, and tells progress every 1000
// pages. The next links are followed as they are, whatever parameters they
// carry.
func (c *client) walkPages(ctx context.Context, href string, target int64, progress func(page int64, elapsed time.Duration)) (walk, error) {
	start := time.Now()
	for n := int64(1); ; n++ {
		d, err := c.get(ctx, href)
		if err != nil {
			return walk{}, fmt.Errorf("walk to page %d: %w", target, err)
		}
		page := d.Meta.Page
		if page == 0 {
			page = n // a page without _meta: count the steps
		}
		if page%1000 == 0 {
			progress(page, time.Since(start))
		}
		next, ok := d.link("next")
		if page >= target || !ok {
			return walk{href: href, page: page, elapsed: time.Since(start)}, nil
		}
		href = next.Href
	}
}

// truncate shortens a body quoted in an error.
func truncate(raw []byte, n int) string {
	if len(raw) <= n {
		return string(raw)
	}
	return string(raw[:n]) + "…"
}

// findUser returns the user named username among those embedded under
// mb:users in d.
func findUser(d doc, username string) (doc, error) {
	users, err := d.embedded("mb:users")
	if err != nil {
		return doc{}, err
	}
	for _, u := range users {
		if u.Username == username {
			return u, nil
		}
	}
	return doc{}, fmt.Errorf("seeded user %s is not on the first page of users", username)
}
