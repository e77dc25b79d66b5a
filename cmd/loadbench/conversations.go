package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The scenarios of conversations: a post, a post with replies and its
// replies, a post's likers, the notifications, and a like given and taken
// back. Those of the hot post (seed1's newest, with the seed's
// --hot-post-likes) and of its author run beside the same for an ordinary
// post and user, whose names the hot ones give as ordinary.

// Names of the scenarios that the hot ones are compared with.
const (
	getPost          = "GET post"
	getUser          = "GET user"
	getUserPosts     = "GET user's posts"
	getLikers        = "GET post's likers"
	getFollowers     = "GET followers (ordinary user)"
	getNotifications = "GET notifications"
)

// likePosts is how many posts the like scenario likes and unlikes in turn;
// see likeScript.
const likePosts = 500

// conversationLinks are what the conversation scenarios start from: the
// root's links, the login user, the href of the celebrity, the first pages
// of the posts of the celebrity and of otherUser, and the celebrity's
// token.
type conversationLinks struct {
	root                   rootLinks
	me                     doc // the login user
	celebrity              string
	celebrityPosts, others string // their posts, the first page
	hotToken               string
}

// conversationScenarios finds the URLs of the conversation scenarios by
// following links from l, and says what they found. likeScript writes the
// like scenario's wrk script for the like links it is given.
func conversationScenarios(ctx context.Context, c *client, l conversationLinks,
	likeScript func(paths []string) (string, error)) ([]scenario, []string, error) {
	p, err := findPosts(ctx, c, l)
	if err != nil {
		return nil, nil, err
	}
	notifications, err := l.root.notifications.expand(nil)
	if err != nil {
		return nil, nil, err
	}
	like, err := likeScenario(ctx, c, l.me, p.all, likeScript)
	if err != nil {
		return nil, nil, err
	}
	hotNotifications := getScenario(getNotifications+" (hot author)", notifications)
	hotNotifications.token = l.hotToken
	scenarios := []scenario{
		getScenario(getPost, p.ordinary.self()), hotOf(getScenario(getPost+" (hot)", p.hot.self()), getPost),
		hotOf(getScenario(getUser+" (hot author)", l.celebrity), getUser),
		getScenario(getUserPosts, l.others), hotOf(getScenario(getUserPosts+" (hot author)", l.celebrityPosts), getUserPosts),
		// An ordinary post has a like or two: the page of 10 users of a
		// relation that the hot post's likers are held to is an ordinary
		// user's followers.
		getScenario(getLikers, p.likers), hotOf(getScenario(getLikers+" (hot)", p.hotLikers), getFollowers),
		getScenario("GET post with replies", p.replied.self()), getScenario("GET replies page", p.replies),
		getScenario(getNotifications, notifications), hotOf(hotNotifications, getNotifications),
		like,
	}
	for i := range scenarios {
		// Every page of conversations is held to the page of 10 users;
		// the like, a write, is not.
		scenarios[i].compared = scenarios[i].method == http.MethodGet
	}
	told, err := notificationCounts(ctx, c, notifications, l.hotToken)
	if err != nil {
		return nil, nil, err
	}
	return scenarios, []string{p.String(), told}, nil
}

// postsFound are the posts that the conversation scenarios read: the hot
// one, an ordinary one and one with replies, with the hrefs of their
// likers and replies, and the first page of all posts, 100 a page.
type postsFound struct {
	hot, ordinary, replied     doc
	hotLikers, likers, replies string
	all                        string
}

// findPosts finds the postsFound from the links l.
func findPosts(ctx context.Context, c *client, l conversationLinks) (postsFound, error) {
	var p postsFound
	var err error
	if p.hot, err = firstPost(ctx, c, l.celebrityPosts); err != nil {
		return postsFound{}, fmt.Errorf("the hot post, %s's newest: %w", celebrity, err)
	}
	if p.ordinary, err = firstPost(ctx, c, l.others); err != nil {
		return postsFound{}, fmt.Errorf("an ordinary post, %s's newest: %w", otherUser, err)
	}
	if p.all, err = l.root.posts.expand(map[string]string{"per_page": "100"}); err != nil {
		return postsFound{}, err
	}
	if p.replied, err = findReplied(ctx, c, p.all); err != nil {
		return postsFound{}, err
	}
	for _, h := range []struct {
		d   doc
		rel string
		dst *string
	}{{p.hot, "mb:likes", &p.hotLikers}, {p.ordinary, "mb:likes", &p.likers}, {p.replied, "mb:replies", &p.replies}} {
		if *h.dst, err = h.d.expandLink(h.rel); err != nil {
			return postsFound{}, err
		}
	}
	return p, nil
}

// String says what the posts found are.
func (p postsFound) String() string {
	return fmt.Sprintf("hot post %s: %d likes, %d replies; ordinary post %s: %d likes, %d replies; "+
		"post with replies %s: %d replies", p.hot.self(), p.hot.LikeCount, p.hot.ReplyCount, p.ordinary.self(),
		p.ordinary.LikeCount, p.ordinary.ReplyCount, p.replied.self(), p.replied.ReplyCount)
}

// notificationCounts says how many notifications the login user and the
// celebrity, whose token is hotToken, have: the total of their first page
// at href.
func notificationCounts(ctx context.Context, c *client, href, hotToken string) (string, error) {
	mine, err := c.get(ctx, href)
	if err != nil {
		return "", err
	}
	hot := *c
	hot.token = hotToken
	theirs, err := hot.get(ctx, href)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("notifications of %s: %d, of %s: %d", loginUser, mine.Meta.TotalItems, celebrity, theirs.Meta.TotalItems), nil
}

