package resources_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"microblog/migrations"
	"microblog/persistence"
	"microblog/persistence/pgtest"
	"microblog/resources"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(pgtest.Main(m, migrations.UpURL))
}

// epoch is the fixed time every test server starts at.
var epoch = time.Date(2026, 11, 27, 18, 15, 47, 123456000, time.UTC)

// clock is a settable clock for the store.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// statementCounter counts the SQL statements sent through a pool.
type statementCounter struct{ n atomic.Int64 }

func (s *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	s.n.Add(1)
	return ctx
}

func (s *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// testServer is the real router over a fresh database, with a fixed clock
// and cheap password hashing.
type testServer struct {
	handler    http.Handler
	store      *persistence.Store
	pool       *pgxpool.Pool
	url        string
	clock      *clock
	statements *statementCounter
	// changes follows the database's changes for the server (nil when a
	// test turned it off), and stopFollowing stops following them.
	changes       *persistence.Changes
	stopFollowing func()
	// secrets are strings that must never appear in a response: every
	// password the test registered.
	mu      sync.Mutex
	secrets []string
}

func newTestServer(t testing.TB, opts ...func(*resources.Config)) *testServer {
	t.Helper()
	return newTestServerAt(t, pgtest.New(t), opts...)
}

// newTestServerAt is newTestServer over the database at url, which
// another test server may share, as instances of the server do.
func newTestServerAt(t testing.TB, url string, opts ...func(*resources.Config)) *testServer {
	t.Helper()
	counter := &statementCounter{}
	store, pool := storeOver(t, url, counter)
	clk := &clock{now: epoch}
	store.Now = clk.Now
	// Tests log in and register far more often than people do, all from
	// one address; the tests of the limits set their own.
	generous := resources.RateLimit{Events: 10000, Period: time.Minute, Burst: 10000}
	changes, stopFollowing := followChanges(t, url)
	cfg := resources.Config{TokenTTL: time.Hour, MinPasswordLength: 8, LoginPerUser: generous, LoginPerAccount: generous,
		LoginPerAddress: generous, RegisterPerAddress: generous, Changes: changes}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := resources.NewHandler(store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{handler: h, store: store, pool: pool, url: url, clock: clk, statements: counter,
		changes: cfg.Changes, stopFollowing: stopFollowing}
}

// keepingNothing makes a test server that keeps no response whole: every
// GET reads the database.
func keepingNothing(c *resources.Config) { c.Changes = nil }

// followChanges follows the changes of the database at url, as the server
// does, on a pool of its own (the test's statement counter does not see
// it), and returns once it has looked. stop stops it; the test's end does
// too.
func followChanges(t testing.TB, url string) (changes *persistence.Changes, stop func()) {
	t.Helper()
	pcfg, err := persistence.PoolConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	changes = persistence.NewChanges(pool, func(err error) { t.Logf("changes: %v", err) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		changes.Run(ctx)
	}()
	stop = sync.OnceFunc(func() {
		cancel()
		<-done
	})
	t.Cleanup(stop)
	for deadline := time.Now().Add(10 * time.Second); !changes.Trusted(time.Now()); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no look for changes worked in 10 s")
		}
	}
	return changes, stop
}

// settle waits until the server has heard every change that committed
// before it was called: what a test wrote with plain SQL, which the
// server's kept responses learn of as another instance's changes.
func (s *testServer) settle(t testing.TB) {
	t.Helper()
	if s.changes == nil {
		return
	}
	since := time.Now()
	s.changes.AskLook()
	for deadline := since.Add(10 * time.Second); !s.changes.LookedSince(since); time.Sleep(100 * time.Microsecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server made no look for changes in 10 s")
		}
	}
}

// storeOver is a store over the database at url, as the server makes one
// but with cheap password hashing, and with tracer, if not nil, seeing
// its statements.
func storeOver(t testing.TB, url string, tracer pgx.QueryTracer) (*persistence.Store, *pgxpool.Pool) {
	t.Helper()
	pcfg, err := persistence.PoolConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	pcfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	hasher, err := persistence.NewHasher(&argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, 4)
	if err != nil {
		t.Fatal(err)
	}
	return persistence.NewStore(pool, hasher), pool
}

// request is one request to the test server.
type request struct {
	method, path string
	body         string
	header       map[string]string
	token        string
	// remoteAddr is the client's address, when it matters.
	remoteAddr string
	// unheard leaves a write's changes unheard by the server when do
	// returns: other clients of the server may be served what it kept
	// from before the write for a few milliseconds (responses.go), which
	// the tests of that staleness see. Without it, do waits.
	unheard bool
}

