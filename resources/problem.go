package resources

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strconv"

	"github.com/gin-gonic/gin"

	"microblog/hal"
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
// status, the problem type and the safe detail to send.
type httpError struct {
	status int
	// problem names the type of the problem, /api/problems/<problem>: the
	// status's own (statusProblems) unless the constructor says otherwise.
	problem string
	detail  string
	params  []invalidParam
	header  map[string]string
}

func (e *httpError) Error() string { return strconv.Itoa(e.status) + " " + e.detail }

// statusProblems names the problem type of each status the server sends,
// where nothing more particular is known: the one table of them, whose
// titles and descriptions are in problems.json.
var statusProblems = map[int]string{
	http.StatusBadRequest:                  "malformed-body",
	http.StatusUnauthorized:                "unauthorized",
	http.StatusForbidden:                   "forbidden",
	http.StatusNotFound:                    "not-found",
	http.StatusMethodNotAllowed:            "method-not-allowed",
	http.StatusNotAcceptable:               "not-acceptable",
	http.StatusRequestTimeout:              "request-timeout",
	http.StatusConflict:                    "conflict",
	http.StatusPreconditionFailed:          "precondition-failed",
	http.StatusRequestEntityTooLarge:       "payload-too-large",
	http.StatusUnsupportedMediaType:        "unsupported-media-type",
	http.StatusPreconditionRequired:        "precondition-required",
	http.StatusTooManyRequests:             "rate-limited",
	http.StatusRequestHeaderFieldsTooLarge: "header-fields-too-large",
	statusClientClosed:                     "client-closed-request",
	http.StatusInternalServerError:         "internal-error",
	http.StatusNotImplemented:              "not-implemented",
	http.StatusServiceUnavailable:          "unavailable",
}

// The problem types that a status alone does not tell.
const (
	problemValidation       = "validation"
	problemUsernameTaken    = "username-taken"
	problemEmailTaken       = "email-taken"
	problemCannotFollowSelf = "cannot-follow-self"
	problemInvalidToken     = "invalid-token"
)

// newError is an error of the problem type of status.
func newError(status int, detail string) *httpError {
	return &httpError{status: status, problem: statusProblems[status], detail: detail}
}

// badRequest is a 400 about the request as a whole: a malformed body.
func badRequest(detail string) *httpError {
	return newError(http.StatusBadRequest, detail)
}

