package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// bench runs the scenarios against a running server.
type bench struct {
	wrk    wrkSettings
	pool   *pgxpool.Pool
	client *client
	out    io.Writer
}

// scenario is one URL that wrk loads.
type scenario struct {
	name   string
	method string
	url    string // absolute
	body   string // of the check request, for a POST
	script string // path of wrk's Lua script, for a POST or a like
	want   int    // the status the check request must get; 0 means any 2xx
	// compared is set for a page held to the page of 10 users in the
	// report, and ordinary, for a scenario of the hot post or its author,
	// names the ordinary scenario it is held to.
	compared bool
	ordinary string
	// token is the bearer token of the requests when it is not the login
	// user's.
	token string
	// undo, when set, takes back what the requests made, after the check
	// request and after each run of wrk, and says how many rows it took.
	undo func(context.Context, *pgxpool.Pool) (int64, error)
}

// row is the outcome of one scenario.
type row struct {
	name     string
	res      wrkResult
	compared bool
	ordinary string
}

// report is everything loadbench prints at the end.
type report struct {
	set      dataSet
	database string
	// users, follows and posts are counted before the load.
	users, follows, posts int64
	pgVersion             string
	wrkVersion            string
	wrk                   wrkSettings
	rows                  []row
	walk                  walk
	// found says what each search scenario finds, and told what the
	// conversation scenarios found.
	found, told []string

	// The server's memory, in KiB: VmRSS once ready, at the start of the
	// load and at most during it, and VmHWM at its end.
	readyRSSKiB, startRSSKiB, peakRSSKiB, hwmKiB int64

	serverLog logSummary
	total     time.Duration
	// deletedPosts were made by the POST scenario, leftovers by an
	// earlier run that ended before deleting its own.
	deletedPosts, leftovers int64
}

// plan is what the client found by following the API's links.
type plan struct {
	other int64 // id of the user the load reads
	// before and after are the scenarios before and after the deep page.
	before, after []scenario
	// firstPage is the first page of users, 10 a page, where the walk to
	// the deep page starts.
	firstPage string
	// found says what each search scenario finds, and told what the
	// conversation scenarios found.
	found, told []string
}

// measure logs in, runs every scenario in order and returns the report.
func (b *bench) measure(ctx context.Context, opts options, srv *server, tmp string) (*report, error) {
	p, err := b.logInAndPlan(ctx, srv.base, tmp, termsFor(opts.set.users))
	if err != nil {
		return nil, err
	}
	rep := &report{set: opts.set, database: opts.set.database(), wrk: b.wrk, wrkVersion: wrkVersion(ctx, b.wrk.path),
		found: p.found, told: p.told}
	if err := b.countDataSet(ctx, rep); err != nil {
		return nil, err
	}
	floor, stopFloor, err := startFloor(b.pool, p.other)
	if err != nil {
		return nil, err
	}
	defer stopFloor()
	pid := srv.Cmd.Process.Pid
	sampler := sampleRSS(ctx, pid)
	defer sampler.stop() // on errors; stopping twice is harmless

	fmt.Fprintf(b.out, "wrk -t%d -c%d -d%s --latency, after a %s warm-up each\n", b.wrk.threads, b.wrk.connections, b.wrk.duration, b.wrk.warmup)
	if err := b.runAll(ctx, rep, append([]scenario{getScenario("floor", floor)}, p.before...)); err != nil {
		return nil, err
	}
	deep, err := b.walkToDeepPage(ctx, p.firstPage, opts.deepPage, rep)
	if err != nil {
		return nil, err
	}
	if err := b.runAll(ctx, rep, append([]scenario{getScenario("GET users deep page", deep)}, p.after...)); err != nil {
		return nil, err
	}
	if rep.startRSSKiB, rep.peakRSSKiB, err = sampler.stop(); err != nil {
		return nil, err
	}
	if rep.hwmKiB, err = procStatusKiB(pid, "VmHWM"); err != nil {
		return nil, err
	}
	return rep, nil
}

