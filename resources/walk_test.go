package resources_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/yosida95/uritemplate/v3"
)

// halClient knows nothing of the API but HAL: it starts at /api and follows
// links by rel, expanding templated ones, as Ketting or Traverson would.
type halClient struct {
	t     *testing.T
	srv   *testServer
	token string
}

func (c *halClient) get(path string) map[string]any {
	c.t.Helper()
	res := c.srv.do(c.t, request{method: http.MethodGet, path: path, token: c.token})
	if res.code != http.StatusOK {
		c.t.Fatalf("GET %s: %s", path, res)
	}
	return res.json(c.t)
}

// link returns the href of rel in doc, templated links expanded with vars;
// ok is false when doc has no such rel.
func (c *halClient) link(doc map[string]any, rel string, vars map[string]string) (string, bool) {
	c.t.Helper()
	l, ok := doc["_links"].(map[string]any)[rel].(map[string]any)
	if !ok {
		return "", false
	}
	href := l["href"].(string)
	if templated, _ := l["templated"].(bool); !templated {
		return href, true
	}
	t, err := uritemplate.New(href)
	if err != nil {
		c.t.Fatalf("template of %s: %v", rel, err)
	}
	values := uritemplate.Values{}
	for k, v := range vars {
		values.Set(k, uritemplate.String(v))
	}
	href, err = t.Expand(values)
	if err != nil {
		c.t.Fatalf("expand %s: %v", rel, err)
	}
	return href, true
}

func (c *halClient) mustLink(doc map[string]any, rel string) string {
	c.t.Helper()
	href, ok := c.link(doc, rel, nil)
	if !ok {
		c.t.Fatalf("no %s link in %v", rel, doc["_links"])
	}
	return href
}

// walk follows next from path to the end, and returns the self hrefs of
// every embedded mb:users item.
func (c *halClient) walk(path string) []string {
	c.t.Helper()
	var selves []string
	for pages := 0; ; pages++ {
		if pages > 100 {
			c.t.Fatalf("following next from %s does not end", path)
		}
		doc := c.get(path)
		for _, u := range doc["_embedded"].(map[string]any)["mb:users"].([]any) {
			selves = append(selves, c.mustLink(u.(map[string]any), "self"))
		}
		next, ok := c.link(doc, "next", nil)
		if !ok {
			return selves
		}
		path = next
	}
}

// TestHALClientReachesEverything logs in and reaches every user and every
// follower and following page by links alone, from /api.
func TestHALClientReachesEverything(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	const n = 23
	var users []int64
	for i := range n {
		users = append(users, srv.register(t, fmt.Sprintf("w%02d", i), "pw-of-walker"))
	}
	// Everyone follows the next three users, around the ring.
	for i, u := range users {
		for d := 1; d <= 3; d++ {
			srv.follow(t, u, users[(i+d)%n])
		}
	}

	c := &halClient{t: t, srv: srv}
	root := c.get("/api")
	res := srv.do(t, request{method: http.MethodPost, path: c.mustLink(root, "mb:tokens"),
		header: map[string]string{"Authorization": basic("w00", "pw-of-walker")}})
	if res.code != http.StatusOK {
		t.Fatalf("login through mb:tokens: %s", res)
	}
	c.token = res.json(t)["token"].(string)

	usersHref, _ := c.link(root, "mb:users", map[string]string{"per_page": "5"})
	selves := c.walk(usersHref)
	if len(selves) != n {
		t.Fatalf("reached %d users through mb:users, want %d", len(selves), n)
	}
	edges := map[string]bool{}
	for _, self := range selves {
		user := c.get(self)
		for _, f := range c.walk(c.mustLink(user, "mb:followers")) {
			edges[f+" -> "+self] = true
		}
		for _, f := range c.walk(c.mustLink(user, "mb:following")) {
			edges[self+" -> "+f] = true
		}
	}
	if len(edges) != 3*n {
		t.Errorf("follow relations seen from both ends: %d, want %d", len(edges), 3*n)
	}
	me := c.get(c.mustLink(root, "mb:me"))
	if me["username"] != "w00" {
		t.Errorf("mb:me is %v", me["username"])
	}
	if one, ok := c.link(root, "mb:user", map[string]string{"id": fmt.Sprint(users[7])}); !ok || c.get(one)["username"] != "w07" {
		t.Errorf("mb:user with id %d: %s", users[7], one)
	}
}
