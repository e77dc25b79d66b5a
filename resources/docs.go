package resources

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"text/template"

	"github.com/gin-gonic/gin"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer/html"

	"microblog/hal"
	"microblog/persistence"
)

// openAPIDocument is the OpenAPI 3.1 description of every route the
// handler serves. The test suite validates every request and response it
// makes against it.
//
//go:embed openapi.json
var openAPIDocument []byte

// docsMarkdown is the documentation page: Markdown, and a text/template
// that fills in the rels of relDocs and the HAL-FORMS templates. Its links
// are relative, so that they work behind a proxy's path prefix too.
//
//go:embed docs.md
var docsMarkdown string

// openAPIMediaType is the media type of an OpenAPI document.
const openAPIMediaType = "application/openapi+json"

// getDocs serves GET /api/docs, the page docsPage made.
func (h *handler) getDocs(c *gin.Context) {
	c.Header("Cache-Control", cachePublic)
	c.Header("Content-Security-Policy", docsCSP)
	writeBody(c, http.StatusOK, "text/html; charset=utf-8", h.docs)
}

// getOpenAPI serves GET /api/openapi.json.
func (h *handler) getOpenAPI(c *gin.Context) {
	c.Header("Cache-Control", cachePublic)
	writeBody(c, http.StatusOK, openAPIMediaType, openAPIFor(h.base(c)))
}

// openAPIFor is the OpenAPI document as served under base, "" or a trusted
// proxy's prefix: behind a proxy it names the prefix as its server, so that
// its paths resolve where the client found it.
func openAPIFor(base string) []byte {
	if base == "" {
		return openAPIDocument
	}
	// base is a plain path (see forwardedPrefix): it needs no escaping.
	server := `{"servers":[{"url":"` + base + `"}],`
	return append([]byte(server), bytes.TrimPrefix(bytes.TrimSpace(openAPIDocument), []byte("{"))...)
}

// formsCase is a resource as the handlers build it in one case, such as
// "the caller's own user": the page shows its HAL-FORMS templates.
type formsCase struct {
	When string
	Res  *hal.Resource
}

// docsPage renders docs.md to the HTML page, once: it depends only on what
// is compiled in and on the settings. goldmark because it is well kept,
// CommonMark-compliant and pure Go; raw HTML is let through for the rels'
// <section> anchors, as every byte of the Markdown is ours.
func (h *handler) docsPage() ([]byte, error) {
	tmpl, err := template.New("docs.md").Funcs(template.FuncMap{
		"templates": templatesOf,
		"cell":      func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }, // in a table
	}).Parse(docsMarkdown)
	if err != nil {
		return nil, err
	}
	var md bytes.Buffer
	if err := tmpl.Execute(&md, map[string]any{"Rels": h.rels, "Problems": h.problemTypes, "Forms": h.formsCases()}); err != nil {
		return nil, err
	}
	page := bytes.NewBufferString(docsHead)
	gm := goldmark.New(goldmark.WithExtensions(extension.Table),
		goldmark.WithParserOptions(parser.WithAttribute()), // {#id} on headings
		goldmark.WithRendererOptions(html.WithUnsafe()))
	if err := gm.Convert(md.Bytes(), page); err != nil {
		return nil, err
	}
	page.WriteString("</body></html>\n")
	return page.Bytes(), nil
}

// formsCases are the resources that have templates, made by the handlers'
// own constructors for sample users and a sample post, so that the page
// shows the forms the server sends, its settings included.
func (h *handler) formsCases() []formsCase {
	susan := persistence.User{ID: 1, Username: "susan", Email: "susan@example.com", AboutMe: "Hello, my name is Susan!"}
	bob := persistence.User{ID: 2, Username: "bob", Email: "bob@example.com"}
	followed := bob
	followed.IsFollowing = true
	post := persistence.Post{ID: 1, Body: "Hello, world!", Author: persistence.Author{ID: susan.ID, Username: susan.Username}}
	return []formsCase{
		{"The root, for anyone", h.rootTemplates(hal.New(nil))},
		{"Every page of users", hal.New(nil).AddTemplate("default", h.registration())},
		{"The caller's own user, and `/api/me`", h.fullUser("", persistence.Profile{Caller: susan, User: susan})},
		{"A user the caller does not follow", h.fullUser("", persistence.Profile{Caller: susan, User: bob})},
		{"A user the caller follows", h.fullUser("", persistence.Profile{Caller: susan, User: followed})},
		{"Every page of posts, of the feed and of the caller's own posts", hal.New(nil).AddTemplate("default", h.newPost())},
		{"The caller's own post", h.fullPost("", post, susan.ID)},
		{"A page of the caller's notifications, whose newest is 7", hal.New(nil).AddTemplate("mark-read", markReadForm(7))},
		{"The password reset resource, for anyone", h.passwordResetTemplates(hal.New(nil))},
		{"A page of the caller's sessions", hal.New(nil).AddTemplate("revoke-others", revokeOthersForm(susan.ID))},
		{"One of the caller's sessions, not the one that asks", hal.New(nil).AddTemplate("revoke", revokeForm(persistence.Session{ID: 3}))},
	}
}

// templatesOf returns the templates of res, by name, as a HAL-FORMS client
// gets them.
func templatesOf(res *hal.Resource) (map[string]hal.Template, error) {
	b, err := res.AppendForms(nil, "")
	if err != nil {
		return nil, err
	}
	var doc struct {
		Templates map[string]hal.Template `json:"_templates"`
	}
	err = json.Unmarshal(b, &doc)
	return doc.Templates, err
}

// docsHead opens the page, with its style sheet.
const docsHead = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Microblog API</title>
<style>` + docsStyle + `</style></head>
<body>
`

// docsStyle is the page's style sheet, which docsCSP allows by its hash.
const docsStyle = `
body { font: 16px/1.55 system-ui, sans-serif; color: #222; max-width: 60rem; margin: 0 auto; padding: 1rem 1rem 4rem; }
h2 { border-top: 1px solid #ccc; padding-top: 1rem; margin-top: 2.5rem; }
code, pre { font: 14px/1.45 ui-monospace, monospace; }
:not(pre) > code { background: #f2f2f2; padding: 0 .2em; border-radius: 3px; }
pre { background: #f6f6f6; padding: .6rem .8rem; overflow-x: auto; }
table { border-collapse: collapse; margin: .5rem 0; display: block; overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; vertical-align: top; }
`

// docsCSP is strictCSP with the page's own style sheet: the page has no
// script, and a style that is not its own cannot apply.
var docsCSP = strictCSP + "; style-src " + cspHash(docsStyle)

// cspHash is the Content-Security-Policy source that allows the inline
// element whose text is text.
func cspHash(text string) string {
	sum := sha256.Sum256([]byte(text))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}
