package resources

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"microblog/hal"
	"microblog/persistence"
)

// Link relations of private messages.
const (
	relMessages  = "mb:messages"
	relSender    = "mb:sender"
	relRecipient = "mb:recipient"
)

// problemCannotMessageSelf is the problem type of a message to oneself,
// which a status alone does not tell.
const problemCannotMessageSelf = "cannot-message-self"

// messagesPath is the caller's messages, sent and received.
const messagesPath = "/api/messages"

func messagePath(id int64) string { return messagesPath + "/" + strconv.FormatInt(id, 10) }

// messagesTo is where a message to user id is written.
func messagesTo(id int64) string { return userPath(id) + "/messages" }

type messageView struct {
	ID        int64     `json:"id"`
	Body      string    `json:"body"`
	Timestamp time.Time `json:"timestamp"`
}

// messageResource is m as both its parties see it: the sender and the
// recipient linked, named by their usernames. Like a post's author, they
// are linked, not embedded.
func messageResource(m persistence.Message) *hal.Resource {
	return hal.New(messageView{ID: m.ID, Body: m.Body, Timestamp: m.CreatedAt.UTC()}).
		AddLink("self", hal.Link{Href: messagePath(m.ID)}).
		AddLink(relSender, hal.Link{Href: userPath(m.Sender.ID), Name: m.Sender.Username}).
		AddLink(relRecipient, hal.Link{Href: userPath(m.Recipient.ID), Name: m.Recipient.Username})
}

// messageForm is the template that writes to u: its body is checked as a
// post's is.
func (h *handler) messageForm(u persistence.User) hal.Template {
	body := h.fields.body.property("")
	body.Prompt = "Your message to " + u.Username + " (at most 140 characters, " + codePoints + ")"
	return hal.Template{Title: "Write to " + u.Username, Method: http.MethodPost, Target: messagesTo(u.ID),
		ContentType: jsonType, Properties: []hal.Property{body}}
}

// messageTag is the entity tag of m in media type mt: a message never
// changes, but the names of its parties in its links do.
func (h *handler) messageTag(c *gin.Context, m persistence.Message, mt string) string {
	return entityTag(h.tagSalt, "message", strconv.FormatInt(m.ID, 10),
		strconv.FormatInt(m.Sender.ID, 10), m.Sender.Username,
		strconv.FormatInt(m.Recipient.ID, 10), m.Recipient.Username, mt, h.base(c))
}

// messageModified is when m's representation last changed: when it was
// written, or, if later, a party's last change, which may have been a
// rename (as postModified counts the author's).
func messageModified(m persistence.Message) time.Time {
	modified := m.CreatedAt
	for _, party := range []time.Time{m.Sender.ChangedAt, m.Recipient.ChangedAt} {
		if party.After(modified) {
			modified = party
		}
	}
	return modified
}

// renderMessage sends the representation of m with its validators, or a
// 304 when the client has it already.
func (h *handler) renderMessage(c *gin.Context, status int, m persistence.Message) error {
	return h.renderWith(c, status, addCuries(messageResource(m)), h.messageTag(c, m, mediaType(c)),
		messageModified(m))
}

// createMessage serves POST /api/users/:id/messages: the caller writes to
// user id, who is notified of it in the same transaction.
func (h *handler) createMessage(c *gin.Context) error {
	caller, id, err := h.callerAndID(c)
	if err != nil {
		return err
	}
	if id == caller.ID {
		return persistence.ErrSelfMessage // a 400 comes before any precondition
	}
	if err := h.messagePrecondition(c, id); err != nil {
		return err
	}
	body, err := h.readBody(c, jsonType, hal.MediaType)
	if err != nil {
		return err
	}
	m, err := h.store.SendMessage(c.Request.Context(), caller.ID, id, body)
	if err != nil {
		return err
	}
	c.Header("Location", h.base(c)+messagePath(m.ID))
	h.invalidates(c, messagesPath)
	h.represents(c, messagePath(m.ID))
	return h.renderMessage(c, http.StatusCreated, m)
}

// messagePrecondition evaluates the preconditions of a message to user id.
// The target only takes messages and has no representation: If-Match fails
// on it, and If-None-Match: * holds. An unknown user is a 404 before any
// precondition (RFC 9110 13.2.1), which costs a statement only when the
// request has preconditions; without them the write itself finds out.
func (h *handler) messagePrecondition(c *gin.Context, id int64) error {
	if !preconditioned(c) {
		return nil
	}
	if _, err := h.store.User(c.Request.Context(), id); err != nil {
		return err
	}
	_, err := checkPreconditions(c, target{}, false)
	return err
}

// getMessage serves GET /api/messages/:id in one statement with the token
// check: only to the message's sender and recipient, and a 404 to anyone
// else, as if it did not exist.
func (h *handler) getMessage(c *gin.Context) error {
	token, id, err := h.tokenAndID(c)
	if err != nil {
		return err
	}
	cm, err := h.store.MessageFor(c.Request.Context(), token, id)
	if err != nil {
		return err
	}
	return h.renderMessage(c, http.StatusOK, cm.Message)
}

// listMessages serves GET /api/messages: the messages the caller sent and
// received, newest first, in one statement with the token check.
func (h *handler) listMessages(c *gin.Context) error {
	token, err := requireToken(c)
	if err != nil {
		return err
	}
	r, err := pageParams(c)
	if err != nil {
		return h.tokenFirst(c, token, err)
	}
	page, err := h.store.Messages(c.Request.Context(), token, r.store())
	if err != nil {
		return err
	}
	items := make([]*hal.Resource, len(page.Messages))
	for i, m := range page.Messages {
		items[i] = messageResource(m)
	}
	return h.render(c, http.StatusOK, collection(messagesPath, relMessages, items, r.hal(page.Listing, len(page.Messages))))
}
