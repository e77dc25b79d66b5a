package resources

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"microblog/hal"
	"microblog/persistence"
)

// Link relations of posts.
const (
	relPosts     = "mb:posts"
	relFeed      = "mb:feed"
	relReplies   = "mb:replies"
	relInReplyTo = "mb:in-reply-to"
	relLikes     = "mb:likes"
	relLike      = "mb:like"
	relUnlike    = "mb:unlike"
)

func postPath(id int64) string { return "/api/posts/" + strconv.FormatInt(id, 10) }

type postView struct {
	ID         int64     `json:"id"`
	Body       string    `json:"body"`
	Timestamp  time.Time `json:"timestamp"`
	Tags       []string  `json:"tags"`
	ReplyCount int64     `json:"reply_count"`
	LikeCount  int64     `json:"like_count"`
}

// postShared is the part of p's representation that every caller sees
// alike: all but liked and the links to like, unlike and edit it.
//
// The author is not embedded. A caching client (Ketting) stores every
// embedded resource under its self link, so a partial copy of the author
// would replace the whole user it had cached: in a user's own posts, and in
// every page of posts. A full copy would need each author's counts and
// whether the caller follows them in every read of posts, and would tie a
// post's tag to all of that; a summary resource of its own would be one
// more URL to keep and to cache. The link's name says who wrote the post,
// and the user, a GET away, is cached whole.
func postShared(p persistence.Post) *hal.Resource {
	path := postPath(p.ID)
	tags := make([]hal.Link, len(p.Tags))
	for i, t := range p.Tags {
		tags[i] = hal.Link{Href: tagPath(t), Name: t}
	}
	var mentions []hal.Link
	for _, m := range p.Mentions() {
		mentions = append(mentions, hal.Link{Href: userPath(m.ID), Name: m.Username})
	}
	res := hal.New(postView{ID: p.ID, Body: p.Body, Timestamp: p.CreatedAt.UTC(), Tags: append([]string{}, p.Tags...),
		ReplyCount: p.ReplyCount, LikeCount: p.LikeCount}).
		AddLink("self", hal.Link{Href: path}).
		AddLink("author", hal.Link{Href: userPath(p.Author.ID), Name: p.Author.Username})
	if p.ParentID != 0 {
		res.AddLink(relInReplyTo, hal.Link{Href: postPath(p.ParentID)})
	}
	return res.AddLink(relReplies, pagedLink(path+"/replies")).
		AddLink(relLikes, pagedLink(path+"/likes")).
		AddLinks(relTags, tags...).
		AddLinks(relMentions, mentions...)
}

// likedView is what a post shows the caller alone.
type likedView struct {
	Liked bool `json:"liked"`
}

// postResource is p as caller sees it, for hrefs that start with base:
// whether they like it and the link to like or unlike it, and for its
// author an edit link, after what everyone sees alike, which is rendered
// once for each version of p (sharedPosts).
func (h *handler) postResource(base string, p persistence.Post, caller int64) *hal.Resource {
	shared, err := h.sharedPosts.get(postKey{id: p.ID, version: p.Version, author: p.Author.Username, base: base}, base,
		func() *hal.Resource { return postShared(p) })
	if err != nil {
		return hal.Failed(err)
	}
	res := shared.With(likedView{Liked: p.Liked})
	if p.Liked {
		res.AddLink(relUnlike, hal.Link{Href: likePath(p.ID, caller)})
	} else {
		res.AddLink(relLike, hal.Link{Href: likePath(p.ID, caller)})
	}
	if p.Author.ID == caller {
		res.AddLink("edit", hal.Link{Href: postPath(p.ID)})
	}
	return res
}

func (h *handler) postResources(base string, posts []persistence.Post, caller int64) []*hal.Resource {
	items := make([]*hal.Resource, len(posts))
	for i, p := range posts {
		items[i] = h.postResource(base, p, caller)
	}
	return items
}