// response is what came back, with its body read.
type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r response) String() string {
	return fmt.Sprintf("%d %s", r.code, r.body)
}

// json decodes the body into a generic map, failing the test if it is not
// a JSON object.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// do sends req through the router and checks what every response must be:
// valid HAL or problem+json, and free of secrets.
func (s *testServer) do(t *testing.T, req request) response {
	t.Helper()
	var body io.Reader
	if req.body != "" {
		body = strings.NewReader(req.body)
	}
	hr := httptest.NewRequest(req.method, req.path, body)
	if req.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	if req.token != "" {
		hr.Header.Set("Authorization", "Bearer "+req.token)
	}
	for k, v := range req.header {
		hr.Header.Set(k, v)
	}
	if req.remoteAddr != "" {
		hr.RemoteAddr = req.remoteAddr + ":1234"
	}
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, hr)
	switch req.method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if !req.unheard {
			s.settle(t)
		}
	}
	res := response{code: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	checkOpenAPI(t, withBody(hr, req.body), res.code, res.header, res.body)
	s.checkResponse(t, req, res)
	return res
}

func (s *testServer) checkResponse(t *testing.T, req request, res response) {
	t.Helper()
	s.mu.Lock()
	secrets := append([]string{"$argon2id$", "password_hash"}, s.secrets...)
	s.mu.Unlock()
	for _, secret := range secrets {
		if bytes.Contains(res.body, []byte(secret)) {
			t.Errorf("%s %s: response contains the secret %q: %s", req.method, req.path, secret, res.body)
		}
	}
	ct := res.header.Get("Content-Type")
	checkSecurityHeaders(t, req, res)
	switch {
	case res.code == http.StatusNotModified:
		if len(res.body) != 0 || res.header.Get("ETag") == "" {
			t.Errorf("%s %s: 304 with a body or without ETag: %q", req.method, req.path, res.body)
		}
	case req.method == http.MethodHead:
		if len(res.body) != 0 {
			t.Errorf("HEAD %s: response has a body: %s", req.path, res.body)
		}
	case strings.HasPrefix(res.header.Get("Content-Disposition"), "attachment") && ct == "application/json":
		// A file to download, such as an export: JSON, but not HAL.
		if !json.Valid(res.body) {
			t.Errorf("%s %s: an attachment that is not JSON: %.200s", req.method, req.path, res.body)
		}
	case ct == "application/hal+json" || ct == "application/json":
		checkHAL(t, res.body)
		if bytes.Contains(res.body, []byte(`"_templates"`)) {
			t.Errorf("%s %s: _templates in a %s body", req.method, req.path, ct)
		}
	case ct == "application/prs.hal-forms+json":
		checkHAL(t, res.body)
		checkTemplates(t, res.body)
	case ct == "application/problem+json":
		checkProblem(t, res)
	case res.code == http.StatusNoContent || res.code == http.StatusCreated && ct == "":
		if len(res.body) != 0 {
			t.Errorf("%s %s: 204 with a body: %s", req.method, req.path, res.body)
		}
	case (res.code == http.StatusCreated || res.code == http.StatusSeeOther) && ct == "":
		if len(res.body) != 0 || res.header.Get("Location") == "" {
			t.Errorf("%s %s: 201 without a Content-Type, with a body or without Location: %s", req.method, req.path, res.body)
		}
	case strings.HasPrefix(ct, "text/html"):
	case ct == "application/health+json" && (req.path == "/healthz" || req.path == "/readyz"):
	case strings.HasPrefix(ct, "text/plain") && req.path == "/metrics":
	case ct == "application/openapi+json" && req.path == "/api/openapi.json":
	case ct == "image/svg+xml" && strings.HasSuffix(req.path, "/avatar"):
	case strings.HasPrefix(req.path, "/explorer") && (res.code == http.StatusMovedPermanently ||
		strings.HasPrefix(ct, "text/javascript") || strings.HasPrefix(ct, "text/css")):
	default:
		t.Errorf("%s %s: unexpected Content-Type %q (status %d)", req.method, req.path, ct, res.code)
	}
	if res.code >= 500 && bytes.Contains(bytes.ToLower(res.body), []byte("sql")) {
		t.Errorf("%s %s: 5xx body shows internal text: %s", req.method, req.path, res.body)
	}
}

