package resources

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"microblog/persistence"
)

// problemMediaType is the media type of error bodies (RFC 9457).
const problemMediaType = "application/problem+json"

// invalidParam names one field of a request and what is wrong with it.
type invalidParam struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// problem is an error body. error and message repeat title and detail for
// clients written against the Flask Mega-Tutorial's API.
type problem struct {
	Type          string         `json:"type"`
	Title         string         `json:"title"`
	Status        int            `json:"status"`
	Detail        string         `json:"detail,omitempty"`
	Error         string         `json:"error"`
	Message       string         `json:"message,omitempty"`
	InvalidParams []invalidParam `json:"invalid_params,omitempty"`
}

// statusClientClosed is nginx's code for a request whose client closed the
// connection before the answer.
const statusClientClosed = 499

// httpError is an error that a client caused or must hear about, with the
// status and safe detail to send.
type httpError struct {
	status int
	detail string
	params []invalidParam
	header map[string]string
}

func (e *httpError) Error() string { return strconv.Itoa(e.status) + " " + e.detail }

func newError(status int, detail string) *httpError {
	return &httpError{status: status, detail: detail}
}

// badRequest is a 400 about the request as a whole.
func badRequest(detail string) *httpError {
	return newError(http.StatusBadRequest, detail)
}

// invalid is a 400 about fields, the first of which gives the detail.
func invalid(params ...invalidParam) *httpError {
	return &httpError{status: http.StatusBadRequest, detail: params[0].Reason, params: params}
}

// fieldError is a 400 about one field.
func fieldError(name, reason string) *httpError {
	return invalid(invalidParam{Name: name, Reason: reason})
}

func notFound() *httpError {
	return newError(http.StatusNotFound, "")
}

func (e *httpError) with(key, value string) *httpError {
	if e.header == nil {
		e.header = map[string]string{}
	}
	e.header[key] = value
	return e
}

// asHTTPError maps any error to what the client is told: this is the one
// table from the store's errors to statuses. Only errors that are the
// client's business say more than the status.
func asHTTPError(err error) *httpError {
	var (
		he *httpError
		ce *persistence.ConflictError
	)
	switch {
	case errors.As(err, &he):
		return he
	case errors.Is(err, persistence.ErrNotFound):
		return notFound()
	case errors.Is(err, persistence.ErrInvalidToken):
		return newError(http.StatusUnauthorized, "the token is unknown, expired or revoked").
			with("WWW-Authenticate", bearerChallenge+`, error="invalid_token"`)
	case errors.Is(err, persistence.ErrBadCredentials):
		return newError(http.StatusUnauthorized, "the username or password is wrong").
			with("WWW-Authenticate", basicChallenge)
	case errors.Is(err, persistence.ErrForbidden):
		return newError(http.StatusForbidden, "you may only change your own posts")
	case errors.Is(err, persistence.ErrSelfFollow):
		return badRequest("you cannot follow yourself")
	case errors.Is(err, persistence.ErrWrongPassword):
		return fieldError("old_password", "old_password is not the current password")
	case errors.As(err, &ce) && ce.Field == "username":
		// The tutorial's 400 for a taken username or email.
		return fieldError("username", "please use a different username")
	case errors.As(err, &ce) && ce.Field == "email":
		return fieldError("email", "please use a different email address")
	case errors.Is(err, persistence.ErrConflict):
		return newError(http.StatusConflict, "")
	case errors.Is(err, persistence.ErrStale):
		// A write conditional on the version the client's If-Match named
		// found the row changed meanwhile.
		return stale()
	case errors.Is(err, context.Canceled):
		// The client went away; no one reads this answer, but the log and
		// the metrics should not call it the server's fault.
		return newError(statusClientClosed, "")
	case errors.Is(err, persistence.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return newError(http.StatusServiceUnavailable, "the database is unavailable; try again shortly").
			with("Retry-After", "1")
	}
	return newError(http.StatusInternalServerError, "")
}

var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Status}} {{.Title}}</title></head>
<body><h1>{{.Status}} {{.Title}}</h1>{{with .Detail}}<p>{{.}}</p>{{end}}
<p><a href="/api">Microblog API</a></p></body></html>
`))

// writeError is the one exit for failures: it logs what the client must not
// see and sends a problem document, or an HTML page to a browser asking for
// a page that is not there.
func writeError(c *gin.Context, log *slog.Logger, err error) {
	he := asHTTPError(err)
	if he.status >= 500 {
		log.ErrorContext(c.Request.Context(), "request failed", "err", err,
			"method", c.Request.Method, "path", c.Request.URL.Path, "request_id", requestID(c))
	}
	for k, v := range he.header {
		c.Header(k, v)
	}
	title := http.StatusText(he.status)
	if he.status == statusClientClosed {
		title = "Client Closed Request"
	}
	switch he.status {
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusInternalServerError:
		if prefersHTML(c.GetHeader("Accept")) {
			c.Header("Content-Type", "text/html; charset=utf-8")
			c.Status(he.status)
			if c.Request.Method != http.MethodHead {
				_ = errorPage.Execute(c.Writer, problem{Status: he.status, Title: title, Detail: he.detail})
			}
			return
		}
	}
	body, _ := json.Marshal(problem{ // a problem of strings and ints always marshals
		Type: "about:blank", Title: title, Status: he.status, Detail: he.detail,
		Error: title, Message: he.detail, InvalidParams: he.params,
	})
	writeBody(c, he.status, problemMediaType, append(body, '\n'))
}

// writeBody sends body, or only its headers to a HEAD request.
func writeBody(c *gin.Context, status int, contentType string, body []byte) {
	c.Header("Content-Type", contentType)
	c.Header("Content-Length", strconv.Itoa(len(body)))
	c.Status(status)
	if c.Request.Method != http.MethodHead {
		_, _ = c.Writer.Write(body)
	}
}