// fullPost is the top-level representation of p, with the templates of
// what caller may do: reply, like or unlike, and for the author edit and
// delete.
func (h *handler) fullPost(base string, p persistence.Post, caller int64) *hal.Resource {
	res := addCuries(h.postResource(base, p, caller)).AddTemplate("reply", h.replyForm(p.ID))
	if p.Liked {
		res.AddTemplate("unlike", hal.Template{Title: "Unlike this post", Method: http.MethodDelete,
			Target: likePath(p.ID, caller)})
	} else {
		res.AddTemplate("like", hal.Template{Title: "Like this post", Method: http.MethodPut, Target: likePath(p.ID, caller)})
	}
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
func (h *handler) newPost() hal.Template {
	return hal.Template{Title: "Post", Method: http.MethodPost, Target: "/api/posts", ContentType: jsonType,
		Properties: []hal.Property{h.fields.body.property("")}}
}

// readBody reads and checks the body member of a post, trimmed.
func (h *handler) readBody(c *gin.Context, accepted ...string) (string, error) {
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

// renderPost sends the representation of p to caller with its validators,
// or a 304 when the client has it already.
func (h *handler) renderPost(c *gin.Context, status int, p persistence.Post, caller int64) error {
	return h.renderWith(c, status, h.fullPost(h.base(c), p, caller), h.postTag(c, p, caller, mediaType(c)), postModified(p))
}

// createPost serves POST /api/posts, in one statement with the token
// check.
func (h *handler) createPost(c *gin.Context) error {
	token, err := requireToken(c)
	if err != nil {
		return err
	}
	body, err := h.postBody(c, h.postsPrecondition)
	if err != nil {
		return h.tokenFirst(c, token, err)
	}
	cp, err := h.store.CreatePost(c.Request.Context(), token, body, nil)
	if err != nil {
		return err
	}
	p := cp.Post
	c.Header("Location", h.base(c)+postPath(p.ID))
	h.invalidates(c, postWrite(p.Author.ID)...)
	h.represents(c, postPath(p.ID))
	return h.renderPost(c, http.StatusCreated, p, cp.Caller.ID)
}

// postBody evaluates the preconditions of a new post with precondition,
// then reads its body.
func (h *handler) postBody(c *gin.Context, precondition func(*gin.Context) error) (string, error) {
	if err := precondition(c); err != nil {
		return "", err
	}
	return h.readBody(c, jsonType, hal.MediaType)
}

// postWrite is what a new, changed or deleted post of author changes, other
// than the post: the author, their posts, the caller's feed and all posts.
func postWrite(author int64) []string {
	return []string{userPath(author), userPath(author) + "/posts", "/api/me", "/api/feed", "/api/posts"}
}

// postsPrecondition evaluates the preconditions of a POST to /api/posts
// against the collection it adds to, which always exists. Its tags are
// made from its body, as its GET makes them, so they are read and rendered
// only when a header lists tags. The check and the write are not atomic:
// the collection changes with every post, and locking it for a rare
// conditional POST would make every post wait.
func (h *handler) postsPrecondition(c *gin.Context) error {
	if !preconditioned(c) {
		return nil
	}
	t := target{exists: true}
	if listsTags(c) {
		r, err := pageParams(c)
		if err != nil {
			return err
		}
		res, err := h.allPosts(c, r)
		if err != nil {
			return err
		}
		if t.tags, err = h.bodyTags(c, res); err != nil {
			return err
		}
	}
	_, err := checkPreconditions(c, t, false)
	return err
}

// getPost serves GET /api/posts/:id in one statement with the token check.
func (h *handler) getPost(c *gin.Context) error {
	token, id, err := h.tokenAndID(c)
	if err != nil {
		return err
	}
	cp, err := h.store.PostFor(c.Request.Context(), token, id)
	if err != nil {
		return err
	}
	dependOn(c, persistence.AllPosts, persistence.UserTopic(cp.Post.Author.ID), persistence.LikesOf(cp.Caller.ID))
	return h.renderPost(c, http.StatusOK, cp.Post, cp.Caller.ID)
}

// postPrecondition evaluates the preconditions of a write to post id by
// caller, and returns the version the write must find, or nil when neither
// If-Match nor If-Unmodified-Since was evaluated. A post that is not there
// is a 404, and someone else's a 403, before any precondition (RFC 9110
// 13.2.1): a write never creates a post.
func (h *handler) postPrecondition(c *gin.Context, id int64, caller persistence.User) (*int64, error) {
	if !preconditioned(c) {
		_, err := checkPreconditions(c, target{exists: true}, h.cfg.RequireIfMatch)
		return nil, err
	}
	p, err := h.store.Post(c.Request.Context(), id)
	switch {
	case err != nil:
		return nil, err
	case p.Author.ID != caller.ID:
		return nil, persistence.ErrForbidden
	}
	if p.Author.Version == caller.Version {
		// The author's last change is this request's own last_seen at
		// most: not one the client can have missed.
		p.Author.ChangedAt = caller.PriorChangedAt
	}
	t := target{exists: true, modified: postModified(p)}
	for _, mt := range halOffers {
		t.tags = append(t.tags, h.postTag(c, p, caller.ID, mt))
	}
	conditional, err := checkPreconditions(c, t, h.cfg.RequireIfMatch)
	if err != nil || !conditional {
		return nil, err
	}
	return &p.Version, nil
}

// startPostWrite authenticates a write of post :id and checks its
// preconditions: it returns the caller, the id and the version the write
// must find (nil when the request names none).
func (h *handler) startPostWrite(c *gin.Context) (persistence.User, int64, *int64, error) {
	caller, id, err := h.callerAndID(c)
	if err != nil {
		return persistence.User{}, 0, nil, err
	}
	version, err := h.postPrecondition(c, id, caller)
	return caller, id, version, err
}

// updatePost serves PUT and PATCH /api/posts/:id, for the author only.
func (h *handler) updatePost(c *gin.Context) error {
	// Preconditions come before the body is read (RFC 9110 13.2.1).
	caller, id, version, err := h.startPostWrite(c)
	if err != nil {
		return err
	}
	body, err := h.readBody(c, writeTypes(c)...)
	if err != nil {
		return err
	}
	p, err := h.store.UpdatePost(c.Request.Context(), id, caller.ID, body, version)
	if err != nil {
		return err
	}
	h.invalidates(c, append(postWrite(caller.ID), postPath(id))...)
	h.represents(c, postPath(id))
	return h.renderPost(c, http.StatusOK, p, caller.ID)
}

// deletePost serves DELETE /api/posts/:id, for the author only.
func (h *handler) deletePost(c *gin.Context) error {
	caller, id, version, err := h.startPostWrite(c)
	if err != nil {
		return err
	}
	if err := h.store.DeletePost(c.Request.Context(), id, caller.ID, version); err != nil {
		return err
	}
	h.invalidates(c, append(postWrite(caller.ID), postPath(id))...)
	c.Status(http.StatusNoContent)
	return nil
}

// postPage is page of the list of posts at path, as caller sees it, asked
// for by r.
// Every page of posts shows the set of posts and their rows, their
// authors' names and whether the caller likes them.
func (h *handler) postPage(c *gin.Context, path string, page persistence.PostPage, caller int64, r pageRequest) *hal.Resource {
	dependOn(c, persistence.AllPosts, persistence.LikesOf(caller))
	for _, p := range page.Posts {
		dependOn(c, persistence.UserTopic(p.Author.ID))
	}
	return collection(path, relPosts, h.postResources(h.base(c), page.Posts, caller), r.hal(page.Listing, len(page.Posts)))
}

// listPosts serves GET /api/posts: every post, newest first, in one
// statement with the token check.
func (h *handler) listPosts(c *gin.Context) error {
	token, err := requireToken(c)
	if err != nil {
		return err
	}
	r, err := pageParams(c)
	if err != nil {
		return h.tokenFirst(c, token, err)
	}
	res, err := h.allPosts(c, r)
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, res)
}

// allPosts is page r of all posts as the holder of the request's token
// sees it.
func (h *handler) allPosts(c *gin.Context, r pageRequest) (*hal.Resource, error) {
	token, err := requireToken(c)
	if err != nil {
		return nil, err
	}
	caller, page, err := h.store.Posts(c.Request.Context(), token, r.store())
	if err != nil {
		return nil, err
	}
	return h.postPage(c, "/api/posts", page, caller.ID, r).AddTemplate("default", h.newPost()), nil
}

// listUserPosts serves GET /api/users/:id/posts, newest first, in one
// statement with the token check.
func (h *handler) listUserPosts(c *gin.Context) error {
	token, id, r, err := h.tokenIDAndPage(c)
	if err != nil {
		return err
	}
	caller, page, err := h.store.UserPosts(c.Request.Context(), token, id, r.store())
	if err != nil {
		return err
	}
	dependOn(c, persistence.UserTopic(id))
	res := h.postPage(c, userPath(id)+"/posts", page, caller.ID, r)
	if id == caller.ID {
		res.AddTemplate("default", h.newPost())
	}
	return h.render(c, http.StatusOK, res)
}

// getFeed serves GET /api/feed: the caller's posts and those of everyone
// they follow, newest first, in one statement with the token check.
func (h *handler) getFeed(c *gin.Context) error {
	token, err := requireToken(c)
	if err != nil {
		return err
	}
	r, err := pageParams(c)
	if err != nil {
		return h.tokenFirst(c, token, err)
	}
	caller, page, err := h.store.Feed(c.Request.Context(), token, r.store())
	if err != nil {
		return err
	}
	dependOn(c, persistence.FollowsOf(caller.ID))
	res := h.postPage(c, "/api/feed", page, caller.ID, r)
	return h.render(c, http.StatusOK, res.AddTemplate("default", h.newPost()))
}