// checkSecurityHeaders checks what every response must carry (API.md
// section 12): nosniff, and on HTML a Content-Security-Policy that forbids
// framing, inline scripts and inline styles that are not hashed.
func checkSecurityHeaders(t *testing.T, req request, res response) {
	t.Helper()
	if got := res.header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s %s: X-Content-Type-Options %q, want nosniff", req.method, req.path, got)
	}
	if !strings.HasPrefix(res.header.Get("Content-Type"), "text/html") {
		return
	}
	csp := res.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
		strings.Contains(csp, "unsafe-") {
		t.Errorf("%s %s: HTML with Content-Security-Policy %q", req.method, req.path, csp)
	}
}

// checkTemplates checks the HAL-FORMS rules: _templates at the top level
// only, each template with a method and properties with names.
func checkTemplates(t *testing.T, body []byte) {
	t.Helper()
	var doc struct {
		Templates map[string]struct {
			Method      string           `json:"method"`
			Target      string           `json:"target"`
			ContentType string           `json:"contentType"`
			Properties  []map[string]any `json:"properties"`
		} `json:"_templates"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("HAL-FORMS body: %v", err)
	}
	if len(doc.Templates) == 0 {
		t.Errorf("a HAL-FORMS document without templates: %s", body)
	}
	for key, tmpl := range doc.Templates {
		switch tmpl.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		case http.MethodGet:
			if tmpl.ContentType != "" {
				t.Errorf("template %s: a GET with a contentType, %q: its properties go in the query", key, tmpl.ContentType)
			}
		default:
			t.Errorf("template %s: method %q", key, tmpl.Method)
		}
		if tmpl.Properties == nil {
			t.Errorf("template %s: no properties array", key)
		}
		for _, p := range tmpl.Properties {
			if name, _ := p["name"].(string); name == "" {
				t.Errorf("template %s: a property without a name", key)
			}
		}
	}
	if bytes.Count(body, []byte(`"_templates"`)) != 1 {
		t.Errorf("_templates below the top level: %s", body)
	}
}

// checkProblem checks an RFC 9457 body with the tutorial's members.
func checkProblem(t *testing.T, res response) {
	t.Helper()
	var p struct {
		Type    string `json:"type"`
		Title   string `json:"title"`
		Status  int    `json:"status"`
		Detail  string `json:"detail"`
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(res.body, &p); err != nil {
		t.Fatalf("problem body is not JSON: %v: %s", err, res.body)
	}
	if p.Status != res.code || p.Title != http.StatusText(res.code) || p.Error != p.Title || p.Message != p.Detail {
		t.Errorf("malformed problem for status %d: %s", res.code, res.body)
	}
	// The type is one that /api/problems documents, of this status.
	m := problemType.FindStringSubmatch(p.Type)
	if m == nil {
		t.Errorf("problem type %q is not /api/problems/<name>: %s", p.Type, res.body)
		return
	}
	docs, err := problemDocs()
	if err != nil {
		t.Fatal(err)
	}
	if status, ok := docs[m[1]]; !ok || status != res.code {
		t.Errorf("problem type %q of status %d: problems.json has it with status %d (%v)", p.Type, res.code, status, ok)
	}
}

// problemType matches the type of a problem, behind a proxy's prefix or
// not, and takes out its name.
var problemType = regexp.MustCompile(`^(?:/[A-Za-z0-9._~-]+)*/api/problems/([a-z-]+)$`)

// problemDocs is the status of each problem type problems.json documents,
// by name.
var problemDocs = sync.OnceValues(func() (map[string]int, error) {
	b, err := os.ReadFile("problems.json")
	if err != nil {
		return nil, err
	}
	var docs []struct {
		Name   string `json:"name"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal(b, &docs); err != nil {
		return nil, err
	}
	statuses := map[string]int{}
	for _, d := range docs {
		statuses[d.Name] = d.Status
	}
	return statuses, nil
})

// checkHAL checks the HAL rules of API.md section 2 on a document and
// everything embedded in it.
func checkHAL(t *testing.T, body []byte) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("HAL body is not a JSON object: %v: %s", err, body)
	}
	checkHALResource(t, "$", doc)
	// API.md section 2: the curie on every top-level document, and
	// _embedded on every user and every collection (embedded copies may
	// leave it out).
	links, _ := doc["_links"].(map[string]any)
	if _, ok := links["curies"].([]any); !ok {
		t.Errorf("a top-level document without curies: %s", body)
	}
	_, isUser := doc["username"]
	_, isCollection := doc["_meta"]
	if _, ok := doc["_embedded"].(map[string]any); (isUser || isCollection) && !ok {
		t.Errorf("a user or collection without _embedded: %s", body)
	}
}