// logInAndPlan logs in as loginUser, and as celebrity for the hot
// author's notifications, through the API at base and makes the plan,
// with the wrk scripts of the POST and like scenarios written into tmp and
// the searches looking for terms.
func (b *bench) logInAndPlan(ctx context.Context, base, tmp string, terms searchTerms) (plan, error) {
	root, hotToken, err := b.logIn(ctx, base)
	if err != nil {
		return plan{}, err
	}
	in := planInput{terms: terms, hotToken: hotToken, likeScript: func(paths []string) (string, error) {
		return writeScript(tmp, "like.lua", likeScript(paths, b.wrk.threads))
	}}
	if in.postScript, err = writeScript(tmp, "post.lua", postScript); err != nil {
		return plan{}, err
	}
	return makePlan(ctx, b.client, root, in)
}

// logIn makes b's client for the API at base and logs it in as loginUser,
// and returns the root document and a token of celebrity.
func (b *bench) logIn(ctx context.Context, base string) (doc, string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return doc{}, "", fmt.Errorf("server URL: %w", err)
	}
	b.client = &client{http: &http.Client{Timeout: 30 * time.Second}, base: u}
	root, err := b.client.get(ctx, "/api")
	if err != nil {
		return doc{}, "", err
	}
	hot := *b.client
	if err := hot.logIn(ctx, root, celebrity, seedPassword); err != nil {
		return doc{}, "", err
	}
	if err := b.client.logIn(ctx, root, loginUser, seedPassword); err != nil {
		return doc{}, "", err
	}
	return root, hot.token, nil
}

