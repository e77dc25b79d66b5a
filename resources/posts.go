package resources

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"microblog/hal"
	"microblog/persistence"
)

// Link relations of posts.
const (
	relPosts = "mb:posts"
	relFeed  = "mb:feed"
)

// Posts serves posts, a user's posts and the feed.
type Posts struct {
	*api
}

// Register adds the routes of posts to r.
func (h *Posts) Register(r gin.IRoutes) {
	r.GET("/posts", h.handle(h.listPosts))
	r.POST("/posts", h.handle(h.createPost))
	r.GET("/posts/:id", h.handle(h.getPost))
	r.PUT("/posts/:id", h.handle(h.updatePost))
	r.PATCH("/posts/:id", h.handle(h.updatePost))
	r.DELETE("/posts/:id", h.handle(h.deletePost))
	r.GET("/users/:id/posts", h.handle(h.listUserPosts))
	r.GET("/feed", h.handle(h.getFeed))
}

func postPath(id int64) string { return "/api/posts/" + strconv.FormatInt(id, 10) }

type postView struct {
	ID        int64     `json:"id"`
	Body      string    `json:"body"`
	Timestamp time.Time `json:"timestamp"`
}

type authorView struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
}

// postResource is p as caller sees it, with its author embedded in part
// and an edit link for the author.
func postResource(p persistence.Post, caller int64) *hal.Resource {
	path := postPath(p.ID)
	author := hal.New(authorView{ID: p.Author.ID, Username: p.Author.Username}).
		AddLink("self", hal.Link{Href: userPath(p.Author.ID)}).
		AddLink(relAvatar, hal.Link{Href: avatarURL(p.Author.Email), Type: "image/png"})
	res := hal.New(postView{ID: p.ID, Body: p.Body, Timestamp: p.CreatedAt.UTC()}).
		AddLink("self", hal.Link{Href: path}).
		AddLink("author", hal.Link{Href: userPath(p.Author.ID)})
	if p.Author.ID == caller {
		res.AddLink("edit", hal.Link{Href: path})
	}
	return res.Embed("author", author)
}

func postResources(posts []persistence.Post, caller int64) []*hal.Resource {
	items := make([]*hal.Resource, len(posts))
	for i, p := range posts {
		items[i] = postResource(p, caller)
	}
	return items
}

// fullPost is the top-level representation of p, with the author's
// templates.
func (h *Posts) fullPost(p persistence.Post, caller int64) *hal.Resource {
	res := addCuries(postResource(p, caller))
	if p.Author.ID == caller {
		path := postPath(p.ID)
		res.AddTemplate("default", hal.Template{Title: "Edit this post", Method: http.MethodPut, Target: path,
			ContentType: jsonType, Properties: []hal.Property{h.fields.body.property(p.Body)}}).
			AddTemplate("delete", hal.Template{Title: "Delete this post", Method: http.MethodDelete, Target: path})
	}
	return res
}

// newPost is the template of POST /api/posts, on the collections a post
// written there appears in.
func (h *Posts) newPost() hal.Template {
	return hal.Template{Title: "Post", Method: http.MethodPost, Target: "/api/posts", ContentType: jsonType,
		Properties: []hal.Property{h.fields.body.property("")}}
}

// readBody reads and checks the body member of a post, trimmed.
func (h *Posts) readBody(c *gin.Context, accepted ...string) (string, error) {
	obj, err := decodeObject(c, accepted...)
	if err != nil {
		return "", err
	}
	body, err := obj.str("body", false)
	if err != nil {
		return "", err
	}
	if body == nil {
		return "", fieldError("body", "must include a body field")
	}
	trimmed := trimSpace(*body)
	if trimmed == "" {
		return "", fieldError("body", "body must not be empty or only white space")
	}
	if reason := h.fields.body.check(trimmed); reason != "" {
		return "", fieldError("body", reason)
	}
	return trimmed, nil
}

// createPost serves POST /api/posts.
func (h *Posts) createPost(c *gin.Context) error {
	caller, err := h.authenticate(c)
	if err != nil {
		return err
	}
	body, err := h.readBody(c, jsonType, hal.MediaType)
	if err != nil {
		return err
	}
	p, err := h.store.CreatePost(c.Request.Context(), caller.ID, body)
	if err != nil {
		return err
	}
	c.Header("Location", h.base(c)+postPath(p.ID))
	return h.renderWith(c, http.StatusCreated, h.fullPost(p, caller.ID),
		h.postTag(c, p, caller.ID, mediaType(c)), postModified(p))
}