// hotOf marks sc as the hot counterpart of the scenario named ordinary.
func hotOf(sc scenario, ordinary string) scenario {
	sc.ordinary = ordinary
	return sc
}

// postsPage reads the page of posts at href and returns it and its posts.
func postsPage(ctx context.Context, c *client, href string) (doc, []doc, error) {
	page, err := c.get(ctx, href)
	if err != nil {
		return doc{}, nil, err
	}
	posts, err := page.embedded("mb:posts")
	return page, posts, err
}

// firstPost returns the first post on the page of posts at href.
func firstPost(ctx context.Context, c *client, href string) (doc, error) {
	_, posts, err := postsPage(ctx, c, href)
	if err != nil {
		return doc{}, err
	}
	if len(posts) == 0 {
		return doc{}, fmt.Errorf("GET %s: no posts", href)
	}
	return posts[0], nil
}

// findReplied walks the pages of posts from href by their next links, at
// most 100 of them, and returns the post with the most replies on the
// first page that has one with any.
func findReplied(ctx context.Context, c *client, href string) (doc, error) {
	for range 100 {
		page, posts, err := postsPage(ctx, c, href)
		if err != nil {
			return doc{}, err
		}
		var best doc
		for _, p := range posts {
			if p.ReplyCount > best.ReplyCount {
				best = p
			}
		}
		if best.ReplyCount > 0 {
			return best, nil
		}
		next, ok := page.link("next")
		if !ok {
			break
		}
		href = next.Href
	}
	return doc{}, fmt.Errorf("no post with replies among the newest posts at %s", href)
}

// likeScenario returns the like scenario: PUT and DELETE in turn of
// likePosts posts' like links, of the newest posts of others that the
// login user, me, does not like yet, read from the pages of posts from
// href. Each request is a change (likeScript says why), and undoLikes
// leaves the data as seeded after every run.
func likeScenario(ctx context.Context, c *client, me doc, href string,
	likeScript func(paths []string) (string, error)) (scenario, error) {
	myself := me.self()
	var paths []string
	for len(paths) < likePosts {
		page, posts, err := postsPage(ctx, c, href)
		if err != nil {
			return scenario{}, err
		}
		for _, p := range posts {
			author, _ := p.link("author")
			like, ok := p.link("mb:like")
			if ok && author.Href != myself && len(paths) < likePosts {
				u, err := c.base.Parse(like.Href)
				if err != nil {
					return scenario{}, fmt.Errorf("like link %q: %w", like.Href, err)
				}
				paths = append(paths, u.RequestURI())
			}
		}
		next, ok := page.link("next")
		if !ok {
			return scenario{}, fmt.Errorf("%d posts to like among the posts, want %d", len(paths), likePosts)
		}
		href = next.Href
	}
	script, err := likeScript(paths)
	if err != nil {
		return scenario{}, err
	}
	return scenario{name: "PUT/DELETE like", method: http.MethodPut, url: paths[0], script: script,
		want: http.StatusCreated, undo: undoLikes}, nil
}

// likeScript is the wrk script of the like scenario: thread t of n (from
// 0) takes the like paths t, t+n, t+2n, … and requests them in turn, PUT on
// the first round, DELETE on the second, and so on. No two threads share a
// post, and a thread has at most connections/n requests in flight, far
// fewer than its posts: a post's next request leaves a round of the
// thread's posts after its last one (some 200 ms on this machine), which
// has been answered by then unless it took longer. So every PUT makes a
// like and every DELETE takes one back; a request overtaken by the next of
// its post would make a later PUT find the like there (204, not 201). The
// script counts the PUTs it sends and the 201s that come back, and prints
// both at the end, which parseWrk reads.
func likeScript(paths []string, threads int) string {
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = strconv.Quote(p)
	}
	return `local paths = {` + strings.Join(quoted, ", ") + `}
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  mine, n, puts, created = {}, 0, 0, 0
  for i = id + 1, #paths, ` + strconv.Itoa(max(threads, 1)) + ` do
    mine[#mine + 1] = paths[i]
  end
end

function request()
  local path = mine[n % #mine + 1]
  local method = "DELETE"
  if math.floor(n / #mine) % 2 == 0 then
    method, puts = "PUT", puts + 1
  end
  n = n + 1
  return wrk.format(method, path)
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
  end
end

function done(summary, latency, requests)
  local puts, created = 0, 0
  for _, t in ipairs(threads) do
    puts, created = puts + t:get("puts"), created + t:get("created")
  end
  io.write(string.format("Like PUTs: %d sent, %d answered 201\n", puts, created))
end
`
}

// deleteBenchLikes deletes the likes that loginUser gave after the seed
// (whose likes are all older than its users), which only the like
// scenario gives, and the notifications of them, and says how many likes
// there were. The triggers set the posts' counts and the inboxes right.
const deleteBenchLikes = `
	WITH u AS (SELECT id, created_at FROM users WHERE username = $1),
	l AS (DELETE FROM likes l USING u WHERE l.user_id = u.id AND l.created_at > u.created_at RETURNING 1),
	n AS (DELETE FROM notifications n USING u WHERE n.type = 'like' AND n.actor_id = u.id AND n.created_at > u.created_at)
	SELECT count(*) FROM l`

// undoLikes deletes what the like scenario made and returns how many likes
// there were.
func undoLikes(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var n int64
	if err := pool.QueryRow(ctx, deleteBenchLikes, loginUser).Scan(&n); err != nil {
		return 0, fmt.Errorf("delete the likes of the like scenario: %w", err)
	}
	return n, nil
}
