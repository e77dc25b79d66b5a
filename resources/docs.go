package resources

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"microblog/hal"
	"microblog/persistence"
)

// openAPIDocument is the OpenAPI 3.1 description of every route the
// handler serves. The test suite validates every request and response it
// makes against it.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPIMediaType is the media type of an OpenAPI document.
const openAPIMediaType = "application/openapi+json"

// getDocs serves GET /api/docs, the documentation page made by docsPage.
func (h *handler) getDocs(c *gin.Context) {
	c.Header("Cache-Control", cachePublic)
	writeBody(c, http.StatusOK, "text/html; charset=utf-8", h.docs)
}

// getOpenAPI serves GET /api/openapi.json. Behind a trusted proxy the
// document names the proxy's prefix as its server, so that its paths
// resolve where the client found it.
func (h *handler) getOpenAPI(c *gin.Context) {
	body := openAPIDocument
	if base := h.base(c); base != "" {
		// base is a plain path (see forwardedPrefix): it needs no escaping.
		server := `{"servers":[{"url":"` + base + `"}],`
		body = append([]byte(server), bytes.TrimPrefix(bytes.TrimSpace(openAPIDocument), []byte("{"))...)
	}
	c.Header("Cache-Control", cachePublic)
	writeBody(c, http.StatusOK, openAPIMediaType, body)
}

// The parts of an OpenAPI document that the documentation page shows.
type (
	oaDocument struct {
		Info struct {
			Title       string `json:"title"`
			Version     string `json:"version"`
			Description string `json:"description"`
		} `json:"info"`
		Paths      map[string]oaPathItem `json:"paths"`
		Components struct {
			Schemas       map[string]json.RawMessage `json:"schemas"`
			Responses     map[string]oaResponse      `json:"responses"`
			Parameters    map[string]oaParameter     `json:"parameters"`
			RequestBodies map[string]oaRequestBody   `json:"requestBodies"`
			Headers       map[string]oaHeader        `json:"headers"`
		} `json:"components"`
	}
	oaPathItem struct {
		Parameters []oaParameter `json:"parameters"`
		Get        *oaOperation  `json:"get"`
		Head       *oaOperation  `json:"head"`
		Post       *oaOperation  `json:"post"`
		Put        *oaOperation  `json:"put"`
		Patch      *oaOperation  `json:"patch"`
		Delete     *oaOperation  `json:"delete"`
		Options    *oaOperation  `json:"options"`
	}
	oaOperation struct {
		OperationID string                `json:"operationId"`
		Summary     string                `json:"summary"`
		Description string                `json:"description"`
		Security    []map[string][]string `json:"security"`
		Parameters  []oaParameter         `json:"parameters"`
		RequestBody *oaRequestBody        `json:"requestBody"`
		Responses   map[string]oaResponse `json:"responses"`
	}
	oaParameter struct {
		Ref         string          `json:"$ref"`
		Name        string          `json:"name"`
		In          string          `json:"in"`
		Description string          `json:"description"`
		Required    bool            `json:"required"`
		Schema      json.RawMessage `json:"schema"`
	}
	oaRequestBody struct {
		Ref         string             `json:"$ref"`
		Description string             `json:"description"`
		Content     map[string]oaMedia `json:"content"`
	}
	oaResponse struct {
		Ref         string              `json:"$ref"`
		Description string              `json:"description"`
		Headers     map[string]oaHeader `json:"headers"`
		Content     map[string]oaMedia  `json:"content"`
	}
	oaHeader struct {
		Ref      string `json:"$ref"`
		Required bool   `json:"required"`
	}
	oaMedia struct {
		Schema  json.RawMessage `json:"schema"`
		Example json.RawMessage `json:"example"`
	}
)

const componentsPrefix = "#/components/"

// component returns the component a "$ref" names, or ok false.
func component[T any](set map[string]T, kind, ref string) (T, bool) {
	name, found := strings.CutPrefix(ref, componentsPrefix+kind+"/")
	v, ok := set[name]
	return v, found && ok
}

