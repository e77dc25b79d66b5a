package resources

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// A relation is a resource that is a link between two things, a follow of
// a user by a user or a like of a post by a user: there or not, made by
// PUT and removed by DELETE, both idempotent, only by the user it is of,
// and never changed. Its validators are made from when it began.
type relation struct {
	// kind names it in its entity tag: "follow", "like".
	kind string
	// path is the resource's path: of the follow of b by a, of the like
	// of post a by user b.
	path func(a, b int64) string
	// since is when the relation of a and b began, nil when there is
	// none; ErrNotFound when the thing it links to is not there.
	since func(ctx context.Context, a, b int64) (*time.Time, error)
	// absent is the detail of the 404 when there is no relation.
	absent string
}

// tag is the entity tag of the relation of a and b that began at since.
// There is no body to tag: the tag tells one relation from another made
// after it was removed, so that If-Match on it is more than "*".
func (r relation) tag(a, b int64, since time.Time) string {
	return entityTag(r.kind, strconv.FormatInt(a, 10), strconv.FormatInt(b, 10), strconv.FormatInt(since.UnixMicro(), 10))
}

// get serves a GET of the relation of a and b: 204 with its validators if
// it is there, 404 if not.
func (h *handler) getRelation(c *gin.Context, r relation, a, b int64) error {
	since, err := r.since(c.Request.Context(), a, b)
	if err != nil {
		return err
	}
	if since == nil {
		return newError(http.StatusNotFound, r.absent)
	}
	tag := r.tag(a, b, *since)
	if notModified(c, tag, *since) {
		return nil
	}
	setValidators(c, tag, *since)
	c.Header("Cache-Control", cachePrivate)
	c.Status(http.StatusNoContent)
	return nil
}

// changeRelation makes or removes the relation of a and b with change,
// after its preconditions: 201 with its Location when change created it,
// else 204. invalidated are what the change changes besides the relation.
func (h *handler) changeRelation(c *gin.Context, r relation, a, b int64,
	change func(ctx context.Context) (created bool, err error), invalidated ...string) error {
	if err := h.relationPrecondition(c, r, a, b); err != nil {
		return err
	}
	created, err := change(c.Request.Context())
	if err != nil {
		return err
	}
	h.invalidates(c, append([]string{r.path(a, b)}, invalidated...)...)
	if created {
		c.Header("Location", h.base(c)+r.path(a, b))
		c.Status(http.StatusCreated)
		return nil
	}
	c.Status(http.StatusNoContent)
	return nil
}

// relationPrecondition evaluates the preconditions of a write to the
// relation of a and b against the validators GET gives. One that does not
// exist has none, so any If-Match fails on it, and If-None-Match: * on one
// that does. The check and the write are two statements: only the user
// the relation is of may change it, so only their own concurrent requests
// can come in between.
func (h *handler) relationPrecondition(c *gin.Context, r relation, a, b int64) error {
	if !preconditioned(c) {
		return nil
	}
	since, err := r.since(c.Request.Context(), a, b)
	if err != nil {
		return err
	}
	t := target{exists: since != nil}
	if t.exists {
		t.tags, t.modified = []string{r.tag(a, b, *since)}, *since
	}
	_, err = checkPreconditions(c, t, false)
	return err
}
