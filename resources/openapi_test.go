package resources_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"github.com/pb33f/libopenapi/orderedmap"

	"microblog/resources"
)

// openAPIFile is the OpenAPI document, which the package embeds and
// serves.
const openAPIFile = "openapi.json"

// openAPI is openapi.json, loaded and checked against the OpenAPI 3.1
// schema once per test binary.
var openAPI = sync.OnceValues(loadDescription)

// openAPIDescription validates requests and responses against openapi.json.
type openAPIDescription struct {
	validator validator.Validator
	// bodiless checks responses without a body or a Content-Type: a 201
	// to Prefer: return=minimal has no media type to look up among those
	// its operation describes, only headers to check.
	bodiless validator.Validator
	model    *v3.Document
	// undocumented describes the answers to requests that no operation
	// describes: a path that is not there (404) and a method that the path
	// does not allow (405).
	undocumented *v3.PathItem
	// invented describes, as if it were a GET, the answer to a method
	// that OpenAPI has no operation for (501).
	invented *v3.PathItem
}

func loadDescription() (*openAPIDescription, error) {
	spec, err := os.ReadFile(openAPIFile)
	if err != nil {
		return nil, err
	}
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		return nil, err
	}
	// Formats (date-time, uri, int64) are assertions, not annotations, and
	// strict server matching tells /explorer from /explorer/.
	v, errs := validator.NewValidator(doc, config.WithFormatAssertions(), config.WithStrictServerMatching())
	if len(errs) > 0 {
		return nil, fmt.Errorf("openapi.json: %v", errs)
	}
	bodiless, errs := validator.NewValidator(doc, config.WithFormatAssertions(), config.WithStrictServerMatching(),
		config.WithoutResponseBodyValidation())
	if len(errs) > 0 {
		return nil, fmt.Errorf("openapi.json: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		return nil, fmt.Errorf("openapi.json is not a valid OpenAPI 3.1 document: %s", reason(verrs))
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		return nil, err
	}
	op, err := responsesOf(model.Model, map[string]string{"404": "UnknownPath", "405": "MethodNotAllowed"})
	if err != nil {
		return nil, err
	}
	invented, err := responsesOf(model.Model, map[string]string{"501": "NotImplemented"})
	if err != nil {
		return nil, err
	}
	return &openAPIDescription{validator: v, bodiless: bodiless, model: &model.Model, undocumented: &v3.PathItem{
		Get: op, Head: op, Post: op, Put: op, Patch: op, Delete: op, Options: op, Trace: op,
	}, invented: &v3.PathItem{Get: invented}}, nil
}

// responsesOf is an operation whose responses are components/responses
// by status.
func responsesOf(model v3.Document, names map[string]string) (*v3.Operation, error) {
	codes := orderedmap.New[string, *v3.Response]()
	for code, name := range names {
		r := model.Components.Responses.GetOrZero(name)
		if r == nil {
			return nil, fmt.Errorf("openapi.json: no components/responses/%s", name)
		}
		codes.Set(code, r)
	}
	return &v3.Operation{Responses: &v3.Responses{Codes: codes}}, nil
}

// openAPIMethods are the methods an OpenAPI path item has operations for.
var openAPIMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions, http.MethodTrace}

// refusals are the statuses with which the server turns down a request
// that the description does not allow: such a request is deliberately bad,
// and only its response must match.
var refusals = []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound,
	http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType}

