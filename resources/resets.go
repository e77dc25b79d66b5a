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
	in, err := h.readReset(obj)
	if err != nil {
		return err
	}
	if in.email != "" {
		return h.requestReset(c, in.email)
	}
	if err := h.store.ResetPassword(c.Request.Context(), in.token, in.password); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

// resetInput is a POST of the password reset resource: an email address
// (the template "request"), or a token and a new password ("reset").
type resetInput struct {
	email, token, password string
}

// readReset reads and checks the members of a POST of the password reset
// resource. A token that cannot be one the server mailed is refused here,
// as one it did not mail would be.
func (h *handler) readReset(obj object) (resetInput, error) {
	_, email := obj["email"]
	_, token := obj["token"]
	switch {
	case email && token:
		return resetInput{}, fieldError("email", "send email alone to ask for a reset mail, or token and password to reset the password")
	case email:
		e, err := h.member(obj, h.fields.email)
		return resetInput{email: e}, err
	case !token:
		return resetInput{}, fieldError("email", "send email to ask for a reset mail, or token and password to reset the password")
	}
	t, err := obj.str("token", false)
	if err != nil {
		return resetInput{}, err
	}
	password, err := h.member(obj, h.fields.password)
	if err != nil {
		return resetInput{}, err
	}
	in := resetInput{token: strings.ToLower(*t), password: password}
	if !resetTokenPattern.MatchString(in.token) {
		return resetInput{}, persistence.ErrInvalidResetToken
	}
	return in, nil
}

// requestReset queues a mail with a reset token to the user of the email
// address, if there is one: 202 either way, after the same work, so that
// the answer tells nothing about who has an account.
func (h *handler) requestReset(c *gin.Context, email string) error {
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
