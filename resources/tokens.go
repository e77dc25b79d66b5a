package resources

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"microblog/hal"
	"microblog/persistence"
)

// relTokens is the rel of the token resource, where clients log in.
const relTokens = "mb:tokens"

type tokenView struct {
	ID        int64     `json:"id"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// createToken serves POST /api/tokens: a new token for the user of the
// Basic credentials. Each login gets its own token, a session that
// remembers the request's User-Agent, at /api/tokens/{id}.
func (h *handler) createToken(c *gin.Context) error {
	c.Header("Cache-Control", "no-store")
	username, password, ok := c.Request.BasicAuth()
	if !ok {
		return newError(http.StatusUnauthorized, "log in with HTTP Basic authentication: your username and password").
			with("WWW-Authenticate", basicChallenge)
	}
	if !text(username) || !text(password) {
		// No user has such a name or password, and the database cannot
		// even compare them: refused before any limiter, hash or query.
		return newError(http.StatusUnauthorized, "the username and password must be UTF-8 text without U+0000 (NUL)").
			with("WWW-Authenticate", basicChallenge)
	}
	password = normalizePassword(password)
	if err := h.admitLogin(c, username); err != nil {
		return err
	}
	t, err := h.store.LoginFrom(c.Request.Context(), username, password, h.cfg.TokenTTL, c.GetHeader("User-Agent"))
	if err != nil {
		return err
	}
	res := hal.New(tokenView{ID: t.ID, Token: t.Value, ExpiresAt: t.ExpiresAt.UTC()}).
		AddLink("self", hal.Link{Href: tokenPath(t.ID)})
	addCuries(res).AddLink(relMe, hal.Link{Href: "/api/me"})
	return h.render(c, http.StatusOK, res)
}

// admitLogin counts a login attempt with username's password, before any
// password is hashed: 429 when a limit is spent.
func (h *handler) admitLogin(c *gin.Context, username string) error {
	return h.admit(c, "login attempts", h.passwordChecks(c, username)...)
}

// passwordChecks are the limits of an attempt at username's password from
// the client's address: one for the username from that address, strict;
// one for the username from anywhere, looser, so that one address cannot
// spend it and lock the user out elsewhere; and one for the address.
func (h *handler) passwordChecks(c *gin.Context, username string) []check {
	name, addr := strings.ToLower(username), c.ClientIP()
	return []check{{h.loginByUser, addr + " " + name}, {h.loginByAccount, name}, {h.loginByAddress, addr}}
}

// admit counts an event in every limiter of checks, or in none of them
// when one is spent: then a 429 that says what was too many. The RateLimit
// headers describe the limit that decided.
func (h *handler) admit(c *gin.Context, what string, checks ...check) error {
	v := admit(time.Now(), checks...)
	for k, val := range rateHeaders(v.limit, v.remaining, v.retry) {
		c.Header(k, val)
	}
	if v.retry > 0 {
		return newError(http.StatusTooManyRequests, "too many "+what+": try again in "+
			c.Writer.Header().Get("Retry-After")+" s").with("Cache-Control", "no-store")
	}
	return nil
}

// deleteToken serves DELETE /api/tokens: it revokes the token presented,
// and no other.
func (h *handler) deleteToken(c *gin.Context) error {
	token, ok := bearerToken(c)
	if !ok {
		return newError(http.StatusUnauthorized, "send the token to revoke as a bearer token").
			with("WWW-Authenticate", bearerChallenge)
	}
	if !wellFormedToken(token) {
		return persistence.ErrInvalidToken
	}
	if err := h.store.RevokeToken(c.Request.Context(), strings.ToLower(token)); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}
