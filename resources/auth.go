package resources

import (
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"microblog/persistence"
)

const (
	bearerChallenge = `Bearer realm="microblog"`
	basicChallenge  = `Basic realm="microblog"`
)

// bearerToken returns the token of an "Authorization: Bearer" header. ok is
// false when there is no such header.
func bearerToken(c *gin.Context) (token string, ok bool) {
	scheme, value, _ := strings.Cut(c.GetHeader("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(value), true
}

// wellFormedToken reports whether token has the shape of the tokens the
// server issues, so that a malformed one costs no query.
func wellFormedToken(token string) bool {
	if len(token) != 32 {
		return false
	}
	var raw [16]byte
	_, err := hex.Decode(raw[:], []byte(token))
	return err == nil
}

// requireToken returns the request's bearer token, in the lower case the
// store keeps, for a resource that needs one: a 401 with the challenge RFC
// 6750 asks for when there is none, persistence.ErrInvalidToken when it
// cannot be one of ours. What the resource is depends on the token.
func requireToken(c *gin.Context) (string, error) {
	addVary(c, "Accept", "Authorization")
	token, ok := bearerToken(c)
	if !ok {
		return "", newError(http.StatusUnauthorized, "this resource needs a bearer token from POST /api/tokens").
			with("WWW-Authenticate", bearerChallenge)
	}
	if !wellFormedToken(token) {
		return "", persistence.ErrInvalidToken
	}
	return strings.ToLower(token), nil
}

// caller returns the user of the request's bearer token, for a handler
// that checks the token in a statement of its own.
func (h *handler) caller(c *gin.Context) (persistence.User, error) {
	token, err := requireToken(c)
	if err != nil {
		return persistence.User{}, err
	}
	return h.store.Authenticate(c.Request.Context(), token)
}

// callerAndID returns the caller and the id path parameter, the start of
// the handlers of one user or post that check the token on its own.
func (h *handler) callerAndID(c *gin.Context) (persistence.User, int64, error) {
	caller, err := h.caller(c)
	if err != nil {
		return persistence.User{}, 0, err
	}
	id, err := parseID(c, "id")
	return caller, id, err
}

// tokenAndID returns the request's bearer token and its id path parameter,
// for a handler whose one statement checks the token with the rest.
func (h *handler) tokenAndID(c *gin.Context) (string, int64, error) {
	token, err := requireToken(c)
	if err != nil {
		return "", 0, err
	}
	id, err := parseID(c, "id")
	if err != nil {
		return "", 0, h.tokenFirst(c, token, err)
	}
	return token, id, nil
}

// tokenIDAndPage returns the request's bearer token, its id path
// parameter and the page asked for, for a handler of a list whose one
// statement checks the token with the rest.
func (h *handler) tokenIDAndPage(c *gin.Context) (string, int64, pageRequest, error) {
	token, id, err := h.tokenAndID(c)
	if err != nil {
		return "", 0, pageRequest{}, err
	}
	r, err := pageParams(c)
	if err != nil {
		return "", 0, pageRequest{}, h.tokenFirst(c, token, err)
	}
	return token, id, r, nil
}

// tokenFirst is the answer to a request that is wrong besides its token,
// as paramErr says, for a handler whose one statement checks the token
// with the rest: the token is checked alone, so that a bad token is told
// before a bad parameter, as everywhere else.
func (h *handler) tokenFirst(c *gin.Context, token string, paramErr error) error {
	if _, err := h.store.Authenticate(c.Request.Context(), token); err != nil {
		return err
	}
	return paramErr
}
