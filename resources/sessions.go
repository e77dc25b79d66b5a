package resources

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"microblog/hal"
	"microblog/persistence"
)

// relSessions is the rel of a user's own sessions.
const relSessions = "mb:sessions"

// tokenPath is the session of a token: the token resource, named by its
// public id, never by the token.
func tokenPath(id int64) string { return "/api/tokens/" + strconv.FormatInt(id, 10) }

// sessionsPath is the collection of user id's sessions, which only they
// may read. It is not /api/tokens, whose DELETE revokes the token presented.
func sessionsPath(id int64) string { return userPath(id) + "/sessions" }

// sessionView is the properties of a session. UserAgent is null when the
// login sent none.
type sessionView struct {
	ID         int64     `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	UserAgent  *string   `json:"user_agent"`
	Current    bool      `json:"current"`
}

// sessionResource is x as its user sees it, embedded in their list.
func sessionResource(x persistence.Session) *hal.Resource {
	v := sessionView{ID: x.ID, CreatedAt: x.CreatedAt.UTC(), LastUsedAt: x.LastUsedAt.UTC(), ExpiresAt: x.ExpiresAt.UTC(),
		Current: x.Current}
	if x.UserAgent != "" {
		v.UserAgent = &x.UserAgent
	}
	return hal.New(v).AddLink("self", hal.Link{Href: tokenPath(x.ID)})
}

// revokeForm is the template that ends session id.
func revokeForm(x persistence.Session) hal.Template {
	title := "Revoke this session"
	if x.Current {
		title = "Revoke this session (yours: log out)"
	}
	return hal.Template{Title: title, Method: http.MethodDelete, Target: tokenPath(x.ID)}
}

// revokeOthersForm is the template that ends every session of user but the
// one that asks.
func revokeOthersForm(user int64) hal.Template {
	return hal.Template{Title: "Revoke all other sessions", Method: http.MethodDelete, Target: sessionsPath(user)}
}

// getSession serves GET /api/tokens/:id: one of the caller's sessions, in
// one statement with the token check; anyone else's is not found.
func (h *handler) getSession(c *gin.Context) error {
	token, id, err := h.tokenAndID(c)
	if err != nil {
		return err
	}
	cs, err := h.store.SessionFor(c.Request.Context(), token, id)
	if err != nil {
		return err
	}
	res := addCuries(sessionResource(cs.Session)).AddTemplate("revoke", revokeForm(cs.Session))
	return h.render(c, http.StatusOK, res)
}

// revokeSession serves DELETE /api/tokens/:id: it ends one of the caller's
// sessions, theirs too; anyone else's is not found and stays.
func (h *handler) revokeSession(c *gin.Context) error {
	caller, id, err := h.callerAndID(c)
	if err != nil {
		return err
	}
	if err := h.store.RevokeSession(c.Request.Context(), caller.ID, id); err != nil {
		return err
	}
	h.invalidates(c, sessionsPath(caller.ID))
	c.Status(http.StatusNoContent)
	return nil
}

// listSessions serves GET /api/users/:id/sessions: the caller's live
// sessions, newest first, in one statement with the token check. Anyone
// else's are forbidden.
func (h *handler) listSessions(c *gin.Context) error {
	token, id, r, err := h.tokenIDAndPage(c)
	if err != nil {
		return err
	}
	page, err := h.store.Sessions(c.Request.Context(), token, id, r.store())
	if err != nil {
		return err
	}
	if id != page.Caller.ID {
		return othersSessions()
	}
	items := make([]*hal.Resource, len(page.Sessions))
	for i, x := range page.Sessions {
		items[i] = sessionResource(x)
	}
	res := collection(sessionsPath(id), relSessions, items, r.hal(page.Listing, len(items))).
		AddTemplate("revoke-others", revokeOthersForm(id))
	return h.render(c, http.StatusOK, res)
}

// revokeOtherSessions serves DELETE /api/users/:id/sessions: every session
// of the caller ends but the one of the request.
func (h *handler) revokeOtherSessions(c *gin.Context) error {
	caller, id, err := h.callerAndID(c)
	if err != nil {
		return err
	}
	if id != caller.ID {
		if _, err := h.store.User(c.Request.Context(), id); err != nil {
			return err
		}
		return othersSessions()
	}
	token, _ := requireToken(c) // callerAndID has checked it
	if err := h.store.RevokeOtherSessions(c.Request.Context(), caller.ID, token); err != nil {
		return err
	}
	h.invalidates(c, sessionsPath(caller.ID))
	c.Status(http.StatusNoContent)
	return nil
}

// othersSessions is the answer to a request for someone else's sessions.
func othersSessions() error {
	return newError(http.StatusForbidden, "you may only see and end your own sessions")
}
