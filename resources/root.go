package resources

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"microblog/hal"
)

// The rels of the explorer, of the index of the API's own rels and problem
// types, and of the problem types in it.
const (
	relExplorer = "mb:explorer"
	relRels     = "mb:rels"
	relProblems = "mb:problems"
)

type rootView struct {
	Title string `json:"title"`
}

// getRoot serves GET /api: where a client starts, the same for everyone.
func (h *handler) getRoot(c *gin.Context) error {
	res := hal.New(rootView{Title: "Microblog API"}).AddLink("self", hal.Link{Href: "/api"})
	addCuries(res).
		AddLink(relUsers, hal.MustTemplated("/api/users{?page,per_page}")).
		AddLink(relUser, hal.MustTemplated("/api/users/{id}")).
		AddLink(relTokens, hal.Link{Href: "/api/tokens"}).
		AddLink(relMe, hal.Link{Href: "/api/me"}).
		AddLink(relPasswordReset, hal.Link{Href: passwordResetPath}).
		AddLink(relPosts, hal.MustTemplated("/api/posts{?page,per_page}")).
		AddLink(relFeed, hal.MustTemplated("/api/feed{?page,per_page}")).
		AddLink(relUserByName, hal.MustTemplated("/api/users/by-name/{username}")).
		AddLink(relSearchUsers, hal.MustTemplated(searchUsersPath+"{?q,page,per_page}")).
		AddLink(relSearchPosts, hal.MustTemplated(searchPostsPath+"{?q,page,per_page}")).
		AddLink(relTag, hal.MustTemplated("/api/tags/{tag}{?page,per_page}")).
		AddLink(relMessages, hal.MustTemplated(messagesPath+"{?page,per_page}")).
		AddLink(relNotifications, hal.MustTemplated(notificationsPath+"{?page,per_page}")).
		AddLink(relExplorer, hal.Link{Href: "/explorer/", Type: "text/html"}).
		AddLink(relRels, hal.Link{Href: "/api/rels"}).
		AddLink("service-desc", hal.Link{Href: "/api/openapi.json", Type: "application/openapi+json"}).
		AddLink("service-doc", hal.Link{Href: "/api/docs", Type: "text/html"})
	c.Header("Cache-Control", cachePublic)
	return h.render(c, http.StatusOK, h.rootTemplates(res))
}

// rootTemplates adds the root's templates to res: registration and the
// two searches.
func (h *handler) rootTemplates(res *hal.Resource) *hal.Resource {
	return res.AddTemplate("default", h.registration()).
		AddTemplate("search-users", searchForm("Find people by username", searchUsersPath)).
		AddTemplate("search-posts", searchForm("Search posts", searchPostsPath))
}

// relDoc documents one of the API's own link relations.
type relDoc struct {
	Rel         string   `json:"rel"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Href        string   `json:"href"`
	Methods     []string `json:"methods"`
}

// relsJSON documents every rel the API uses under its curie, by name:
// data, read once by readRels.
//
//go:embed rels.json
var relsJSON []byte

// readRels returns the documentation of the API's rels.
func readRels() ([]relDoc, error) {
	var rels []relDoc
	if err := json.Unmarshal(relsJSON, &rels); err != nil {
		return nil, fmt.Errorf("resources: rels.json: %w", err)
	}
	return rels, nil
}

var relPage = template.Must(template.New("rel").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mb:{{.Rel}}</title></head>
<body><h1>mb:{{.Rel}}: {{.Title}}</h1><p>{{.Description}}</p>
<dl><dt>Target</dt><dd><code>{{.Href}}</code></dd>
<dt>Methods</dt><dd>{{range $i, $m := .Methods}}{{if $i}}, {{end}}{{$m}}{{end}}</dd></dl>
<p><a href="/api/docs#rel-{{.Rel}}">More in the documentation</a></p>
<p><a href="/api">Microblog API</a></p></body></html>
`))

// relOffers are the media types of a rel's documentation: HAL, and HTML
// for a person who follows the link in a browser.
var relOffers = append(halOffers[:len(halOffers):len(halOffers)], "text/html")

// getRel serves GET /api/rels/:rel as HTML to a browser and as HAL to
// everyone else.
func (h *handler) getRel(c *gin.Context) error {
	i := slices.IndexFunc(h.rels, func(d relDoc) bool { return d.Rel == c.Param("rel") })
	if i < 0 {
		return notFound()
	}
	return h.renderDoc(c, relPage, h.rels[i], relResource(h.rels[i]))
}

// relResource is the HAL document of a rel.
func relResource(doc relDoc) *hal.Resource {
	self := hal.Link{Href: "/api/rels/" + doc.Rel}
	doc.Rel = curieName + ":" + doc.Rel
	return hal.New(doc).AddLink("self", self)
}

// listRels serves GET /api/rels, where the curie of the API's rels leads
// without a rel: every rel's document and every problem type's, embedded.
func (h *handler) listRels(c *gin.Context) error {
	rels := make([]*hal.Resource, len(h.rels))
	for i, d := range h.rels {
		rels[i] = relResource(d)
	}
	problems := make([]*hal.Resource, len(h.problemTypes))
	for i, d := range h.problemTypes {
		problems[i] = problemResource(d)
	}
	res := hal.New(rootView{Title: "The link relations and problem types of the Microblog API"}).
		AddLink("self", hal.Link{Href: "/api/rels"})
	addCuries(res).EmbedAll(relRels, rels).EmbedAll(relProblems, problems)
	c.Header("Cache-Control", cachePublic)
	return h.render(c, http.StatusOK, res)
}

// renderDoc sends a document of the API's own vocabulary, a rel or a
// problem type, the same for everyone: page filled with data to a
// browser, res to everyone else.
func (h *handler) renderDoc(c *gin.Context, page *template.Template, data any, res *hal.Resource) error {
	c.Header("Cache-Control", cachePublic)
	if mediaType(c) == "text/html" {
		var buf bytes.Buffer
		if err := page.Execute(&buf, data); err != nil {
			return err
		}
		writeBody(c, http.StatusOK, "text/html; charset=utf-8", buf.Bytes())
		return nil
	}
	return h.render(c, http.StatusOK, addCuries(res))
}
