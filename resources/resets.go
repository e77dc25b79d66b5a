package resources

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/gin-gonic/gin"

	"microblog/hal"
	"microblog/persistence"
)

// relPasswordReset is the rel of the password reset resource, which the
// root links for everyone.
const relPasswordReset = "mb:password-reset"

const (
	passwordResetPath        = "/api/password-reset"
	problemInvalidResetToken = "invalid-reset-token"
)

// resetTokenPattern is the shape of a reset token as the mail gives it.
var resetTokenPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

type passwordResetView struct {
	Title string `json:"title"`
}

// getPasswordReset serves GET /api/password-reset, the same for everyone:
// the templates that ask for a reset mail and that reset a password with
// its token.
func (h *handler) getPasswordReset(c *gin.Context) error {
	res := hal.New(passwordResetView{Title: "Reset a forgotten password"}).
		AddLink("self", hal.Link{Href: passwordResetPath})
	c.Header("Cache-Control", cachePublic)
	return h.render(c, http.StatusOK, h.passwordResetTemplates(addCuries(res)))
}

// passwordResetTemplates adds the templates of the password reset resource
// to res.
func (h *handler) passwordResetTemplates(res *hal.Resource) *hal.Resource {
	return res.AddTemplate("request", hal.Template{Title: "Mail me a reset token", Method: http.MethodPost,
		Target: passwordResetPath, ContentType: jsonType, Properties: []hal.Property{h.fields.email.property("")}}).
		AddTemplate("reset", hal.Template{Title: "Set a new password with the token from the mail", Method: http.MethodPost,
			Target: passwordResetPath, ContentType: jsonType, Properties: []hal.Property{
				{Name: "token", Prompt: "Reset token (the 64 hex digits of the mail)", Type: "text", Required: true,
					Regex: resetTokenPattern.String(), MinLength: persistence.ResetTokenLength, MaxLength: persistence.ResetTokenLength},
				h.fields.password.property("")}})
}

// postPasswordReset serves POST /api/password-reset: with email, the
// template "request"; with token and password, the template "reset".
func (h *handler) postPasswordReset(c *gin.Context) error {
	c.Header("Cache-Control", "no-store")
	obj, err := decodeObject(c, jsonType, hal.MediaType)
	if err != nil {
		return err
	}
	_, email := obj["email"]
	_, token := obj["token"]
	switch {
	case email && token:
		return fieldError("email", "send email alone to ask for a reset mail, or token and password to reset the password")
	case email:
		return h.requestReset(c, obj)
	case token:
		return h.resetPassword(c, obj)
	}
	return fieldError("email", "send email to ask for a reset mail, or token and password to reset the password")
}

// requestReset queues a mail with a reset token to the user of the email
// address, if there is one: 202 either way, after the same work, so that
// the answer tells nothing about who has an account.
func (h *handler) requestReset(c *gin.Context, obj object) error {
	email, err := h.member(obj, h.fields.email)
	if err != nil {
		return err
	}
	if err := h.admit(c, "password reset requests", check{h.resetByAddress, c.ClientIP()},
		check{h.resetByEmail, strings.ToLower(email)}); err != nil {
		return err
	}
	if err := h.store.RequestReset(c.Request.Context(), email); err != nil {
		return err
	}
	res := hal.New(passwordResetView{Title: "If a user has this address, a mail with a reset token is on its way to it"}).
		AddLink("self", hal.Link{Href: passwordResetPath})
	return h.render(c, http.StatusAccepted, addCuries(res))
}

// resetPassword sets a new password with a reset token, which logs the
// user out everywhere: 204.
func (h *handler) resetPassword(c *gin.Context, obj object) error {
	token, err := obj.str("token", false)
	if err != nil {
		return err
	}
	password, err := h.member(obj, h.fields.password)
	if err != nil {
		return err
	}
	t := strings.ToLower(*token)
	if !resetTokenPattern.MatchString(t) {
		return persistence.ErrInvalidResetToken
	}
	if err := h.store.ResetPassword(c.Request.Context(), t, password); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

// member reads the required member f of obj, normalized and checked.
func (h *handler) member(obj object, f field) (string, error) {
	v, err := f.read(obj, http.MethodPost)
	if err != nil {
		return "", err
	}
	if v == nil {
		return "", fieldError(f.prop.Name, f.prop.Name+" is required")
	}
	if f.normalize != nil {
		*v = f.normalize(*v)
	}
	if reason := f.check(*v); reason != "" {
		return "", fieldError(f.prop.Name, reason)
	}
	return *v, nil
}
