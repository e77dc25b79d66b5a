package persistence

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Notification tells a user, its Recipient, that Actor did something of
// Type: "follow" (followed them), "reply" (replied to their post with the
// post PostID), "like" (liked their post PostID), "mention" (mentioned them
// in the post PostID) or "message" (wrote them the message MessageID).
// Triggers write notifications in the transaction of the act (migrations
// 00011 and 00013).
type Notification struct {
	ID        int64
	Recipient int64
	Type      string
	CreatedAt time.Time
	Read      bool
	// PostID and MessageID are 0 when the type has none.
	PostID    int64
	MessageID int64
	Actor     Actor
}

// Actor is the part of the user who acted that a notification shows.
type Actor struct {
	ID       int64
	Username string
}

// columns are the columns of a notification row and where a scan puts
// them.
func (n *Notification) columns() []column {
	return []column{{name: "id", dest: int8Dest{&n.ID}}, {name: "user_id", dest: int8Dest{&n.Recipient}},
		{name: "type", dest: textDest{&n.Type}}, {name: "created_at", dest: timeDest{&n.CreatedAt}},
		{name: "read", dest: boolDest{&n.Read}}, {name: "post_id", dest: int8Dest{&n.PostID}},
		{name: "message_id", dest: int8Dest{&n.MessageID}}}
}

// columns are the columns of an actor, from their user row.
func (a *Actor) columns() []column {
	return []column{{name: "id", dest: int8Dest{&a.ID}}, {name: "username", dest: textDest{&a.Username}}}
}

// notificationAndActor is the select list of a notification n and its
// actor a, which Notification.dests scans.
var notificationAndActor = columnList("n", new(Notification).columns()) + ", " + columnList("a", new(Actor).columns())

// dests are the destinations of notificationAndActor.
func (n *Notification) dests() []any { return dests(n.columns(), n.Actor.columns()) }

// NotificationPage is a page of the caller's notifications, with the state
// of their inbox: how many are unread, and its Version, which every new
// notification, every marking read, every notification gone and every
// rename of an actor bumps.
type NotificationPage struct {
	Caller        User
	Notifications []Notification
	Unread        int64
	Version       int64
	Listing
}

// inboxOf is the join of the caller's inbox o: zeros for a user never
// notified, who has no row.
const inboxOf = `
	LEFT JOIN inboxes i ON i.user_id = u.id
	CROSS JOIN LATERAL (
		SELECT coalesce(i.total, 0) AS total, coalesce(i.unread, 0) AS unread, coalesce(i.version, 0) AS version
	) o`

// notificationsOf is the list of the caller's notifications, newest (the
// largest id) first.
var notificationsOf = list{from: "notifications m", where: "m.user_id = u.id", idDesc: true, id: "m.id", total: "o.total"}

// selectNotifications is a page of notificationsOf with the check of the
// token, in one statement: the caller's columns, the inbox's total, unread
// count and version, the key of the previous page's cursor, and the
// notification with its actor, found by LATERAL lookups as the users of a
// page of users are.
var selectNotifications = callerCTE + `
	SELECT ` + callerColumns + `, o.total, o.unread, o.version, pv.id, ` + notificationAndActor + callerFrom + inboxOf +
	notificationsOf.joins(3) + `
	LEFT JOIN LATERAL (SELECT * FROM notifications WHERE id = k.id LIMIT 1) n ON true
	LEFT JOIN LATERAL (SELECT * FROM users WHERE id = n.actor_id LIMIT 1) a ON true
	ORDER BY ` + notificationsOf.order()

// Notifications returns the user holding token and a page of their
// notifications, newest first, with the state of their inbox.
func (s *Store) Notifications(ctx context.Context, token string, p Page) (NotificationPage, error) {
	var (
		page   NotificationPage
		n      Notification
		prevID *int64
	)
	dest := append([]any{&page.Total, &page.Unread, &page.Version, &prevID}, n.dests()...)
	var err error
	page.Caller, page.Notifications, err = collectAsCaller(ctx, s, selectNotifications, token, p.args(notificationsOf),
		dest, &n, &n.ID)
	if err != nil {
		return NotificationPage{}, wrap("notifications", err)
	}
	page.Prev = cursorOf(nil, prevID)
	if k := len(page.Notifications); k > 0 {
		page.Next = &Cursor{ID: page.Notifications[k-1].ID}
	}
	return page, nil
}

var selectInboxVersion = callerCTE + `
	SELECT ` + callerColumns + `, o.version` + callerFrom + inboxOf

// InboxVersion returns the user holding token and the version of their
// inbox, which makes the validators of their notifications, in one
// statement that reads no notification.
func (s *Store) InboxVersion(ctx context.Context, token string) (User, int64, error) {
	var version int64
	caller, err := s.rowAsCaller(ctx, selectInboxVersion, token, nil, &version)
	if err != nil {
		return User{}, 0, wrap("inbox version", err)
	}
	return caller, version, nil
}