func (d *oaDocument) parameter(p oaParameter) (oaParameter, error) {
	if p.Ref == "" {
		return p, nil
	}
	if v, ok := component(d.Components.Parameters, "parameters", p.Ref); ok {
		return v, nil
	}
	return p, fmt.Errorf("no parameter %s", p.Ref)
}

func (d *oaDocument) response(r oaResponse) (oaResponse, error) {
	if r.Ref == "" {
		return r, nil
	}
	if v, ok := component(d.Components.Responses, "responses", r.Ref); ok {
		return v, nil
	}
	return r, fmt.Errorf("no response %s", r.Ref)
}

func (d *oaDocument) requestBody(b oaRequestBody) (oaRequestBody, error) {
	if b.Ref == "" {
		return b, nil
	}
	if v, ok := component(d.Components.RequestBodies, "requestBodies", b.Ref); ok {
		return v, nil
	}
	return b, fmt.Errorf("no request body %s", b.Ref)
}

func (d *oaDocument) header(h oaHeader) (oaHeader, error) {
	if h.Ref == "" {
		return h, nil
	}
	if v, ok := component(d.Components.Headers, "headers", h.Ref); ok {
		return v, nil
	}
	return h, fmt.Errorf("no header %s", h.Ref)
}

// What the documentation page shows.
type (
	docsPage struct {
		Title, Version string
		Description    []string
		Rels           []relSection
		Resources      []resourceSection
		Schemas        []schemaSection
	}
	relSection struct {
		relDoc
		Operations []operationRef
	}
	operationRef    struct{ Method, ID, Path string }
	resourceSection struct {
		Path       string
		Anchor     string
		Links      []string
		Embedded   []string
		Operations []docsOperation
		Templates  []templateCase
	}
	docsOperation struct {
		Method, ID, Summary, Description string
		Security                         []string
		Parameters                       []docsParameter
		Body                             *docsBody
		Responses                        []docsResponse
	}
	docsParameter struct {
		Name, In, Description string
		Schema                docsSchema
		Required              bool
	}
	docsBody struct {
		Description string
		Media       []docsMedia
	}
	docsResponse struct {
		Status, Description string
		Headers             []docsHeader
		Media               []docsMedia
	}
	docsHeader struct {
		Name     string
		Required bool
	}
	docsMedia struct {
		Type, Example string
		Schema        docsSchema
	}
	// docsSchema is a schema as the page names it: the component it is or
	// refines, and what it adds, in one line.
	docsSchema    struct{ Name, More string }
	schemaSection struct{ Name, JSON string }
	// templateCase is the HAL-FORMS templates a resource has in one case,
	// such as "the caller's own user".
	templateCase struct {
		When      string
		Templates []namedTemplate
	}
	namedTemplate struct {
		Key string
		hal.Template
	}
)

// methods are the operations of a path item in the order the page lists
// them.
func (p oaPathItem) methods() []struct {
	name string
	op   *oaOperation
} {
	return []struct {
		name string
		op   *oaOperation
	}{{"GET", p.Get}, {"HEAD", p.Head}, {"POST", p.Post}, {"PUT", p.Put}, {"PATCH", p.Patch}, {"DELETE", p.Delete}, {"OPTIONS", p.Options}}
}

