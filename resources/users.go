package resources

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net/http"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"golang.org/x/text/unicode/norm"

	"microblog/hal"
	"microblog/persistence"
)

// Link relations of users.
const (
	relUsers     = "mb:users"
	relUser      = "mb:user"
	relMe        = "mb:me"
	relFollowers = "mb:followers"
	relFollowing = "mb:following"
	relAvatar    = "mb:avatar"
)

// Limits of user fields, in characters.
const (
	maxEmail       = 120
	maxPassword    = 256
	maxAboutMe     = 140
	usernameReason = "username must be 1 to 64 characters, each a letter, a digit, '.', '_' or '-'"
)

var usernamePattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Users serves users, their followers and following, registration and
// updates.
type Users struct {
	*api
}

// Register adds the routes of users to r.
func (h *Users) Register(r gin.IRoutes) {
	r.GET("/users", h.handle(h.listUsers))
	r.POST("/users", h.handle(h.createUser))
	r.GET("/users/:id", h.handle(h.getUser))
	r.PUT("/users/:id", h.handle(h.updateUser))
	r.PATCH("/users/:id", h.handle(h.updateUser))
	r.GET("/users/:id/followers", h.handle(h.listFollowers))
	r.GET("/users/:id/following", h.handle(h.listFollowing))
	r.GET("/me", h.handle(h.getMe))
}

func userPath(id int64) string { return "/api/users/" + strconv.FormatInt(id, 10) }

// userView is the properties of a user. Email is set only for the user
// themself.
type userView struct {
	ID             int64      `json:"id"`
	Username       string     `json:"username"`
	Email          string     `json:"email,omitempty"`
	LastSeen       *time.Time `json:"last_seen"`
	AboutMe        string     `json:"about_me"`
	PostCount      int64      `json:"post_count"`
	FollowerCount  int64      `json:"follower_count"`
	FollowingCount int64      `json:"following_count"`
}

// userResource is u as seen by caller: with email and an edit link only
// for the user themself. embedded says whether it is a partial copy inside
// another document, which carries neither curies nor _embedded.
func userResource(u, caller persistence.User, embedded bool) *hal.Resource {
	v := userView{ID: u.ID, Username: u.Username, AboutMe: u.AboutMe, PostCount: u.PostCount,
		FollowerCount: u.FollowerCount, FollowingCount: u.FollowingCount}
	if u.LastSeen != nil {
		t := u.LastSeen.UTC()
		v.LastSeen = &t
	}
	self := u.ID == caller.ID
	if self {
		v.Email = u.Email
	}
	path := userPath(u.ID)
	res := hal.New(v).AddLink("self", hal.Link{Href: path})
	if !embedded {
		addCuries(res).KeepEmbedded()
	}
	res.AddLink(relFollowers, hal.Link{Href: path + "/followers"}).
		AddLink(relFollowing, hal.Link{Href: path + "/following"}).
		AddLink(relAvatar, hal.Link{Href: avatarURL(u.Email), Type: "image/png"})
	if self {
		res.AddLink("edit", hal.Link{Href: path})
	}
	return res
}

// avatarURL is the user's Gravatar, an identicon when they have none.
func avatarURL(email string) string {
	sum := md5.Sum([]byte(strings.ToLower(strings.TrimSpace(email))))
	return "https://www.gravatar.com/avatar/" + hex.EncodeToString(sum[:]) + "?d=identicon&s=128"
}

// getUser serves GET /api/users/:id.
func (h *Users) getUser(c *gin.Context) error {
	caller, err := h.authenticate(c)
	if err != nil {
		return err
	}
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	u := caller
	if id != caller.ID {
		if u, err = h.store.User(c.Request.Context(), id); err != nil {
			return err
		}
	}
	return h.render(c, http.StatusOK, userResource(u, caller, false))
}

// getMe serves GET /api/me: the caller, with where they live.
func (h *Users) getMe(c *gin.Context) error {
	caller, err := h.authenticate(c)
	if err != nil {
		return err
	}
	c.Header("Content-Location", h.base(c)+userPath(caller.ID))
	return h.render(c, http.StatusOK, userResource(caller, caller, false))
}