// rowAsCaller runs query, a statement that begins with callerCTE and
// returns one row, with the check of token as its $1 and $2 and args after
// them, and scans the row's other columns into dest. It returns the caller,
// or ErrInvalidToken when there was no row.
func (s *Store) rowAsCaller(ctx context.Context, query, token string, args []any, dest ...any) (User, error) {
	rows, err := s.queryAsCaller(ctx, query, token, args...)
	if err != nil {
		return User{}, err
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return User{}, err
		}
	}
	return rows.caller()
}

var selectCallerNotification = callerCTE + `
	SELECT ` + callerColumns + `, ` + notificationAndActor + callerFrom + `
	LEFT JOIN notifications n ON n.id = $3 AND n.user_id = u.id
	LEFT JOIN users a ON a.id = n.actor_id`

// Notification returns notification id of the user holding token, in one
// statement with the check of the token; ErrNotFound when there is no such
// notification or it is someone else's.
func (s *Store) Notification(ctx context.Context, token string, id int64) (Notification, error) {
	var n Notification
	_, found, err := oneAsCaller(ctx, s, fmt.Sprintf("notification %d", id), selectCallerNotification, token,
		[]any{id}, n.dests(), &n, &n.ID)
	return found, err
}

// markRead marks read the unread notifications of the caller up to id $3
// and takes them off the inbox's unread count, bumping its version, in the
// statement of the token check. It locks the notifications before the
// inbox, as the deletion of a post does (migration 00013).
var markRead = callerCTE + `,
	marked AS (
		UPDATE notifications SET read = true
		WHERE user_id = (SELECT user_id FROM t) AND id <= $3 AND NOT read
		RETURNING id
	), inbox AS (
		UPDATE inboxes SET unread = unread - (SELECT count(*) FROM marked), version = version + 1
		WHERE user_id = (SELECT user_id FROM t) AND EXISTS (SELECT FROM marked)
	)
	SELECT ` + callerColumns + callerFrom

// MarkRead marks read the notification upTo of the user holding token and
// all their older ones. An id of no notification of theirs marks those
// older than it; nothing to mark changes nothing.
func (s *Store) MarkRead(ctx context.Context, token string, upTo int64) error {
	if _, err := s.rowAsCaller(ctx, markRead, token, []any{upTo}); err != nil {
		return wrap("mark notifications read", err)
	}
	return nil
}

// Subscriber is the holder of a token who opens a stream of their
// notifications: when the token expires, and the id of their newest
// notification (0 for none), after which a stream from now starts.
type Subscriber struct {
	Caller    User
	ExpiresAt time.Time
	Newest    int64
}

var selectSubscriber = callerCTE + `
	SELECT ` + callerColumns + `, (SELECT expires_at FROM tokens WHERE hash = $1),
	       coalesce((SELECT max(id) FROM notifications WHERE user_id = u.id), 0)` + callerFrom

// Subscriber returns the holder of token as a subscriber to their
// notifications, in one statement.
func (s *Store) Subscriber(ctx context.Context, token string) (Subscriber, error) {
	var (
		sub Subscriber
		err error
	)
	sub.Caller, err = s.rowAsCaller(ctx, selectSubscriber, token, nil, &sub.ExpiresAt, &sub.Newest)
	if err != nil {
		return Subscriber{}, wrap("subscriber", err)
	}
	return sub, nil
}

var selectNotificationsAfter = `
	SELECT ` + notificationAndActor + `
	FROM notifications n JOIN users a ON a.id = n.actor_id
	WHERE n.user_id = $1 AND n.id > $2
	ORDER BY n.id LIMIT $3`

// NotificationsAfter returns at most limit notifications of user whose ids
// come after after, oldest first: what a stream that sent after has not
// sent yet. The stream checked its token when it opened, and checks it
// again as it goes.
func (s *Store) NotificationsAfter(ctx context.Context, user, after int64, limit int) ([]Notification, error) {
	ns, err := readNotifications(ctx, s.pool, selectNotificationsAfter, user, after, limit)
	if err != nil {
		return nil, wrap(fmt.Sprintf("notifications of %d after %d", user, after), err)
	}
	return ns, nil
}

var selectNotification = `
	SELECT ` + notificationAndActor + `
	FROM notifications n JOIN users a ON a.id = n.actor_id
	WHERE n.id = $1`

// querier is what runs a query: the pool, or the listener's connection.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// readNotifications runs query, whose rows are notificationAndActor.
func readNotifications(ctx context.Context, q querier, query string, args ...any) ([]Notification, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Notification, error) {
		var n Notification
		return n, row.Scan(n.dests()...)
	})
}

// readNotification reads notification id through q, or ErrNotFound.
func readNotification(ctx context.Context, q querier, id int64) (Notification, error) {
	ns, err := readNotifications(ctx, q, selectNotification, id)
	switch {
	case err != nil:
		return Notification{}, wrap(fmt.Sprintf("notification %d", id), err)
	case len(ns) == 0:
		return Notification{}, ErrNotFound
	}
	return ns[0], nil
}