// getPost serves GET /api/posts/:id. A conditional GET reads the post's
// version with the token check, in one statement, and answers 304 without
// reading the body.
func (h *Posts) getPost(c *gin.Context) error {
	mt := mediaType(c)
	id, idErr := parseID(c, "id")
	var (
		caller persistence.User
		err    error
	)
	if idErr == nil && conditional(c) {
		var pv persistence.Post
		caller, err = h.authenticateBy(c, func(ctx context.Context, token string) (persistence.User, error) {
			u, p, err := h.store.AuthenticateAndPostVersion(ctx, token, id)
			pv = p
			return u, err
		})
		if err != nil {
			return err
		}
		if pv.Version == 0 {
			return notFound()
		}
		if notModified(c, h.postTag(c, pv, caller.ID, mt), postModified(pv)) {
			return nil
		}
	} else if caller, err = h.authenticate(c); err != nil {
		return err
	} else if idErr != nil {
		return idErr
	}
	p, err := h.store.Post(c.Request.Context(), id)
	if err != nil {
		return err
	}
	return h.renderWith(c, http.StatusOK, h.fullPost(p, caller.ID), h.postTag(c, p, caller.ID, mt), postModified(p))
}

// precondition checks If-Match on a write to post id by caller, and
// returns the version the write must find, or nil when there is no
// If-Match. Someone else's post is a 403 before it is a 412.
func (h *Posts) precondition(c *gin.Context, id, caller int64) (*int64, error) {
	if c.GetHeader("If-Match") == "" {
		return nil, h.checkIfMatch(c, nil)
	}
	pv, err := h.store.PostVersion(c.Request.Context(), id)
	if err != nil {
		return nil, err
	}
	if pv.Author.ID != caller {
		return nil, forbiddenPost()
	}
	err = h.checkIfMatch(c, func(mt string) []string { return []string{h.postTag(c, pv, caller, mt)} })
	if err != nil {
		return nil, err
	}
	return &pv.Version, nil
}

func forbiddenPost() *httpError {
	return newError(http.StatusForbidden, "you may only change your own posts")
}

// updatePost serves PUT and PATCH /api/posts/:id, for the author only.
func (h *Posts) updatePost(c *gin.Context) error {
	caller, id, err := h.callerAndID(c)
	if err != nil {
		return err
	}
	accepted := []string{jsonType, hal.MediaType}
	if c.Request.Method == http.MethodPatch {
		accepted = append(accepted, mergePatchType)
	}
	body, err := h.readBody(c, accepted...)
	if err != nil {
		return err
	}
	version, err := h.precondition(c, id, caller.ID)
	if err != nil {
		return err
	}
	p, err := h.store.UpdatePost(c.Request.Context(), id, caller.ID, body, version)
	if errors.Is(err, persistence.ErrForbidden) {
		return forbiddenPost()
	}
	if err != nil {
		return err
	}
	return h.renderWith(c, http.StatusOK, h.fullPost(p, caller.ID), h.postTag(c, p, caller.ID, mediaType(c)), postModified(p))
}

// deletePost serves DELETE /api/posts/:id, for the author only.
func (h *Posts) deletePost(c *gin.Context) error {
	caller, id, err := h.callerAndID(c)
	if err != nil {
		return err
	}
	version, err := h.precondition(c, id, caller.ID)
	if err != nil {
		return err
	}
	err = h.store.DeletePost(c.Request.Context(), id, caller.ID, version)
	if errors.Is(err, persistence.ErrForbidden) {
		return forbiddenPost()
	}
	if err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

// listPosts serves GET /api/posts: every post, newest first.
func (h *Posts) listPosts(c *gin.Context) error {
	caller, page, err := h.callerAndPage(c)
	if err != nil {
		return err
	}
	posts, list, err := h.store.Posts(c.Request.Context(), page.store())
	if err != nil {
		return err
	}
	res := collection("/api/posts", relPosts, postResources(posts, caller.ID), page.hal(list, len(posts)))
	return h.render(c, http.StatusOK, res.AddTemplate("default", h.newPost()))
}

// listUserPosts serves GET /api/users/:id/posts, newest first.
func (h *Posts) listUserPosts(c *gin.Context) error {
	caller, id, err := h.callerAndID(c)
	if err != nil {
		return err
	}
	page, err := pageParams(c)
	if err != nil {
		return err
	}
	posts, list, err := h.store.UserPosts(c.Request.Context(), id, page.store())
	if err != nil {
		return err
	}
	res := collection(userPath(id)+"/posts", relPosts, postResources(posts, caller.ID), page.hal(list, len(posts)))
	if id == caller.ID {
		res.AddTemplate("default", h.newPost())
	}
	return h.render(c, http.StatusOK, res)
}

// getFeed serves GET /api/feed: the caller's posts and those of everyone
// they follow, newest first.
func (h *Posts) getFeed(c *gin.Context) error {
	caller, page, err := h.callerAndPage(c)
	if err != nil {
		return err
	}
	posts, list, err := h.store.Feed(c.Request.Context(), caller.ID, caller.FollowingCount, page.store())
	if err != nil {
		return err
	}
	res := collection("/api/feed", relPosts, postResources(posts, caller.ID), page.hal(list, len(posts)))
	return h.render(c, http.StatusOK, res.AddTemplate("default", h.newPost()))
}