// countDataSet puts the size of the data set and the PostgreSQL version
// into rep, and prints the size.
func (b *bench) countDataSet(ctx context.Context, rep *report) error {
	err := b.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM follows),
		(SELECT count(*) FROM posts), version()`).Scan(&rep.users, &rep.follows, &rep.posts, &rep.pgVersion)
	if err != nil {
		return fmt.Errorf("count the data set: %w", err)
	}
	fmt.Fprintf(b.out, "data set: %d users, %d follows, %d posts\n", rep.users, rep.follows, rep.posts)
	return nil
}

// walkToDeepPage follows next links from firstPage to page target,
// printing its progress, records the walk in rep and returns the absolute
// URL of the page reached.
func (b *bench) walkToDeepPage(ctx context.Context, firstPage string, target int64, rep *report) (string, error) {
	fmt.Fprintf(b.out, "walking to page %d of users, 10 a page, by next links\n", target)
	var err error
	rep.walk, err = b.client.walkPages(ctx, firstPage, target, func(page int64, d time.Duration) {
		fmt.Fprintf(b.out, "  page %d after %s\n", page, d.Round(time.Millisecond))
	})
	if err != nil {
		return "", err
	}
	deep, err := b.client.resolve(rep.walk.href)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(b.out, "  reached page %d in %s: %s\n", rep.walk.page, rep.walk.elapsed.Round(time.Millisecond), rep.walk.href)
	return deep, nil
}

// runAll runs the scenarios in order.
func (b *bench) runAll(ctx context.Context, rep *report, scenarios []scenario) error {
	for _, sc := range scenarios {
		if err := b.run(ctx, sc, rep); err != nil {
			return err
		}
	}
	return nil
}

// run checks that sc's URL answers 2xx, warms it up, measures it with wrk
// and adds its row to rep.
func (b *bench) run(ctx context.Context, sc scenario, rep *report) error {
	c := *b.client
	if sc.token != "" {
		c.token = sc.token
	}
	// One request first, so that an error page is never what gets measured.
	if _, err := c.check(ctx, sc.method, sc.url, sc.body, sc.want); err != nil {
		return fmt.Errorf("%s: %w", sc.name, err)
	}
	if err := b.undo(ctx, sc); err != nil {
		return err
	}
	if b.wrk.warmup > 0 {
		if _, err := runWrk(ctx, b.wrk, b.wrk.warmup, sc.url, c.token, sc.script); err != nil {
			return fmt.Errorf("%s: warm-up: %w", sc.name, err)
		}
		if err := b.undo(ctx, sc); err != nil {
			return err
		}
	}
	res, err := runWrk(ctx, b.wrk, b.wrk.duration, sc.url, c.token, sc.script)
	if err != nil {
		return fmt.Errorf("%s: %w", sc.name, err)
	}
	if err := b.undo(ctx, sc); err != nil {
		return err
	}
	fmt.Fprintf(b.out, "  %-32s %8.0f req/s  p50 %s  p99 %s  non-2xx %d\n",
		sc.name, res.perSecond, millis(res.p50), millis(res.p99), res.non2xx)
	rep.rows = append(rep.rows, row{name: sc.name, res: res, compared: sc.compared, ordinary: sc.ordinary})
	return nil
}

// undo runs sc's undo, if it has one.
func (b *bench) undo(ctx context.Context, sc scenario) error {
	if sc.undo == nil {
		return nil
	}
	if _, err := sc.undo(ctx, b.pool); err != nil {
		return fmt.Errorf("%s: %w", sc.name, err)
	}
	return nil
}

// planInput is what makePlan needs besides the client and the root: the
// POST scenario's wrk script, what writes the like scenario's, the search
// terms, and the token of the hot post's author.
type planInput struct {
	postScript string
	likeScript func(paths []string) (string, error)
	terms      searchTerms
	hotToken   string
}

// makePlan finds the scenarios' URLs from the root's links and the
// documents they lead to. The client must be logged in.
func makePlan(ctx context.Context, c *client, root doc, in planInput) (plan, error) {
	links, err := findRootLinks(root)
	if err != nil {
		return plan{}, err
	}
	// The token works: GET mb:me would answer 401 otherwise.
	me, err := c.get(ctx, links.me.Href)
	if err != nil {
		return plan{}, err
	}
	h, err := links.hrefs()
	if err != nil {
		return plan{}, err
	}
	users, err := findSeedUsers(ctx, c, h.usersPage10, links.user)
	if err != nil {
		return plan{}, err
	}
	// The followers links carry no page parameters: their first page is
	// the default size, 10.
	p := plan{other: users.otherID, firstPage: h.usersPage10}
	p.before = []scenario{
		getScenario(getUser, users.other),
		getScenario(usersPage10, h.usersPage10),
		getScenario("GET users page of 100", h.usersPage100),
		getScenario(getFollowers, users.otherFollowers),
		getScenario("GET followers (celebrity)", users.celebrityFollowers),
	}
	searches, found, err := searchScenarios(ctx, c, links, in.terms)
	if err != nil {
		return plan{}, err
	}
	talks, told, err := conversationScenarios(ctx, c, conversationLinks{root: links, me: me, celebrity: users.celebrity,
		celebrityPosts: users.celebrityPosts, others: users.otherPosts, hotToken: in.hotToken}, in.likeScript)
	if err != nil {
		return plan{}, err
	}
	p.found, p.told = found, told
	p.after = slices.Concat([]scenario{getScenario("GET feed", h.feed)}, searches, talks,
		[]scenario{{name: "POST post", method: http.MethodPost, url: h.posts, body: `{"body":"` + postBody + `"}`,
			script: in.postScript, want: http.StatusCreated}})
	return p, c.resolveAll(p.before, p.after)
}

// resolveAll makes the URLs of the scenarios absolute.
func (c *client) resolveAll(lists ...[]scenario) error {
	for _, list := range lists {
		for i := range list {
			var err error
			if list[i].url, err = c.resolve(list[i].url); err != nil {
				return err
			}
		}
	}
	return nil
}

// getScenario returns the scenario that GETs href.
func getScenario(name, href string) scenario {
	return scenario{name: name, method: http.MethodGet, url: href}
}

// rootLinks are the links of GET /api that the plan follows.
type rootLinks struct {
	users, user, me, feed, posts  link
	searchUsers, searchPosts, tag link
	notifications                 link
}

// findRootLinks reads the rootLinks of root.
func findRootLinks(root doc) (rootLinks, error) {
	var l rootLinks
	for rel, dst := range map[string]*link{"mb:users": &l.users, "mb:user": &l.user, "mb:me": &l.me, "mb:feed": &l.feed,
		"mb:posts": &l.posts, "mb:search-users": &l.searchUsers, "mb:search-posts": &l.searchPosts, "mb:tag": &l.tag,
		"mb:notifications": &l.notifications} {
		var err error
		if *dst, err = root.mustLink(rel); err != nil {
			return rootLinks{}, fmt.Errorf("GET /api: %w", err)
		}
	}
	return l, nil
}

// planHrefs are the hrefs that the root's links give without reading
// another document.
type planHrefs struct {
	usersPage10, usersPage100 string // the first page of users, 10 and 100 a page
	feed, posts               string
}

// hrefs expands the links that lead to the planHrefs.
func (l rootLinks) hrefs() (planHrefs, error) {
	var h planHrefs
	var err error
	if h.usersPage10, err = l.users.expand(map[string]string{"page": "1", "per_page": "10"}); err != nil {
		return planHrefs{}, err
	}
	if h.usersPage100, err = l.users.expand(map[string]string{"page": "1", "per_page": "100"}); err != nil {
		return planHrefs{}, err
	}
	if h.feed, err = l.feed.expand(nil); err != nil {
		return planHrefs{}, err
	}
	if h.posts, err = l.posts.expand(nil); err != nil {
		return planHrefs{}, err
	}
	return h, nil
}

// searchTerms are what the search scenarios look for: a fragment of
// usernames, a word of posts and a hashtag. README.md says why these.
type searchTerms struct{ user, post, tag string }

// The word of posts and the hashtag that the search scenarios look for,
// each of middling frequency in the seeded posts.
const (
	searchWord = "philosophy"
	searchTag  = "research"
)

// termsFor returns the search terms for a data set of users users. The
// fragment of usernames is the longest of seed1, seed12, seed123 … that
// begins no name longer than its own by more than a digit: it is the name
// of one user and begins the names of ten more (seed12 among 1,000 users,
// seed12345 among a million), whatever the number of users, from 129 on.
func termsFor(users int) searchTerms {
	const digits = "1234567890123456789"
	n := 1
	for n < len(digits)-1 {
		if next, _ := strconv.Atoi(digits[:n+1]); next*10+9 > users {
			break
		}
		n++
	}
	return searchTerms{user: "seed" + digits[:n], post: searchWord, tag: searchTag}
}

// searchScenarios returns the scenarios of the searches, their URLs filled
// in from the root's links l as a client fills a search form (the query
// alone: the first page, of the default size), and what each found when
// read once.
func searchScenarios(ctx context.Context, c *client, l rootLinks, t searchTerms) ([]scenario, []string, error) {
	searches := []struct {
		name, param, term string
		link              link
	}{
		{"GET search users", "q", t.user, l.searchUsers},
		{"GET search posts", "q", t.post, l.searchPosts},
		{"GET tag page", "tag", t.tag, l.tag},
	}
	var scenarios []scenario
	var found []string
	for _, s := range searches {
		href, err := s.link.expand(map[string]string{s.param: s.term})
		if err != nil {
			return nil, nil, err
		}
		d, err := c.get(ctx, href)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", s.name, err)
		}
		found = append(found, fmt.Sprintf("%s %q: %d found", strings.TrimPrefix(s.name, "GET "), s.term, d.Meta.TotalItems))
		scenarios = append(scenarios, scenario{name: s.name, method: http.MethodGet, url: href, compared: true})
	}
	return scenarios, found, nil
}

// seedUsers are the hrefs of the seeded users that the scenarios read,
// and of their followers and posts (the first pages).
type seedUsers struct {
	otherID                                       int64
	other, otherFollowers, otherPosts             string
	celebrity, celebrityFollowers, celebrityPosts string
}

// findSeedUsers finds celebrity and otherUser on the first page of users,
// at firstPage, and reads otherUser through the user link.
func findSeedUsers(ctx context.Context, c *client, firstPage string, user link) (seedUsers, error) {
	first, err := c.get(ctx, firstPage)
	if err != nil {
		return seedUsers{}, err
	}
	celeb, err := findUser(first, celebrity)
	if err != nil {
		return seedUsers{}, err
	}
	other, err := findUser(first, otherUser)
	if err != nil {
		return seedUsers{}, err
	}
	u := seedUsers{otherID: other.ID, celebrity: celeb.self()}
	if u.other, err = user.expand(map[string]string{"id": strconv.FormatInt(other.ID, 10)}); err != nil {
		return seedUsers{}, err
	}
	otherDoc, err := c.get(ctx, u.other)
	if err != nil {
		return seedUsers{}, err
	}
	// The links are templated {?page,per_page}: the first page.
	for _, l := range []struct {
		d   doc
		rel string
		dst *string
	}{{otherDoc, "mb:followers", &u.otherFollowers}, {otherDoc, "mb:posts", &u.otherPosts},
		{celeb, "mb:followers", &u.celebrityFollowers}, {celeb, "mb:posts", &u.celebrityPosts}} {
		if *l.dst, err = l.d.expandLink(l.rel); err != nil {
			return seedUsers{}, fmt.Errorf("user %s: %w", l.d.Username, err)
		}
	}
	return u, nil
}

// deleteBenchPosts deletes the posts that the POST scenario made as
// loginUser; the posts triggers keep the author's count right.
const deleteBenchPosts = `
	DELETE FROM posts p USING users u
	WHERE p.author_id = u.id AND u.username = $1 AND p.body = $2`

// deletePosts deletes the posts of the POST scenario and returns how many
// there were.
func deletePosts(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	return deletePostsOf(ctx, pool, postBody)
}

// deletePostsOf deletes the posts of loginUser whose body is body and
// returns how many there were.
func deletePostsOf(ctx context.Context, pool *pgxpool.Pool, body string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tag, err := pool.Exec(ctx, deleteBenchPosts, loginUser, body)
	if err != nil {
		return 0, fmt.Errorf("delete the posts of the POST scenario: %w", err)
	}
	if tag.RowsAffected() > 0 {
		// Each post made and deleted also updated its author's row twice,
		// and each like and unlike of the like scenario, which runs
		// before, its post's row and a row of likes: without a vacuum,
		// every run would leave the next one bloated tables and a slower
		// login user to read.
		if _, err := pool.Exec(ctx, `VACUUM (ANALYZE) users, posts, totals, likes, inboxes`); err != nil {
			return 0, fmt.Errorf("vacuum after the POST scenario: %w", err)
		}
	}
	return tag.RowsAffected(), nil
}

// millis formats a latency in milliseconds, the unit of the table.
func millis(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
}

// print writes the report: what was measured and where, then the table.
func (r *report) print(w io.Writer) {
	mib := func(kib int64) string { return strconv.FormatFloat(float64(kib)/1024, 'f', 1, 64) + " MiB" }
	pgVersion, _, _ := strings.Cut(r.pgVersion, ",") // drop "compiled by …"
	fmt.Fprintln(w)
	fmt.Fprintf(w, "data set: %d users, %d follows, %d posts (microblog seed %s; database %s)\n",
		r.users, r.follows, r.posts, strings.Join(r.set.args(), " "), r.database)
	fmt.Fprintf(w, "machine: nproc %d, %s, %s, %s\n", runtime.NumCPU(), cpuModel(), runtimeVersion(), pgVersion)
	fmt.Fprintf(w, "wrk: %s; -t%d -c%d -d%s --latency per scenario, after a %s warm-up (not reported)\n",
		r.wrkVersion, r.wrk.threads, r.wrk.connections, r.wrk.duration, r.wrk.warmup)
	fmt.Fprintf(w, "server peak RSS: %s (VmHWM); VmRSS %s when ready, %s at the start of the load (after one login), "+
		"%s at most (sampled every %s)\n", mib(r.hwmKiB), mib(r.readyRSSKiB), mib(r.startRSSKiB), mib(r.peakRSSKiB), rssEvery)
	fmt.Fprintf(w, "deep page: page %d of users (10 a page) reached by following next in %s (%s a page)\n",
		r.walk.page, r.walk.elapsed.Round(time.Millisecond), millis(r.walk.elapsed/time.Duration(max(r.walk.page, 1))))
	l := r.serverLog
	fmt.Fprintf(w, "server log: %d requests: %d 2xx, %d 3xx, %d 4xx, %d 5xx; %d lines at WARN or ERROR\n",
		l.requests, l.byClass[2], l.byClass[3], l.byClass[4], l.byClass[5], l.problems)
	if len(l.failed) > 0 {
		fmt.Fprintln(w, "  4xx and 5xx by route (a 499 is a request still in flight when wrk hung up at the end of a run):")
	}
	for _, k := range slices.Sorted(maps.Keys(l.failed)) {
		fmt.Fprintf(w, "    %s: %d\n", k, l.failed[k])
	}
	for _, line := range l.first {
		fmt.Fprintln(w, "  ", line)
	}
	r.printFound(w)
	fmt.Fprintf(w, "posts made by POST post, deleted afterwards: %d", r.deletedPosts)
	if r.leftovers > 0 {
		fmt.Fprintf(w, " (and %d left by an earlier run, deleted before)", r.leftovers)
	}
	fmt.Fprintln(w)
	var socketErrors int64
	for _, row := range r.rows {
		socketErrors += row.res.socketErrors
	}
	if socketErrors > 0 {
		fmt.Fprintf(w, "wrk socket errors (connect, read, write, timeout), not in the table: %d\n", socketErrors)
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, r.table())
	for _, line := range []string{r.page10Ratios(), r.hotRatios()} {
		if line != "" {
			fmt.Fprintln(w)
			fmt.Fprintln(w, line)
		}
	}
	fmt.Fprintf(w, "\ntotal run time: %s\n", r.total.Round(time.Second))
}

// printFound writes what the searches and the conversation scenarios
// found, and the like scenario's count of likes made.
func (r *report) printFound(w io.Writer) {
	if len(r.found) > 0 {
		fmt.Fprintf(w, "searches: %s\n", strings.Join(r.found, "; "))
	}
	if len(r.told) > 0 {
		fmt.Fprintf(w, "conversations: %s\n", strings.Join(r.told, "; "))
	}
	for _, row := range r.rows {
		if row.res.likePUTs > 0 {
			fmt.Fprintf(w, "%s: %d PUTs sent, %d answered 201, a like made (the others were in flight when wrk stopped: at most %d); "+
				"the likes and their notifications deleted after each run\n",
				row.name, row.res.likePUTs, row.res.likesMade, r.wrk.connections)
		}
	}
}

// usersPage10 is the scenario that the searches and the other pages are
// compared with.
const usersPage10 = "GET users page of 10"

// page10Ratios returns a line with the req/s of each compared scenario (the
// searches and the pages of conversations) as a fraction of usersPage10's
// in the same run, or "" when there is nothing to compare.
func (r *report) page10Ratios() string {
	i := slices.IndexFunc(r.rows, func(x row) bool { return x.name == usersPage10 })
	if i < 0 || r.rows[i].res.perSecond <= 0 {
		return ""
	}
	var ratios []string
	for _, row := range r.rows {
		if row.compared {
			ratios = append(ratios, fmt.Sprintf("%s %.2f", row.name, row.res.perSecond/r.rows[i].res.perSecond))
		}
	}
	if len(ratios) == 0 {
		return ""
	}
	return "req/s as a fraction of " + usersPage10 + "'s: " + strings.Join(ratios, ", ") + " (within 2x: at least 0.50)"
}

// hotRatios returns a line with the req/s of each scenario of the hot post
// or its author as a fraction of the ordinary scenario's it is held to, in
// the same run, or "" when there is nothing to compare.
func (r *report) hotRatios() string {
	var ratios []string
	for _, hot := range r.rows {
		i := slices.IndexFunc(r.rows, func(x row) bool { return hot.ordinary != "" && x.name == hot.ordinary })
		if i >= 0 && r.rows[i].res.perSecond > 0 {
			ratios = append(ratios, fmt.Sprintf("%s %.2f", hot.name, hot.res.perSecond/r.rows[i].res.perSecond))
		}
	}
	if len(ratios) == 0 {
		return ""
	}
	return "req/s of the hot post's and its author's scenarios as a fraction of the ordinary ones': " +
		strings.Join(ratios, ", ") + " (within 1.5x: at least 0.67)"
}

// table returns the rows as an aligned markdown table.
func (r *report) table() string {
	cells := [][]string{{"scenario", "req/s", "p50", "p99", "errors", "ratio to floor"}}
	var floor float64
	if len(r.rows) > 0 {
		floor = r.rows[0].res.perSecond
	}
	for _, row := range r.rows {
		ratio := "-"
		if floor > 0 {
			ratio = strconv.FormatFloat(row.res.perSecond/floor, 'f', 2, 64)
		}
		cells = append(cells, []string{row.name, strconv.FormatFloat(row.res.perSecond, 'f', 0, 64),
			millis(row.res.p50), millis(row.res.p99), strconv.FormatInt(row.res.non2xx, 10), ratio})
	}
	widths := make([]int, len(cells[0]))
	for _, line := range cells {
		for i, c := range line {
			widths[i] = max(widths[i], len(c))
		}
	}
	var b strings.Builder
	for n, line := range cells {
		b.WriteString("|")
		for i, c := range line {
			// The name is left-aligned, the numbers right-aligned.
			if i == 0 {
				fmt.Fprintf(&b, " %-*s |", widths[i], c)
			} else {
				fmt.Fprintf(&b, " %*s |", widths[i], c)
			}
		}
		b.WriteString("\n")
		if n == 0 {
			b.WriteString("|")
			for i, w := range widths {
				if i == 0 {
					b.WriteString(" " + strings.Repeat("-", w) + " |")
				} else {
					b.WriteString(" " + strings.Repeat("-", w-1) + ": |")
				}
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}