// listUsers serves GET /api/users: every user, by id.
func (h *Users) listUsers(c *gin.Context) error {
	caller, err := h.authenticate(c)
	if err != nil {
		return err
	}
	page, perPage, err := pageParams(c)
	if err != nil {
		return err
	}
	users, total, err := h.store.Users(c.Request.Context(), storePage(page, perPage))
	if err != nil {
		return err
	}
	return h.renderUserPage(c, "/api/users", users, caller, hal.Page{Number: page, Size: perPage, TotalItems: total})
}

// listFollowers serves GET /api/users/:id/followers, newest follow first.
func (h *Users) listFollowers(c *gin.Context) error {
	return h.listFollows(c, "/followers", h.store.Followers)
}

// listFollowing serves GET /api/users/:id/following, newest follow first.
func (h *Users) listFollowing(c *gin.Context) error {
	return h.listFollows(c, "/following", h.store.Following)
}

type followList func(ctx context.Context, id int64, p persistence.Page) ([]persistence.User, int64, error)

func (h *Users) listFollows(c *gin.Context, suffix string, list followList) error {
	caller, err := h.authenticate(c)
	if err != nil {
		return err
	}
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	page, perPage, err := pageParams(c)
	if err != nil {
		return err
	}
	users, total, err := list(c.Request.Context(), id, storePage(page, perPage))
	if err != nil {
		return err
	}
	return h.renderUserPage(c, userPath(id)+suffix, users, caller, hal.Page{Number: page, Size: perPage, TotalItems: total})
}

// collectionView is the properties of a collection page.
type collectionView struct {
	Meta hal.PageMeta `json:"_meta"`
}

func (h *Users) renderUserPage(c *gin.Context, path string, users []persistence.User, caller persistence.User, p hal.Page) error {
	items := make([]*hal.Resource, len(users))
	for i, u := range users {
		items[i] = userResource(u, caller, true)
	}
	res := hal.New(collectionView{Meta: p.Meta()}).AddPageLinks(path, nil, p)
	addCuries(res).EmbedAll(relUsers, items)
	return h.render(c, http.StatusOK, res)
}

// userFields are the members of a registration or an update.
type userFields struct {
	username, email, password, oldPassword, aboutMe *string
}

func readUserFields(c *gin.Context, accepted ...string) (userFields, error) {
	obj, err := decodeObject(c, accepted...)
	if err != nil {
		return userFields{}, err
	}
	// about_me may be removed by a merge patch; the others are required.
	nullableAbout := c.Request.Method == http.MethodPatch
	var f userFields
	var params []invalidParam
	for _, m := range []struct {
		name     string
		dst      **string
		nullable bool
	}{
		{"username", &f.username, false},
		{"email", &f.email, false},
		{"password", &f.password, false},
		{"old_password", &f.oldPassword, false},
		{"about_me", &f.aboutMe, nullableAbout},
	} {
		v, err := obj.str(m.name, m.nullable)
		if err != nil {
			params = append(params, asHTTPError(err).params...)
			continue
		}
		*m.dst = v
	}
	if len(params) > 0 {
		return userFields{}, invalid(params...)
	}
	return f, nil
}

// validate checks the fields that are set, and returns every problem.
func (h *Users) validate(f userFields) []invalidParam {
	var params []invalidParam
	add := func(name, reason string) { params = append(params, invalidParam{Name: name, Reason: reason}) }
	if f.username != nil && !usernamePattern.MatchString(*f.username) {
		add("username", usernameReason)
	}
	if f.email != nil {
		if reason := emailProblem(*f.email); reason != "" {
			add("email", reason)
		}
	}
	if f.password != nil {
		switch n := utf8.RuneCountInString(*f.password); {
		case n < h.cfg.MinPasswordLength:
			add("password", "password must be at least "+strconv.Itoa(h.cfg.MinPasswordLength)+" characters")
		case n > maxPassword:
			add("password", "password must be at most "+strconv.Itoa(maxPassword)+" characters")
		}
	}
	if f.aboutMe != nil && utf8.RuneCountInString(*f.aboutMe) > maxAboutMe {
		add("about_me", "about_me must be at most "+strconv.Itoa(maxAboutMe)+" characters")
	}
	return params
}