// relShapes remembers, for the whole test binary, whether each rel was an
// array: a rel must never be an object in one document and an array in
// another.
var relShapes sync.Map

func checkHALResource(t *testing.T, where string, doc map[string]any) {
	t.Helper()
	links, ok := doc["_links"].(map[string]any)
	if !ok {
		t.Errorf("%s: no _links object", where)
		return
	}
	if _, ok := links["self"].(map[string]any); !ok {
		t.Errorf("%s: no _links.self object", where)
	}
	for rel, v := range links {
		checkShape(t, where, "_links."+rel, v)
		items := []any{v}
		if arr, ok := v.([]any); ok {
			items = arr
		}
		for _, item := range items {
			l, ok := item.(map[string]any)
			if !ok {
				t.Errorf("%s: link %s is %T, not an object", where, rel, item)
				continue
			}
			href, _ := l["href"].(string)
			if href == "" {
				t.Errorf("%s: link %s has no href", where, rel)
			}
			templated := l["templated"] == true
			if strings.Contains(href, "{") != templated {
				t.Errorf("%s: link %s href %q with templated=%v", where, rel, href, l["templated"])
			}
		}
	}
	if e, ok := doc["_embedded"]; ok {
		emb, ok := e.(map[string]any)
		if !ok {
			t.Errorf("%s: _embedded is %T, not an object", where, e)
			return
		}
		for rel, v := range emb {
			checkShape(t, where, "_embedded."+rel, v)
			items := []any{v}
			if arr, ok := v.([]any); ok {
				items = arr
			}
			for i, item := range items {
				r, ok := item.(map[string]any)
				if !ok {
					t.Errorf("%s: embedded %s[%d] is not an object", where, rel, i)
					continue
				}
				checkHALResource(t, fmt.Sprintf("%s._embedded.%s[%d]", where, rel, i), r)
			}
		}
	}
}

func checkShape(t *testing.T, where, rel string, v any) {
	t.Helper()
	if v == nil {
		t.Errorf("%s: %s is null", where, rel)
		return
	}
	_, isArray := v.([]any)
	if prev, loaded := relShapes.LoadOrStore(rel, isArray); loaded && prev.(bool) != isArray {
		t.Errorf("%s: %s is an array in one document and an object in another", where, rel)
	}
}

// golden compares body, indented, with testdata/name, or rewrites it with
// -update.
func golden(t *testing.T, name string, body []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(body), "", "  "); err != nil {
		t.Fatalf("golden %s: %v", name, err)
	}
	buf.WriteByte('\n')
	path := filepath.Join("..", "testdata", name)
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s: %v (run with -update to create it)", name, err)
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

// register creates a user and returns its id; the password is remembered
// as a secret no response may show.
func (s *testServer) register(t *testing.T, username, password string) int64 {
	t.Helper()
	body, _ := json.Marshal(map[string]string{
		"username": username, "email": username + "@example.com", "password": password,
	})
	s.mu.Lock()
	s.secrets = append(s.secrets, password)
	s.mu.Unlock()
	res := s.do(t, request{method: http.MethodPost, path: "/api/users", body: string(body)})
	if res.code != http.StatusCreated {
		t.Fatalf("register %s: %s", username, res)
	}
	return int64(res.json(t)["id"].(float64))
}

// login returns a new token for username.
func (s *testServer) login(t *testing.T, username, password string) string {
	t.Helper()
	res := s.do(t, request{method: http.MethodPost, path: "/api/tokens", header: map[string]string{
		"Authorization": basic(username, password),
	}})
	if res.code != http.StatusOK {
		t.Fatalf("login %s: %s", username, res)
	}
	return res.json(t)["token"].(string)
}

// user registers username with a password derived from it and logs in.
func (s *testServer) user(t *testing.T, username string) (int64, string) {
	t.Helper()
	id := s.register(t, username, "pw-of-"+username)
	return id, s.login(t, username, "pw-of-"+username)
}

// follow makes follower follow followed at the current clock time, with
// plain SQL: the API to follow comes with posts.
func (s *testServer) follow(t *testing.T, follower, followed int64) {
	t.Helper()
	_, err := s.pool.Exec(context.Background(),
		`INSERT INTO follows (follower_id, followed_id, created_at) VALUES ($1, $2, $3)`,
		follower, followed, s.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.settle(t)
}

func basic(username, password string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(username, password)
	return r.Header.Get("Authorization")
}
