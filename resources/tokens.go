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
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// createToken serves POST /api/tokens: a new token for the user of the
// Basic credentials. Each login gets its own token.
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
	t, err := h.store.Login(c.Request.Context(), username, password, h.cfg.TokenTTL)
	if err != nil {
		return err
	}
	res := hal.New(tokenView{Token: t.Value, ExpiresAt: t.ExpiresAt.UTC()}).
		AddLink("self", hal.Link{Href: "/api/tokens"})
	addCuries(res).AddLink(relMe, hal.Link{Href: "/api/me"})
	return h.render(c, http.StatusOK, res)
}

// admitLogin takes a login attempt from the username's budget and from the
// client address's, before any password is hashed: 429 when either is
// spent. The RateLimit headers describe the tighter of the two.
func (h *handler) admitLogin(c *gin.Context, username string) error {
	now := time.Now()
	var (
		tightest  RateLimit
		remaining = -1
		retry     time.Duration
	)
	for _, check := range []struct {
		l   *limiter
		key string
	}{
		{h.loginByUser, strings.ToLower(username)},
		{h.loginByAddress, c.ClientIP()},
	} {
		ok, wait, left := check.l.allow(check.key, now)
		if !ok || remaining < 0 || left < remaining {
			tightest, remaining, retry = check.l.limit, left, wait
		}
		if !ok {
			break
		}
	}
	for k, v := range rateHeaders(tightest, remaining, retry) {
		c.Header(k, v)
	}
	if retry > 0 {
		return newError(http.StatusTooManyRequests, "too many login attempts: try again in "+
			c.Writer.Header().Get("Retry-After")+" s")
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