// emailProblem says what is wrong with an email address, or "".
func emailProblem(email string) string {
	if utf8.RuneCountInString(email) > maxEmail {
		return "email must be at most " + strconv.Itoa(maxEmail) + " characters"
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Name != "" || a.Address != email {
		return "email must be a single email address, such as susan@example.com"
	}
	return ""
}

// normalizeEmail puts an address in Unicode normal form C, so that two
// spellings of one address are one address to the uniqueness check.
func normalizeEmail(f *userFields) {
	if f.email != nil {
		e := norm.NFC.String(*f.email)
		f.email = &e
	}
}

// conflictError turns a taken username or email into the tutorial's 400.
func conflictError(err error) error {
	var ce *persistence.ConflictError
	if !errors.As(err, &ce) {
		return err
	}
	switch ce.Field {
	case "username":
		return fieldError("username", "please use a different username")
	case "email":
		return fieldError("email", "please use a different email address")
	}
	return err
}

// createUser serves POST /api/users: registration.
func (h *Users) createUser(c *gin.Context) error {
	f, err := readUserFields(c, jsonType, hal.MediaType)
	if err != nil {
		return err
	}
	if f.username == nil || f.email == nil || f.password == nil {
		return badRequest("must include username, email and password fields")
	}
	normalizeEmail(&f)
	if params := h.validate(f); len(params) > 0 {
		return invalid(params...)
	}
	nu := persistence.NewUser{Username: *f.username, Email: *f.email, Password: *f.password}
	if f.aboutMe != nil {
		nu.AboutMe = *f.aboutMe
	}
	u, err := h.store.CreateUser(c.Request.Context(), nu)
	if err != nil {
		return conflictError(err)
	}
	c.Header("Location", h.base(c)+userPath(u.ID))
	return h.render(c, http.StatusCreated, userResource(u, u, false))
}

// updateUser serves PUT and PATCH /api/users/:id. Both change the members
// present and leave the rest, as the tutorial's PUT did.
func (h *Users) updateUser(c *gin.Context) error {
	caller, err := h.authenticate(c)
	if err != nil {
		return err
	}
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	if id != caller.ID {
		if _, err := h.store.User(c.Request.Context(), id); err != nil {
			return err
		}
		return newError(http.StatusForbidden, "you may only change your own user")
	}
	accepted := []string{jsonType, hal.MediaType}
	if c.Request.Method == http.MethodPatch {
		accepted = append(accepted, mergePatchType)
	}
	f, err := readUserFields(c, accepted...)
	if err != nil {
		return err
	}
	// Unchanged values are not checked again, so that a client can send
	// back what it read.
	if f.username != nil && *f.username == caller.Username {
		f.username = nil
	}
	normalizeEmail(&f)
	if f.email != nil && *f.email == caller.Email {
		f.email = nil
	}
	if f.aboutMe != nil && *f.aboutMe == caller.AboutMe {
		f.aboutMe = nil
	}
	params := h.validate(f)
	if f.password != nil && f.oldPassword == nil {
		params = append(params, invalidParam{Name: "old_password", Reason: "old_password is required to change the password"})
	}
	if len(params) > 0 {
		return invalid(params...)
	}
	u := caller
	if f.username != nil || f.email != nil || f.aboutMe != nil || f.password != nil {
		up := persistence.UserUpdate{Username: f.username, Email: f.email, AboutMe: f.aboutMe, Password: f.password}
		if f.oldPassword != nil {
			up.OldPassword = *f.oldPassword
		}
		u, err = h.store.UpdateUser(c.Request.Context(), id, up)
		if errors.Is(err, persistence.ErrWrongPassword) {
			return fieldError("old_password", "old_password is not the current password")
		}
		if err != nil {
			return conflictError(err)
		}
	}
	return h.render(c, http.StatusOK, userResource(u, u, false))
}