// invalid is a 400 about fields, the first of which gives the detail.
func invalid(params ...invalidParam) *httpError {
	return &httpError{status: http.StatusBadRequest, problem: problemValidation, detail: params[0].Reason, params: params}
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

// as gives e the problem type named problem, for a case of its status that
// a client must be able to tell from the others.
func (e *httpError) as(problem string) *httpError {
	e.problem = problem
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
		return newError(http.StatusUnauthorized, "the token is unknown, expired or revoked").as(problemInvalidToken).
			with("WWW-Authenticate", bearerChallenge+`, error="invalid_token"`)
	case errors.Is(err, persistence.ErrBadCredentials):
		return newError(http.StatusUnauthorized, "the username or password is wrong").
			with("WWW-Authenticate", basicChallenge)
	case errors.Is(err, persistence.ErrForbidden):
		return newError(http.StatusForbidden, "you may only change your own posts")
	case errors.Is(err, persistence.ErrSelfFollow):
		return badRequest("you cannot follow yourself").as(problemCannotFollowSelf)
	case errors.Is(err, persistence.ErrSelfMessage):
		return badRequest("you cannot write a message to yourself").as(problemCannotMessageSelf)
	case errors.Is(err, persistence.ErrInvalidResetToken):
		return badRequest("the reset token is unknown, used or expired: ask for another").as(problemInvalidResetToken)
	case errors.Is(err, persistence.ErrPasswordIsUsername):
		return fieldError("password", "password must not be the username")
	case errors.Is(err, persistence.ErrWrongPassword):
		return fieldError("old_password", "old_password is not the current password")
	case errors.As(err, &ce) && ce.Field == "username":
		// The tutorial's 400 for a taken username or email.
		return fieldError("username", "please use a different username").as(problemUsernameTaken)
	case errors.As(err, &ce) && ce.Field == "email":
		return fieldError("email", "please use a different email address").as(problemEmailTaken)
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
<p><a href="{{.Type}}">About this problem</a></p>
<p><a href="{{.Base}}/api">Microblog API</a></p></body></html>
`))

// problemPath is the path of the problem type named name, which documents
// it.
func problemPath(name string) string { return "/api/problems/" + name }

// writeError is the one exit for failures: it logs what the client must not
// see and sends a problem document, or an HTML page to a browser asking for
// a page that is not there.
func writeError(c *gin.Context, log *slog.Logger, err error) {
	he := asHTTPError(err)
	// A 501 is a method the client made up, not a failure of the server.
	if he.status >= 500 && he.status != http.StatusNotImplemented {
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
	// A status missing from statusProblems would say no more than itself.
	typ := "about:blank"
	if he.problem != "" {
		typ = c.GetString(ctxBase) + problemPath(he.problem)
	}
	switch he.status {
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusInternalServerError:
		if prefersHTML(c.GetHeader("Accept")) {
			c.Header("Content-Type", "text/html; charset=utf-8")
			c.Status(he.status)
			if c.Request.Method != http.MethodHead {
				_ = errorPage.Execute(c.Writer, map[string]any{"Status": he.status, "Title": title,
					"Detail": he.detail, "Type": typ, "Base": c.GetString(ctxBase)})
			}
			return
		}
	}
	body, _ := json.Marshal(problem{ // a problem of strings and ints always marshals
		Type: typ, Title: title, Status: he.status, Detail: he.detail,
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

// problemDoc documents a problem type: what its name is, with which status
// it comes and what a client should make of it.
type problemDoc struct {
	Name        string `json:"name"`
	Status      int    `json:"status"`
	Title       string `json:"title"`
	Description string `json:"description"`
}

// problemsJSON documents every problem type, by name: data, read once by
// readProblems.
//
//go:embed problems.json
var problemsJSON []byte

// readProblems returns the documentation of the problem types, which must
// document each type of statusProblems with its status.
func readProblems() ([]problemDoc, error) {
	var docs []problemDoc
	if err := json.Unmarshal(problemsJSON, &docs); err != nil {
		return nil, fmt.Errorf("resources: problems.json: %w", err)
	}
	for status, name := range statusProblems {
		if !slices.ContainsFunc(docs, func(d problemDoc) bool { return d.Name == name && d.Status == status }) {
			return nil, fmt.Errorf("resources: problems.json: no %s of status %d", name, status)
		}
	}
	return docs, nil
}

var problemPage = template.Must(template.New("problem").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body><h1>{{.Title}}</h1><p>{{.Description}}</p>
<dl><dt>Type</dt><dd><code>/api/problems/{{.Name}}</code></dd>
<dt>Status</dt><dd>{{.Status}}</dd></dl>
<p><a href="../docs#problems">More in the documentation</a></p>
<p><a href="../../api">Microblog API</a></p></body></html>
`))

// getProblem serves GET /api/problems/:name, the document of a problem
// type, as HTML to a browser and as HAL to everyone else.
func (h *handler) getProblem(c *gin.Context) error {
	i := slices.IndexFunc(h.problemTypes, func(d problemDoc) bool { return d.Name == c.Param("name") })
	if i < 0 {
		return notFound()
	}
	return h.renderDoc(c, problemPage, h.problemTypes[i], problemResource(h.problemTypes[i]))
}

// problemResource is the HAL document of a problem type.
func problemResource(doc problemDoc) *hal.Resource {
	return hal.New(doc).AddLink("self", hal.Link{Href: problemPath(doc.Name)})
}
