package resources

import (
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"microblog/hal"
	"microblog/persistence"
)

// Link relations of notifications.
const (
	relNotifications = "mb:notifications"
	relActor         = "mb:actor"
	relSubject       = "mb:subject"
)

const notificationsPath = "/api/notifications"

func notificationPath(id int64) string { return notificationsPath + "/" + strconv.FormatInt(id, 10) }

type notificationView struct {
	ID        int64     `json:"id"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	Read      bool      `json:"read"`
}

// actorView is the user who acted, as a notification embeds them: their id
// and username.
type actorView struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
}

// notificationResource is n: what happened, linked to the user who did it
// (embedded too, partially) and to what it is about.
func notificationResource(n persistence.Notification) *hal.Resource {
	actor := hal.Link{Href: userPath(n.Actor.ID)}
	return hal.New(notificationView{ID: n.ID, Type: n.Type, CreatedAt: n.CreatedAt.UTC(), Read: n.Read}).
		AddLink("self", hal.Link{Href: notificationPath(n.ID)}).
		AddLink(relActor, hal.Link{Href: actor.Href, Name: n.Actor.Username}).
		AddLink(relSubject, subjectLink(n)).
		Embed(relActor, hal.New(actorView{ID: n.Actor.ID, Username: n.Actor.Username}).AddLink("self", actor))
}

// notificationDocument is n as a top-level document: on its own URL, and
// as the data of an event.
func notificationDocument(n persistence.Notification) *hal.Resource {
	return addCuries(notificationResource(n))
}

// subjectLink is what n is about: the actor, who followed; the message
// they wrote; or the post that replies, that was liked or that mentions.
func subjectLink(n persistence.Notification) hal.Link {
	switch n.Type {
	case "follow":
		return hal.Link{Href: userPath(n.Actor.ID)}
	case "message":
		return hal.Link{Href: "/api/messages/" + strconv.FormatInt(n.MessageID, 10)}
	}
	return hal.Link{Href: postPath(n.PostID)}
}

// notificationPageView is the properties of a page of notifications: the
// page's _meta, with how many of all the caller's notifications are
// unread.
type notificationPageView struct {
	Meta notificationMeta `json:"_meta"`
}

type notificationMeta struct {
	hal.PageMeta
	Unread int64 `json:"unread"`
}

// notificationPage is page as asked for by r, with the template that
// marks its newest notification and the older ones read.
func notificationPage(page persistence.NotificationPage, r pageRequest) *hal.Resource {
	items := make([]*hal.Resource, len(page.Notifications))
	for i, n := range page.Notifications {
		items[i] = notificationResource(n)
	}
	p := r.hal(page.Listing, len(items))
	res := hal.New(notificationPageView{Meta: notificationMeta{PageMeta: p.Meta(), Unread: page.Unread}}).
		AddPageLinks(notificationsPath, p)
	addCuries(res).EmbedAll(relNotifications, items)
	if len(page.Notifications) > 0 {
		res.AddTemplate("mark-read", markReadForm(page.Notifications[0].ID))
	}
	return res
}

// markReadForm is the template that marks notification upTo and every
// older one read.
func markReadForm(upTo int64) hal.Template {
	return hal.Template{Title: "Mark read", Method: http.MethodPost, Target: notificationsPath, ContentType: jsonType,
		Properties: []hal.Property{{Name: "up_to", Type: "number", Required: true, Value: strconv.FormatInt(upTo, 10),
			Prompt: "Mark read this notification and every older one (a notification's id)"}}}
}

// listNotifications serves GET /api/notifications: a page of the caller's
// notifications, newest first, in one statement with the token check, or
// their live stream (streamNotifications). The page's entity tag is made
// from the version of the caller's inbox, which every change to what the
// page shows bumps: a conditional GET reads that alone, with the token
// check, and a poll that finds nothing new is a 304 that read no
// notification.
func (h *handler) listNotifications(c *gin.Context) error {
	token, err := requireToken(c)
	if err != nil {
		return err
	}
	if mediaType(c) == eventStreamType {
		return h.streamNotifications(c, token)
	}
	r, err := pageParams(c)
	if err != nil {
		return h.tokenFirst(c, token, err)
	}
	ctx := c.Request.Context()
	if conditional(c) {
		caller, version, err := h.store.InboxVersion(ctx, token)
		if err != nil {
			return err
		}
		if notModified(c, h.notificationsTag(c, caller.ID, version, r), time.Time{}) {
			return nil
		}
	}
	page, err := h.store.Notifications(ctx, token, r.store())
	if err != nil {
		return err
	}
	dependOn(c, persistence.NotificationsOf(page.Caller.ID))
	for _, n := range page.Notifications {
		dependOn(c, persistence.UserTopic(n.Actor.ID))
	}
	return h.renderWith(c, http.StatusOK, notificationPage(page, r),
		h.notificationsTag(c, page.Caller.ID, page.Version, r), time.Time{})
}

// notificationsTag is the entity tag of the page r of the notifications of
// caller whose inbox is at version, in the negotiated media type.
func (h *handler) notificationsTag(c *gin.Context, caller, version int64, r pageRequest) string {
	return entityTag(h.tagSalt, "notifications", strconv.FormatInt(caller, 10), strconv.FormatInt(version, 10),
		strconv.FormatInt(r.number, 10), strconv.FormatInt(r.size, 10), formatCursor(r.after), mediaType(c), h.base(c))
}

// getNotification serves GET /api/notifications/:id: one of the caller's
// notifications; anyone else's is not found.
func (h *handler) getNotification(c *gin.Context) error {
	token, id, err := h.tokenAndID(c)
	if err != nil {
		return err
	}
	n, err := h.store.Notification(c.Request.Context(), token, id)
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, notificationDocument(n))
}

// markNotificationsRead serves POST /api/notifications: the notification
// up_to names and every older one of the caller's are read.
func (h *handler) markNotificationsRead(c *gin.Context) error {
	token, err := requireToken(c)
	if err != nil {
		return err
	}
	upTo, err := readUpTo(c)
	if err != nil {
		return h.tokenFirst(c, token, err)
	}
	if err := h.store.MarkRead(c.Request.Context(), token, upTo); err != nil {
		return err
	}
	h.invalidates(c, notificationsPath)
	c.Status(http.StatusNoContent)
	return nil
}

// positiveInteger is a positive integer as it is written: no fraction,
// exponent, sign or leading zero.
var positiveInteger = regexp.MustCompile(`^[1-9][0-9]{0,18}$`)

// readUpTo reads up_to, the id of a notification, from the body: a JSON
// integer, or a string that holds one, which is what a HAL-FORMS client
// that sends the template's property back as shown sends.
func readUpTo(c *gin.Context) (int64, error) {
	obj, err := decodeObject(c, jsonType, hal.MediaType)
	if err != nil {
		return 0, err
	}
	raw, ok := obj["up_to"]
	if !ok {
		return 0, fieldError("up_to", "up_to is required: the id of the newest notification to mark read")
	}
	digits := string(raw)
	if s, err := obj.str("up_to", false); err == nil {
		digits = *s
	}
	id, err := strconv.ParseInt(digits, 10, 64)
	if !positiveInteger.MatchString(digits) || err != nil {
		return 0, fieldError("up_to", "up_to must be a positive integer: the id of a notification")
	}
	return id, nil
}