// checkOpenAPI validates a request (whose body r must still hold) and the
// response it got against openapi.json, and fails the test at the first
// mismatch.
func checkOpenAPI(t *testing.T, r *http.Request, code int, header http.Header, body []byte) {
	t.Helper()
	d, err := openAPI()
	if err != nil {
		t.Errorf("%s %s: %v", r.Method, r.URL, err)
		return
	}
	res := &http.Response{StatusCode: code, Header: header, Body: http.NoBody, Request: r}
	if len(body) > 0 {
		res.Body = io.NopCloser(bytes.NewReader(body))
	}
	if !slices.Contains(openAPIMethods, r.Method) {
		get := r.Clone(r.Context())
		get.Method = http.MethodGet
		if ok, errs := d.validator.GetResponseBodyValidator().ValidateResponseBodyWithPathItem(get, res, d.invented, r.URL.Path); !ok {
			t.Errorf("%s %s: the %d response is not the 501 described for a method OpenAPI cannot name: %s",
				r.Method, r.URL, code, reason(errs))
		}
		return
	}
	ok, errs := d.validator.ValidateHttpRequestSync(r)
	switch {
	case ok:
	case undocumented(errs):
		if ok, errs := d.validator.GetResponseBodyValidator().ValidateResponseBodyWithPathItem(r, res, d.undocumented, r.URL.Path); !ok {
			t.Errorf("%s %s: no operation describes the request, and its %d response is not the 404 or 405 described for that: %s",
				r.Method, r.URL, code, reason(errs))
		}
		return
	case slices.Contains(refusals, code):
	default:
		t.Errorf("%s %s: the request does not match openapi.json, yet the server answered %d: %s", r.Method, r.URL, code, reason(errs))
		return
	}
	v := d.validator
	if len(body) == 0 && header.Get("Content-Type") == "" {
		v = d.bodiless
	}
	if ok, errs := v.ValidateHttpResponse(r, res); !ok {
		t.Errorf("%s %s: the %d response does not match openapi.json: %s", r.Method, r.URL, code, reason(errs))
	}
}

// withBody returns r with body to read again, the router having read it.
func withBody(r *http.Request, body string) *http.Request {
	r.Body = io.NopCloser(strings.NewReader(body))
	return r
}

// undocumented reports whether errs say that no operation has the
// request's path and method.
func undocumented(errs []*errors.ValidationError) bool {
	return len(errs) > 0 && (errs[0].ValidationType == helpers.PathValidation ||
		errs[0].ValidationSubType == helpers.ValidationMissingOperation)
}

// reason says what the first validation error is about.
func reason(errs []*errors.ValidationError) string {
	if len(errs) == 0 {
		return "no reason given"
	}
	e := errs[0]
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", e.Message, e.Reason)
	for _, f := range e.SchemaValidationErrors {
		fmt.Fprintf(&b, "; %s", f.Reason)
		if f.FieldPath != "" {
			fmt.Fprintf(&b, " at %s", f.FieldPath)
		}
		if f.KeywordLocation != "" {
			fmt.Fprintf(&b, " (schema %s)", f.KeywordLocation)
		}
	}
	if len(errs) > 1 {
		fmt.Fprintf(&b, " (and %d more)", len(errs)-1)
	}
	return b.String()
}

// fetch sends a request without a body to h and checks it and its response
// against openapi.json only: unlike testServer.do, it does not ask for a
// HAL or problem body, so that it can fetch the OpenAPI document.
func fetch(t *testing.T, h http.Handler, method, path string, header map[string]string) response {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	res := response{code: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	checkOpenAPI(t, r, res.code, res.header, res.body)
	return res
}

// documentedMethods returns the methods openapi.json has for each path.
func documentedMethods(t *testing.T) map[string][]string {
	t.Helper()
	d, err := openAPI()
	if err != nil {
		t.Fatal(err)
	}
	methods := map[string][]string{}
	for path, item := range d.model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().FromOldest() {
			methods[path] = append(methods[path], strings.ToUpper(method))
		}
		slices.Sort(methods[path])
	}
	return methods
}

var ginParam = regexp.MustCompile(`:([A-Za-z_]+)`)

// TestOpenAPICoversEveryRoute checks that openapi.json describes every
// route of the router and nothing else, and that OPTIONS on each path
// allows what the document says.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	engine, ok := srv.handler.(*gin.Engine)
	if !ok {
		t.Fatalf("the handler is a %T, not a *gin.Engine", srv.handler)
	}
	served := map[string][]string{}
	for _, r := range engine.Routes() {
		path := ginParam.ReplaceAllString(r.Path, "{$1}")
		served[path] = append(served[path], r.Method)
	}
	for _, methods := range served {
		slices.Sort(methods)
	}
	documented := documentedMethods(t)
	if diff := cmp.Diff(served, documented); diff != "" {
		t.Errorf("routes (-served +documented):\n%s", diff)
	}
	for path, methods := range documented {
		concrete := strings.NewReplacer("{id}", "1", "{target}", "2", "{user}", "1", "{rel}", "users", "{name}", "validation").Replace(path)
		res := srv.do(t, request{method: http.MethodOptions, path: concrete})
		if got, want := res.header.Get("Allow"), strings.Join(methods, ", "); res.code != http.StatusNoContent || got != want {
			t.Errorf("OPTIONS %s: %d with Allow %q, want 204 with %q", concrete, res.code, got, want)
		}
	}
}

