package resources

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"microblog/hal"
	"microblog/persistence"
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
// id, which must exist, in one statement with the token check.
func (h *handler) createReply(c *gin.Context) error {
	token, parent, err := h.tokenAndID(c)
	if err != nil {
		return err
	}
	body, err := h.postBody(c, func(c *gin.Context) error {
		_, err := checkPreconditions(c, target{exists: true}, false)
		return err
	})
	if err != nil {
		return h.tokenFirst(c, token, err)
	}
	cp, err := h.store.CreatePost(c.Request.Context(), token, body, &parent)
	if err != nil {
		return err
	}
	p := cp.Post
	c.Header("Location", h.base(c)+postPath(p.ID))
	h.invalidates(c, append(postWrite(p.Author.ID), postPath(parent), postPath(parent)+"/replies")...)
	h.represents(c, postPath(p.ID))
	return h.renderPost(c, http.StatusCreated, p, cp.Caller.ID)
}

// listReplies serves GET /api/posts/:id/replies: the replies to post id,
// oldest first, in one statement with the token check.
func (h *handler) listReplies(c *gin.Context) error {
	token, id, r, err := h.tokenIDAndPage(c)
	if err != nil {
		return err
	}
	caller, page, err := h.store.Replies(c.Request.Context(), token, id, r.store())
	if err != nil {
		return err
	}
	res := h.postPage(c, postPath(id)+"/replies", page, caller.ID, r)
	return h.render(c, http.StatusOK, res.AddTemplate("default", h.replyForm(id)))
}

// listLikers serves GET /api/posts/:id/likes: the users who like post id,
// newest like first.
func (h *handler) listLikers(c *gin.Context) error {
	return h.listUsersOf(c, postPath, "/likes", h.store.Likers, func(id int64) []persistence.Topic {
		return []persistence.Topic{persistence.AllPosts, persistence.LikersOf(id)}
	})
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

// likes is the relation of a post and a user who likes it.
func (h *handler) likes() relation {
	return relation{kind: "like", path: likePath, absent: "this user does not like that post",
		since: func(ctx context.Context, post, user int64) (*time.Time, error) {
			return h.store.LikedSince(ctx, user, post)
		}}
}

// getLike serves GET /api/posts/:id/likes/:user: 204 if the user likes the
// post, 404 if not.
func (h *handler) getLike(c *gin.Context) error {
	post, user, err := h.likeTarget(c, false)
	if err != nil {
		return err
	}
	return h.getRelation(c, h.likes(), post, user)
}

// putLike serves PUT /api/posts/:id/likes/:user: like, idempotent.
func (h *handler) putLike(c *gin.Context) error {
	post, user, err := h.likeTarget(c, true)
	if err != nil {
		return err
	}
	return h.changeRelation(c, h.likes(), post, user, func(ctx context.Context) (bool, error) {
		return h.store.Like(ctx, user, post)
	}, likeChanges(post)...)
}

// deleteLike serves DELETE /api/posts/:id/likes/:user: unlike, idempotent.
func (h *handler) deleteLike(c *gin.Context) error {
	post, user, err := h.likeTarget(c, true)
	if err != nil {
		return err
	}
	return h.changeRelation(c, h.likes(), post, user, func(ctx context.Context) (bool, error) {
		return false, h.store.Unlike(ctx, user, post)
	}, likeChanges(post)...)
}

// likeChanges is what a like or an unlike changes besides the like. The
// post's author is not known here: their user, which shows the post among
// their newest, changes its ETag by the post's version.
func likeChanges(post int64) []string {
	return []string{postPath(post), postPath(post) + "/likes"}
}
