package resources

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"microblog/hal"
)

// deletionTimeouts is how many RequestTimeouts the deletion of an account
// may take. It is one transaction whose work grows with the account's
// history (a user with 5,000 posts, 10,000 follows and 10,000 likes takes
// seconds) and must be possible for every account; its client waits for
// it, and it is rare.
const deletionTimeouts = 10

// deleteAccountForm is the template of the deletion of user id's account:
// a DELETE of the user, sent with If-Match.
func deleteAccountForm(id int64) hal.Template {
	return hal.Template{Title: "Delete your account, with everything of yours", Method: http.MethodDelete,
		Target: userPath(id)}
}

// deleteUser serves DELETE /api/users/:id: the user deletes their own
// account, with their posts, likes, follows, messages, notifications,
// tokens and pending jobs, in one transaction. If-Match (or
// If-Unmodified-Since) is required whatever RequireIfMatch says: a
// deletion cannot be undone, so it must name the user as the client last
// saw them. Someone else's user is a 403.
func (h *handler) deleteUser(c *gin.Context) error {
	caller, err := h.ownUser(c)
	if err != nil {
		return err
	}
	version, err := h.ownUserPrecondition(c, caller, true)
	if err != nil {
		return err
	}
	// The client's going away does not stop a deletion under way: it
	// commits or leaves everything as it was, within its own time.
	ctx := c.Request.Context()
	if h.cfg.RequestTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), deletionTimeouts*h.cfg.RequestTimeout)
		defer cancel()
	}
	if err := h.store.DeleteUser(ctx, caller.ID, version); err != nil {
		return err
	}
	h.invalidates(c, userPath(caller.ID), "/api/me", "/api/users", "/api/posts")
	c.Status(http.StatusNoContent)
	return nil
}