// TestOpenAPIExamples checks every example in openapi.json against its
// schema.
func TestOpenAPIExamples(t *testing.T) {
	t.Parallel()
	d, err := openAPI()
	if err != nil {
		t.Fatal(err)
	}
	schemas := schema_validation.NewSchemaValidator(config.WithFormatAssertions())
	check := func(where string, content *orderedmap.Map[string, *v3.MediaType]) {
		for mt, m := range content.FromOldest() {
			if m.Example == nil {
				continue
			}
			var example any
			if err := m.Example.Decode(&example); err != nil {
				t.Errorf("%s %s: example: %v", where, mt, err)
				continue
			}
			if ok, errs := schemas.ValidateSchemaObjectWithVersion(m.Schema.Schema(), example, 3.1); !ok {
				t.Errorf("%s %s: the example does not match its schema: %s", where, mt, reason(errs))
			}
		}
	}
	n := 0
	for name, r := range d.model.Components.Responses.FromOldest() {
		check("components/responses/"+name, r.Content)
		n += exampleCount(r.Content)
	}
	for name, b := range d.model.Components.RequestBodies.FromOldest() {
		check("components/requestBodies/"+name, b.Content)
		n += exampleCount(b.Content)
	}
	if n < 20 {
		t.Errorf("openapi.json has only %d examples: the main representations should each have one", n)
	}
}

func exampleCount(content *orderedmap.Map[string, *v3.MediaType]) int {
	n := 0
	for _, m := range content.FromOldest() {
		if m.Example != nil {
			n++
		}
	}
	return n
}

// TestDescriptionDocuments checks that the OpenAPI document and the
// documentation page are served, with HEAD as GET, and public caching.
func TestDescriptionDocuments(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	spec, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, contentType string }{
		{"/api/openapi.json", "application/openapi+json"},
		{"/api/docs", "text/html; charset=utf-8"},
	} {
		res := fetch(t, srv.handler, http.MethodGet, tt.path, nil)
		if res.code != http.StatusOK || res.header.Get("Content-Type") != tt.contentType ||
			res.header.Get("Cache-Control") != "public, max-age=300" {
			t.Errorf("GET %s: %d, Content-Type %q, Cache-Control %q; want 200, %s, public, max-age=300",
				tt.path, res.code, res.header.Get("Content-Type"), res.header.Get("Cache-Control"), tt.contentType)
		}
		if head := fetch(t, srv.handler, http.MethodHead, tt.path, nil); head.code != http.StatusOK ||
			head.header.Get("Content-Length") != res.header.Get("Content-Length") {
			t.Errorf("HEAD %s: %d, Content-Length %s (GET: %s)", tt.path, head.code, head.header.Get("Content-Length"), res.header.Get("Content-Length"))
		}
		if tt.path == "/api/openapi.json" && !bytes.Equal(res.body, spec) {
			t.Errorf("GET %s is not %s", tt.path, openAPIFile)
		}
	}
}

// TestDocsPageRels checks that the documentation page has a section for
// each rel the OpenAPI document names, and that the page and every rel's
// page link to each other.
func TestDocsPageRels(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	rels := documentedRels(t)
	page := string(srv.do(t, request{method: http.MethodGet, path: "/api/docs"}).body)
	var anchors []string
	for _, m := range regexp.MustCompile(`<section id="rel-([a-z-]+)">`).FindAllStringSubmatch(page, -1) {
		anchors = append(anchors, m[1])
	}
	slices.Sort(anchors)
	if diff := cmp.Diff(rels, anchors); diff != "" {
		t.Errorf("rel sections of /api/docs (-openapi.json +page):\n%s", diff)
	}
	for _, rel := range rels {
		if !strings.Contains(page, "<h3>mb:"+rel+": ") {
			t.Errorf("/api/docs: section rel-%s has no mb:%s heading", rel, rel)
		}
		res := srv.do(t, request{method: http.MethodGet, path: "/api/rels/" + rel, header: map[string]string{"Accept": "text/html"}})
		if link := `href="/api/docs#rel-` + rel + `"`; res.code != http.StatusOK || !strings.Contains(string(res.body), link) {
			t.Errorf("GET /api/rels/%s: %d, want 200 with a link %s: %s", rel, res.code, link, res.body)
		}
	}
}

