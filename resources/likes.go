package resources

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"microblog/hal"
)

// likePath is the like of post by user: a resource, as a follow is.
func likePath(post, user int64) string {
	return postPath(post) + "/likes/" + strconv.FormatInt(user, 10)
}

// replyForm is the template of a reply to post id.
func (h *handler) replyForm(id int64) hal.Template {
	return hal.Template{Title: "Reply", Method: http.MethodPost, Target: postPath(id) + "/replies",
		ContentType: jsonType, Properties: []hal.Property{h.fields.body.property("")}}
}

// createReply serves POST /api/posts/:id/replies: a post in reply to post
// id, which must exist.
func (h *handler) createReply(c *gin.Context) error {
	caller, parent, err := h.callerAndID(c)
	if err != nil {
		return err
	}
	if _, err := checkPreconditions(c, target{exists: true}, false); err != nil {
		return err
	}
	body, err := h.readBody(c, jsonType, hal.MediaType)
	if err != nil {
		return err
	}
	p, err := h.store.CreateReply(c.Request.Context(), caller.ID, parent, body)
	if err != nil {
		return err
	}
	c.Header("Location", h.base(c)+postPath(p.ID))
	h.invalidates(c, append(postWrite(p.Author.ID), postPath(parent), postPath(parent)+"/replies")...)
	h.represents(c, postPath(p.ID))
	return h.renderPost(c, http.StatusCreated, p, caller.ID)
}

// listReplies serves GET /api/posts/:id/replies: the replies to post id,
// oldest first, in one statement with the token check.
func (h *handler) listReplies(c *gin.Context) error {
	token, id, err := h.tokenAndID(c)
	if err != nil {
		return err
	}
	r, err := pageParams(c)
	if err != nil {
		return h.tokenFirst(c, token, err)
	}
	caller, page, err := h.store.Replies(c.Request.Context(), token, id, r.store())
	if err != nil {
		return err
	}
	res := postPage(postPath(id)+"/replies", page, caller.ID, r)
	return h.render(c, http.StatusOK, res.AddTemplate("default", h.replyForm(id)))
}

// listLikers serves GET /api/posts/:id/likes: the users who like post id,
// newest like first, in one statement with the token check.
func (h *handler) listLikers(c *gin.Context) error {
	token, id, err := h.tokenAndID(c)
	if err != nil {
		return err
	}
	r, err := pageParams(c)
	if err != nil {
		return h.tokenFirst(c, token, err)
	}
	page, err := h.store.Likers(c.Request.Context(), token, id, r.store())
	if err != nil {
		return err
	}
	storeNothingIf(c, showsCaller(page))
	return h.render(c, http.StatusOK, userPage(postPath(id)+"/likes", page, r))
}

// likeTarget reads the post and the user of /api/posts/:id/likes/:user,
// who must be the caller when mine is set.
func (h *handler) likeTarget(c *gin.Context, mine bool) (post, user int64, err error) {
	caller, post, err := h.callerAndID(c)
	if err != nil {
		return 0, 0, err
	}
	if user, err = parseID(c, "user"); err != nil {
		return 0, 0, err
	}
	if mine && user != caller.ID {
		return 0, 0, newError(http.StatusForbidden, "you may only like and unlike posts yourself")
	}
	return post, user, nil
}

// getLike serves GET /api/posts/:id/likes/:user: 204 if the user likes the
// post, 404 if not, with validators made from when the like was given.
func (h *handler) getLike(c *gin.Context) error {
	post, user, err := h.likeTarget(c, false)
	if err != nil {
		return err
	}
	since, err := h.store.LikedSince(c.Request.Context(), user, post)
	if err != nil {
		return err
	}
	if since == nil {
		return newError(http.StatusNotFound, "this user does not like that post")
	}
	tag := likeTag(post, user, *since)
	if notModified(c, tag, *since) {
		return nil
	}
	setValidators(c, tag, *since)
	c.Header("Cache-Control", cachePrivate)
	c.Status(http.StatusNoContent)
	return nil
}

// putLike serves PUT /api/posts/:id/likes/:user: like, idempotent.
func (h *handler) putLike(c *gin.Context) error { return h.changeLike(c, h.store.Like) }

// deleteLike serves DELETE /api/posts/:id/likes/:user: unlike, idempotent.
func (h *handler) deleteLike(c *gin.Context) error {
	return h.changeLike(c, func(ctx context.Context, user, post int64) (bool, error) {
		return false, h.store.Unlike(ctx, user, post)
	})
}

// changeLike makes the caller, who must be user :user, like or unlike post
// :id as change does: 201 with the like's Location when change created it,
// else 204.
func (h *handler) changeLike(c *gin.Context, change func(ctx context.Context, user, post int64) (bool, error)) error {
	post, user, err := h.likeTarget(c, true)
	if err != nil {
		return err
	}
	if err := h.likePrecondition(c, post, user); err != nil {
		return err
	}
	created, err := change(c.Request.Context(), user, post)
	if err != nil {
		return err
	}
	// The post's author is not known here: their user, which shows the
	// post among their newest, changes its ETag by the post's version.
	h.invalidates(c, likePath(post, user), postPath(post), postPath(post)+"/likes")
	if created {
		c.Header("Location", h.base(c)+likePath(post, user))
		c.Status(http.StatusCreated)
		return nil
	}
	c.Status(http.StatusNoContent)
	return nil
}

// likePrecondition evaluates the preconditions of a write to the like of
// post by user, whose validators are those GET gives, as followPrecondition
// does for a follow.
func (h *handler) likePrecondition(c *gin.Context, post, user int64) error {
	if !preconditioned(c) {
		return nil
	}
	since, err := h.store.LikedSince(c.Request.Context(), user, post)
	if err != nil {
		return err
	}
	t := target{exists: since != nil}
	if t.exists {
		t.tags, t.modified = []string{likeTag(post, user, *since)}, *since
	}
	_, err = checkPreconditions(c, t, false)
	return err
}

// likeTag is the entity tag of the like of post by user, given at since.
func likeTag(post, user int64, since time.Time) string {
	return entityTag("like", strconv.FormatInt(post, 10), strconv.FormatInt(user, 10),
		strconv.FormatInt(since.UnixMicro(), 10))
}