// docsPage renders the documentation page.
func (h *handler) docsPage() ([]byte, error) {
	var doc oaDocument
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	p := docsPage{Title: doc.Info.Title, Version: doc.Info.Version, Description: strings.Split(doc.Info.Description, "\n\n")}
	templates, err := h.templateCases()
	if err != nil {
		return nil, err
	}
	paths := make([]string, 0, len(doc.Paths))
	for path := range doc.Paths {
		paths = append(paths, path)
	}
	slices.Sort(paths)
	for _, path := range paths {
		rs, err := doc.resource(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		rs.Templates = templates[path]
		p.Resources = append(p.Resources, rs)
	}
	for _, rd := range relDocs() {
		sec := relSection{relDoc: rd}
		for _, rs := range p.Resources {
			if pathShape(rs.Path) != pathShape(rd.Href) {
				continue
			}
			for _, o := range rs.Operations {
				if slices.Contains(rd.Methods, o.Method) {
					sec.Operations = append(sec.Operations, operationRef{Method: o.Method, ID: o.ID, Path: rs.Path})
				}
			}
		}
		p.Rels = append(p.Rels, sec)
	}
	names := make([]string, 0, len(doc.Components.Schemas))
	for name := range doc.Components.Schemas {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p.Schemas = append(p.Schemas, schemaSection{Name: name, JSON: indent(doc.Components.Schemas[name])})
	}
	var buf bytes.Buffer
	if err := docsTemplate.Execute(&buf, p); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var templateVar = regexp.MustCompile(`\{\?[^}]*\}|\{[^}]*\}`)

// pathShape is a path or URI template with its variables blanked out and
// its query template dropped, so that /api/users/{me}/following/{id} and
// /api/users/{id}/following/{target} have one shape.
func pathShape(p string) string {
	return templateVar.ReplaceAllStringFunc(p, func(v string) string {
		if strings.HasPrefix(v, "{?") {
			return ""
		}
		return "{}"
	})
}

// anchorReplacer makes a path an HTML id: /api/users/{id} is
// path-api-users-id.
var anchorReplacer = strings.NewReplacer("/", "-", "{", "", "}", "")

// resource describes the path's operations, and its links and embedded
// rels as the example of its GET shows them.
func (d *oaDocument) resource(path string) (resourceSection, error) {
	item := d.Paths[path]
	rs := resourceSection{Path: path, Anchor: "path" + anchorReplacer.Replace(path)}
	for _, m := range item.methods() {
		if m.op == nil {
			continue
		}
		o, err := d.operation(m.name, item.Parameters, m.op)
		if err != nil {
			return rs, fmt.Errorf("%s: %w", m.name, err)
		}
		rs.Operations = append(rs.Operations, o)
	}
	if item.Get == nil {
		return rs, nil
	}
	ok, err := d.response(item.Get.Responses["200"])
	if err != nil {
		return rs, err
	}
	// Each example shows one case (the caller's own user, someone else's):
	// together they show every rel.
	for _, m := range ok.Content {
		var example struct {
			Links    map[string]json.RawMessage `json:"_links"`
			Embedded map[string]json.RawMessage `json:"_embedded"`
		}
		if len(m.Example) == 0 || json.Unmarshal(m.Example, &example) != nil {
			continue // not a HAL example
		}
		for rel := range example.Links {
			rs.Links = append(rs.Links, rel)
		}
		for rel := range example.Embedded {
			rs.Embedded = append(rs.Embedded, rel)
		}
	}
	slices.Sort(rs.Links)
	slices.Sort(rs.Embedded)
	rs.Links, rs.Embedded = slices.Compact(rs.Links), slices.Compact(rs.Embedded)
	return rs, nil
}

func (d *oaDocument) operation(method string, shared []oaParameter, op *oaOperation) (docsOperation, error) {
	o := docsOperation{Method: method, ID: op.OperationID, Summary: op.Summary, Description: op.Description}
	for _, req := range op.Security {
		for scheme := range req {
			o.Security = append(o.Security, scheme)
		}
	}
	slices.Sort(o.Security)
	for _, ref := range append(slices.Clone(shared), op.Parameters...) {
		p, err := d.parameter(ref)
		if err != nil {
			return o, err
		}
		o.Parameters = append(o.Parameters, docsParameter{Name: p.Name, In: p.In, Description: p.Description,
			Schema: schemaOf(p.Schema), Required: p.Required})
	}
	if op.RequestBody != nil {
		b, err := d.requestBody(*op.RequestBody)
		if err != nil {
			return o, err
		}
		o.Body = &docsBody{Description: b.Description, Media: media(b.Content)}
	}
	codes := make([]string, 0, len(op.Responses))
	for code := range op.Responses {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	for _, code := range codes {
		r, err := d.response(op.Responses[code])
		if err != nil {
			return o, err
		}
		dr := docsResponse{Status: code + " " + http.StatusText(statusCode(code)), Description: r.Description, Media: media(r.Content)}
		for name, ref := range r.Headers {
			hd, err := d.header(ref)
			if err != nil {
				return o, err
			}
			dr.Headers = append(dr.Headers, docsHeader{Name: name, Required: hd.Required})
		}
		slices.SortFunc(dr.Headers, func(a, b docsHeader) int { return strings.Compare(a.Name, b.Name) })
		o.Responses = append(o.Responses, dr)
	}
	return o, nil
}

func statusCode(code string) int {
	var n int
	_, _ = fmt.Sscan(code, &n) // the codes of a valid document are numbers
	return n
}

func media(content map[string]oaMedia) []docsMedia {
	var ms []docsMedia
	for mt, m := range content {
		ms = append(ms, docsMedia{Type: mt, Schema: schemaOf(m.Schema), Example: indent(m.Example)})
	}
	slices.SortFunc(ms, func(a, b docsMedia) int { return strings.Compare(a.Type, b.Type) })
	return ms
}

// schemaOf names a schema: the component it refers to, or refines with
// allOf, and the rest of it in one line.
func schemaOf(raw json.RawMessage) docsSchema {
	if len(raw) == 0 {
		return docsSchema{}
	}
	var s map[string]json.RawMessage
	if err := json.Unmarshal(raw, &s); err != nil {
		return docsSchema{More: string(raw)}
	}
	name := func(ref json.RawMessage) string {
		var r string
		_ = json.Unmarshal(ref, &r) // not a string: no name
		return strings.TrimPrefix(r, componentsPrefix+"schemas/")
	}
	var ds docsSchema
	if ref, ok := s["$ref"]; ok {
		ds.Name = name(ref)
		delete(s, "$ref")
	} else if all, ok := s["allOf"]; ok {
		var refs []map[string]json.RawMessage
		if json.Unmarshal(all, &refs) == nil && len(refs) == 1 && len(refs[0]) == 1 && refs[0]["$ref"] != nil {
			ds.Name = name(refs[0]["$ref"])
			delete(s, "allOf")
		}
	}
	if len(s) > 0 {
		b, _ := json.Marshal(s) // raw members of a decoded object always marshal
		ds.More = string(b)
	}
	return ds
}

func indent(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}

// templateCases returns, by path, the HAL-FORMS templates of each resource
// in each case, made by the handlers' own constructors for sample users
// and a sample post, so that the page shows the forms the server sends,
// with the server's settings.
func (h *handler) templateCases() (map[string][]templateCase, error) {
	seen := time.Date(2026, 11, 27, 18, 15, 47, 0, time.UTC)
	susan := persistence.User{ID: 1, Username: "susan", Email: "susan@example.com",
		AboutMe: "Hello, my name is Susan!", LastSeen: &seen}
	bob := persistence.User{ID: 2, Username: "bob", Email: "bob@example.com", LastSeen: &seen}
	followed := bob
	followed.IsFollowing = true
	post := persistence.Post{ID: 1, Body: "Hello, world!", CreatedAt: seen,
		Author: persistence.Author{ID: susan.ID, Username: susan.Username, Email: susan.Email}}
	registration := hal.New(nil).AddTemplate("default", h.registration())
	newPost := hal.New(nil).AddTemplate("default", h.newPost())

	cases := []struct {
		path, when string
		res        *hal.Resource
	}{
		{"/api", "always", registration},
		{"/api/users", "always", registration},
		{"/api/users/{id}", "the caller's own user", h.fullUser(persistence.Profile{Caller: susan, User: susan})},
		{"/api/users/{id}", "a user the caller does not follow", h.fullUser(persistence.Profile{Caller: susan, User: bob})},
		{"/api/users/{id}", "a user the caller follows", h.fullUser(persistence.Profile{Caller: susan, User: followed})},
		{"/api/me", "always", h.fullUser(persistence.Profile{Caller: susan, User: susan})},
		{"/api/posts", "always", newPost},
		{"/api/feed", "always", newPost},
		{"/api/users/{id}/posts", "the caller's own posts", newPost},
		{"/api/posts/{id}", "the caller's own post", h.fullPost(post, susan.ID)},
	}
	byPath := map[string][]templateCase{}
	for _, tc := range cases {
		ts, err := formsTemplates(tc.res)
		if err != nil {
			return nil, fmt.Errorf("templates of %s: %w", tc.path, err)
		}
		byPath[tc.path] = append(byPath[tc.path], templateCase{When: tc.when, Templates: ts})
	}
	return byPath, nil
}

// formsTemplates returns the templates of res as its HAL-FORMS document
// has them, "default" first.
func formsTemplates(res *hal.Resource) ([]namedTemplate, error) {
	b, err := res.AppendForms(nil, "")
	if err != nil {
		return nil, err
	}
	var doc struct {
		Templates map[string]hal.Template `json:"_templates"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	var ts []namedTemplate
	for key, t := range doc.Templates {
		ts = append(ts, namedTemplate{Key: key, Template: t})
	}
	slices.SortFunc(ts, func(a, b namedTemplate) int {
		if (a.Key == "default") != (b.Key == "default") {
			if a.Key == "default" {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Key, b.Key)
	})
	return ts, nil
}

// docsTemplate is the documentation page. Its links are relative, so that
// they work behind a proxy's path prefix too.
var docsTemplate = template.Must(template.New("docs").Funcs(template.FuncMap{
	"rel": func(rel string) string {
		if name, ok := strings.CutPrefix(rel, curieName+":"); ok {
			return name
		}
		return ""
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; max-width: 70rem; margin: 0 auto; padding: 0 1rem 4rem; }
code, pre { font: 13px/1.4 ui-monospace, monospace; }
pre { background: #f4f4f4; padding: .5rem; overflow-x: auto; max-height: 30rem; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border: 1px solid #ccc; padding: .2rem .5rem; text-align: left; vertical-align: top; }
section { border-top: 1px solid #ddd; margin-top: 1.5rem; }
.method { font-weight: bold; }
</style></head>
<body>
<h1>{{.Title}} {{.Version}}</h1>
<p>The machine-readable form of this page is <a href="openapi.json">the OpenAPI document</a>; the API starts at
<a href="../api">/api</a>.</p>
{{range .Description}}<p>{{.}}</p>
{{end}}
<nav><h2>Contents</h2><ul>
<li><a href="#rels">Link relations</a></li>
<li><a href="#resources">Resources</a><ul>{{range .Resources}}<li><a href="#{{.Anchor}}"><code>{{.Path}}</code></a></li>{{end}}</ul></li>
<li><a href="#schemas">Schemas</a></li>
</ul></nav>

<h2 id="rels">Link relations</h2>
<p>The API's own rels use the curie <code>mb</code>: <code>mb:users</code> is documented at <code>/api/rels/users</code>.</p>
{{range .Rels}}<section id="rel-{{.Rel}}">
<h3>mb:{{.Rel}}: {{.Title}}</h3>
<p>{{.Description}}</p>
<p>Target: <code>{{.Href}}</code>. Methods: {{range $i, $m := .Methods}}{{if $i}}, {{end}}{{$m}}{{end}}.
<a href="rels/{{.Rel}}">/api/rels/{{.Rel}}</a></p>
{{with .Operations}}<ul>{{range .}}<li><a href="#op-{{.ID}}"><span class="method">{{.Method}}</span> <code>{{.Path}}</code></a></li>{{end}}</ul>{{end}}
</section>
{{end}}

<h2 id="resources">Resources</h2>
{{range .Resources}}<section id="{{.Anchor}}">
<h3><code>{{.Path}}</code></h3>
{{with .Links}}<p>Links: {{range $i, $l := .}}{{if $i}}, {{end}}{{with rel $l}}<a href="#rel-{{.}}"><code>{{$l}}</code></a>{{else}}<code>{{$l}}</code>{{end}}{{end}}</p>{{end}}
{{with .Embedded}}<p>Embedded: {{range $i, $l := .}}{{if $i}}, {{end}}{{with rel $l}}<a href="#rel-{{.}}"><code>{{$l}}</code></a>{{else}}<code>{{$l}}</code>{{end}}{{end}}</p>{{end}}
{{with .Templates}}<h4>HAL-FORMS templates</h4>
{{range .}}<p>When it is {{.When}}:</p>
{{range .Templates}}<table>
<tr><th colspan="7"><code>{{.Key}}</code>: {{.Title}}, <span class="method">{{.Method}}</span> <code>{{.Target}}</code>{{with .ContentType}} as <code>{{.}}</code>{{end}}</th></tr>
{{with .Properties}}<tr><th>property</th><th>type</th><th>required</th><th>length</th><th>regex</th><th>prompt</th><th>value</th></tr>
{{range .}}<tr><td><code>{{.Name}}</code></td><td>{{.Type}}</td><td>{{if .Required}}yes{{end}}</td>
<td>{{if or .MinLength .MaxLength}}{{.MinLength}} to {{.MaxLength}}{{end}}</td><td>{{with .Regex}}<code>{{.}}</code>{{end}}</td>
<td>{{.Prompt}}</td><td>{{.Value}}</td></tr>
{{end}}{{else}}<tr><td colspan="7">No properties: the request has no body.</td></tr>{{end}}
</table>
{{end}}{{end}}{{end}}
{{range .Operations}}<div id="op-{{.ID}}">
<h4><span class="method">{{.Method}}</span> {{.Summary}} <small>({{.ID}})</small></h4>
{{with .Description}}<p>{{.}}</p>{{end}}
{{if or (eq .Method "HEAD") (eq .Method "OPTIONS")}}<p>Statuses: {{range $i, $r := .Responses}}{{if $i}}, {{end}}{{$r.Status}}{{end}}.</p>
{{else}}
<p>Authentication: {{range $i, $s := .Security}}{{if $i}} or {{end}}{{$s}}{{else}}none{{end}}.</p>
{{with .Parameters}}<table><tr><th>parameter</th><th>in</th><th>schema</th><th>required</th><th>description</th></tr>
{{range .}}<tr><td><code>{{.Name}}</code></td><td>{{.In}}</td><td>{{template "schema" .Schema}}</td><td>{{if .Required}}yes{{end}}</td><td>{{.Description}}</td></tr>
{{end}}</table>{{end}}
{{with .Body}}<p>Request body: {{.Description}}</p>
{{range .Media}}<p><code>{{.Type}}</code>: {{template "schema" .Schema}}</p>{{with .Example}}<pre>{{.}}</pre>{{end}}
{{end}}{{end}}
<table><tr><th>status</th><th>description</th><th>media types</th><th>headers (? when optional)</th></tr>
{{range .Responses}}<tr><td>{{.Status}}</td><td>{{.Description}}</td>
<td>{{range .Media}}<code>{{.Type}}</code>: {{template "schema" .Schema}}<br>{{end}}</td>
<td>{{range $i, $h := .Headers}}{{if $i}}, {{end}}{{$h.Name}}{{if not $h.Required}}?{{end}}{{end}}</td></tr>
{{end}}</table>
{{range .Responses}}{{$status := .Status}}{{if lt $status "300"}}{{range .Media}}{{$type := .Type}}{{with .Example}}<p>Example, {{$status}} as <code>{{$type}}</code>:</p><pre>{{.}}</pre>{{end}}{{end}}{{end}}{{end}}
{{end}}</div>
{{end}}
</section>
{{end}}

<h2 id="schemas">Schemas</h2>
{{range .Schemas}}<section id="schema-{{.Name}}"><h3>{{.Name}}</h3><pre>{{.JSON}}</pre></section>
{{end}}
</body></html>
{{define "schema"}}{{with .Name}}<a href="#schema-{{.}}">{{.}}</a>{{end}}{{with .More}} <code>{{.}}</code>{{end}}{{end}}`))
