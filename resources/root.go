package resources

import (
	"bytes"
	"html/template"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"microblog/hal"
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
		AddLink(relPosts, hal.MustTemplated("/api/posts{?page,per_page}")).
		AddLink(relFeed, hal.MustTemplated("/api/feed{?page,per_page}")).
		AddLink("service-desc", hal.Link{Href: "/api/openapi.json", Type: "application/openapi+json"}).
		AddLink("service-doc", hal.Link{Href: "/api/docs", Type: "text/html"}).
		AddTemplate("default", h.registration())
	c.Header("Cache-Control", cachePublic)
	return h.render(c, http.StatusOK, res)
}

// relDoc documents one of the API's own link relations.
type relDoc struct {
	Rel         string   `json:"rel"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Href        string   `json:"href"`
	Methods     []string `json:"methods"`
}

// relDocs lists every rel the API uses under its curie, by name.
func relDocs() []relDoc {
	return []relDoc{
		{"avatar", "The user's avatar",
			"An image of the user, from Gravatar (an identicon when they have none). Found on every user.",
			"https://www.gravatar.com/avatar/{md5 of the lower-cased email}?d=identicon&s=128", []string{"GET"}},
		{"followers", "The user's followers",
			"A page of the users who follow this user, newest follow first, embedded under mb:users and paged like mb:users. Needs a bearer token.",
			"/api/users/{id}/followers{?page,per_page}", []string{"GET"}},
		{"feed", "The caller's feed",
			"A page of the caller's own posts and those of everyone they follow, newest first, embedded under mb:posts and paged like mb:users. Its HAL-FORMS template posts to /api/posts. Needs a bearer token.",
			"/api/feed{?page,per_page}", []string{"GET"}},
		{"follow", "Follow this user",
			"PUT (no body) makes the caller follow the user: 204, and following again changes nothing. Present on users the caller does not follow. Needs a bearer token.",
			"/api/users/{me}/following/{id}", []string{"PUT"}},
		{"following", "Whom the user follows",
			"A page of the users this user follows, newest follow first, embedded under mb:users and paged like mb:users. Needs a bearer token.",
			"/api/users/{id}/following{?page,per_page}", []string{"GET"}},
		{"me", "The caller's own user",
			"The user who holds the bearer token, with Content-Location naming its own URL. Needs a bearer token.",
			"/api/me", []string{"GET"}},
		{"posts", "Posts",
			"A page of posts, newest first, embedded under mb:posts and paged like mb:users: every post from the root, a user's own from a user. A post has id, body (1 to 140 characters), timestamp, its author embedded, and an edit link for its author, who may PUT, PATCH or DELETE it. POST /api/posts with a body creates one. Needs a bearer token.",
			"/api/posts{?page,per_page}", []string{"GET", "POST"}},
		{"tokens", "Log in and log out",
			"POST with HTTP Basic credentials (username and password) returns a new bearer token and when it expires; each login gets its own token. DELETE with a bearer token revokes that token only.",
			"/api/tokens", []string{"POST", "DELETE"}},
		{"unfollow", "Stop following this user",
			"DELETE makes the caller stop following the user: 204, and unfollowing again changes nothing. Present on users the caller follows. Needs a bearer token.",
			"/api/users/{me}/following/{id}", []string{"DELETE"}},
		{"user", "A user",
			"One user: username, about_me, last_seen and counts; email only for the user themself, who may also PUT or PATCH it (username, email, about_me, and password with old_password). Needs a bearer token.",
			"/api/users/{id}", []string{"GET", "PUT", "PATCH"}},
		{"users", "All users",
			"A page of every user by id, embedded under mb:users, with first, prev, next and last links and _meta. GET needs a bearer token. POST registers a new user from username, email, password and optional about_me, with no token.",
			"/api/users{?page,per_page}", []string{"GET", "POST"}},
	}
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
	docs := relDocs()
	i := slices.IndexFunc(docs, func(d relDoc) bool { return d.Rel == c.Param("rel") })
	if i < 0 {
		return notFound()
	}
	doc := docs[i]
	c.Header("Cache-Control", cachePublic)
	if mediaType(c) == "text/html" {
		var buf bytes.Buffer
		if err := relPage.Execute(&buf, doc); err != nil {
			return err
		}
		writeBody(c, http.StatusOK, "text/html; charset=utf-8", buf.Bytes())
		return nil
	}
	doc.Rel = curieName + ":" + doc.Rel
	res := hal.New(doc).AddLink("self", hal.Link{Href: "/api/rels/" + docs[i].Rel})
	return h.render(c, http.StatusOK, addCuries(res))
}