// documentedRels are the rels the OpenAPI document names, sorted.
func documentedRels(t *testing.T) []string {
	t.Helper()
	var doc struct {
		Components struct {
			Parameters map[string]struct {
				Schema struct {
					Enum []string `json:"enum"`
				} `json:"schema"`
			} `json:"parameters"`
		} `json:"components"`
	}
	decodeOpenAPI(t, &doc)
	return doc.Components.Parameters["Rel"].Schema.Enum
}

// decodeOpenAPI decodes openapi.json into v.
func decodeOpenAPI(t *testing.T, v any) {
	t.Helper()
	spec, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(spec, v); err != nil {
		t.Fatal(err)
	}
}

// TestDocsPageContent checks that the documentation page is Markdown
// rendered, none of it left raw, that it names every path the API serves,
// and that its templates come from the handlers, settings included.
func TestDocsPageContent(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	page := string(srv.do(t, request{method: http.MethodGet, path: "/api/docs"}).body)
	if strings.Contains(page, "`") || strings.Contains(page, "**") {
		t.Error("/api/docs shows raw Markdown")
	}
	for path := range documentedMethods(t) {
		if !strings.Contains(page, path) {
			t.Errorf("/api/docs does not mention %s", path)
		}
	}
	for _, want := range []string{`<code>old_password</code>`, `8 to 256`, `<code>follow</code>: Follow bob`, `<code>delete</code>: Delete this post`} {
		if !strings.Contains(page, want) {
			t.Errorf("/api/docs does not show %s", want)
		}
	}
}

// TestOpenAPIBehindProxy: behind a trusted proxy the document's server is
// the proxy's prefix.
func TestOpenAPIBehindProxy(t *testing.T) {
	t.Parallel()
	proxied := newTestServer(t, func(c *resources.Config) { c.TrustForwardedPrefix = true })
	res := fetch(t, proxied.handler, http.MethodGet, "/api/openapi.json", map[string]string{"X-Forwarded-Prefix": "/mb"})
	var served struct {
		Servers []struct {
			URL string `json:"url"`
		} `json:"servers"`
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal(res.body, &served); err != nil || len(served.Servers) != 1 || served.Servers[0].URL != "/mb" || served.OpenAPI != "3.1.0" {
		t.Errorf("GET /api/openapi.json behind /mb: servers %+v, openapi %q, error %v", served.Servers, served.OpenAPI, err)
	}
}

// TestOpenAPIStaticResources sends the explorer's files the conditional
// and range requests http.ServeContent answers, so that what openapi.json
// says of them is checked too: the HAL tests never ask for them.
func TestOpenAPIStaticResources(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	for _, path := range []string{"/explorer/", "/explorer/explorer.js", "/explorer/explorer.css"} {
		full := fetch(t, srv.handler, http.MethodGet, path, nil)
		tag := full.header.Get("ETag")
		for _, tt := range []struct {
			method string
			header map[string]string
			want   int
		}{
			{http.MethodHead, nil, http.StatusOK},
			{http.MethodGet, map[string]string{"If-None-Match": tag}, http.StatusNotModified},
			{http.MethodGet, map[string]string{"Range": "bytes=0-9"}, http.StatusPartialContent},
			{http.MethodGet, map[string]string{"Range": "bytes=0-1,4-5"}, http.StatusPartialContent},
			{http.MethodGet, map[string]string{"Range": "bytes=99999999-"}, http.StatusRequestedRangeNotSatisfiable},
			{http.MethodGet, map[string]string{"If-Match": `"other"`}, http.StatusPreconditionFailed},
		} {
			if res := fetch(t, srv.handler, tt.method, path, tt.header); res.code != tt.want {
				t.Errorf("%s %s %v: %d, want %d", tt.method, path, tt.header, res.code, tt.want)
			}
		}
	}
	for _, tt := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/explorer", http.StatusMovedPermanently},
		{http.MethodHead, "/explorer", http.StatusMovedPermanently},
		{http.MethodHead, "/", http.StatusFound},
	} {
		if res := fetch(t, srv.handler, tt.method, tt.path, nil); res.code != tt.want {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, res.code, tt.want)
		}
	}
}
