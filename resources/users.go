package resources

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"

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
	relFollow    = "mb:follow"
	relUnfollow  = "mb:unfollow"
)

// Users serves users, their followers and following, registration,
// updates, and following as a resource.
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
	r.GET("/users/:id/following/:target", h.handle(h.getFollow))
	r.PUT("/users/:id/following/:target", h.handle(h.putFollow))
	r.DELETE("/users/:id/following/:target", h.handle(h.deleteFollow))
	r.GET("/me", h.handle(h.getMe))
}

func userPath(id int64) string { return "/api/users/" + strconv.FormatInt(id, 10) }

func followPath(follower, followed int64) string {
	return userPath(follower) + "/following/" + strconv.FormatInt(followed, 10)
}

// userView is the properties of a user. Email is set only for the user
// themself, and IsFollowing only for someone else.
type userView struct {
	ID             int64      `json:"id"`
	Username       string     `json:"username"`
	Email          string     `json:"email,omitempty"`
	LastSeen       *time.Time `json:"last_seen"`
	AboutMe        string     `json:"about_me"`
	PostCount      int64      `json:"post_count"`
	FollowerCount  int64      `json:"follower_count"`
	FollowingCount int64      `json:"following_count"`
	IsFollowing    *bool      `json:"is_following,omitempty"`
}

// userResource is u as caller sees it: email and an edit link for the user
// themself, is_following and a follow or unfollow link for anyone else. It
// is the partial copy embedded in lists; fullUser adds the rest.
func userResource(u persistence.User, caller int64) *hal.Resource {
	v := userView{ID: u.ID, Username: u.Username, AboutMe: u.AboutMe, PostCount: u.PostCount,
		FollowerCount: u.FollowerCount, FollowingCount: u.FollowingCount}
	if u.LastSeen != nil {
		t := u.LastSeen.UTC()
		v.LastSeen = &t
	}
	self := u.ID == caller
	if self {
		v.Email = u.Email
	} else {
		v.IsFollowing = &u.IsFollowing
	}
	path := userPath(u.ID)
	res := hal.New(v).AddLink("self", hal.Link{Href: path}).
		AddLink(relFollowers, hal.Link{Href: path + "/followers"}).
		AddLink(relFollowing, hal.Link{Href: path + "/following"}).
		AddLink(relPosts, hal.Link{Href: path + "/posts"}).
		AddLink(relAvatar, hal.Link{Href: avatarURL(u.Email), Type: "image/png"})
	switch {
	case self:
		res.AddLink("edit", hal.Link{Href: path})
	case u.IsFollowing:
		res.AddLink(relUnfollow, hal.Link{Href: followPath(caller, u.ID)})
	default:
		res.AddLink(relFollow, hal.Link{Href: followPath(caller, u.ID)})
	}
	return res
}

// fullUser is the top-level representation of u: userResource with curies,
// its newest posts embedded, and the templates of what caller may do.
func (h *Users) fullUser(u persistence.User, posts []persistence.Post, caller int64) *hal.Resource {
	res := addCuries(userResource(u, caller)).EmbedAll(relPosts, postResources(posts, caller))
	path := userPath(u.ID)
	switch {
	case u.ID == caller:
		res.AddTemplate("default", hal.Template{Title: "Edit your profile", Method: http.MethodPut,
			Target: path, ContentType: jsonType, Properties: []hal.Property{
				h.fields.username.optional(u.Username), h.fields.email.optional(u.Email),
				h.fields.aboutMe.optional(u.AboutMe), h.fields.password.optional(""),
				h.fields.oldPassword.optional(""),
			}})
	case u.IsFollowing:
		res.AddTemplate("unfollow", hal.Template{Title: "Unfollow " + u.Username, Method: http.MethodDelete,
			Target: followPath(caller, u.ID)})
	default:
		res.AddTemplate("follow", hal.Template{Title: "Follow " + u.Username, Method: http.MethodPut,
			Target: followPath(caller, u.ID)})
	}
	return res
}

// avatarURL is the user's Gravatar, an identicon when they have none.
func avatarURL(email string) string {
	sum := md5.Sum([]byte(strings.ToLower(strings.TrimSpace(email))))
	return "https://www.gravatar.com/avatar/" + hex.EncodeToString(sum[:]) + "?d=identicon&s=128"
}

// getUser serves GET /api/users/:id in one statement with the token check.
// A conditional GET first reads only the user's version, with the token
// check, and answers 304 without reading the rest.
func (h *Users) getUser(c *gin.Context) error {
	mt := mediaType(c)
	id, idErr := parseID(c, "id")
	if idErr == nil && conditional(c) {
		var (
			version int64
			changed time.Time
		)
		caller, err := h.authenticateBy(c, func(ctx context.Context, token string) (persistence.User, error) {
			u, v, ch, err := h.store.AuthenticateAndVersion(ctx, token, id)
			version, changed = v, ch
			return u, err
		})
		if err != nil {
			return err
		}
		if version == 0 {
			return notFound()
		}
		if notModified(c, h.userTag(c, id, version, caller.ID, mt), changed) {
			return nil
		}
	}
	caller, u, posts, err := h.profile(c, id, idErr)
	if err != nil {
		return err
	}
	return h.renderWith(c, http.StatusOK, h.fullUser(u, posts, caller.ID),
		h.userTag(c, u.ID, u.Version, caller.ID, mt), u.ChangedAt)
}

// profile authenticates the request and reads user id (0 for the caller)
// with its newest posts, in one statement; idErr, if any, is what was wrong
// with the id.
func (h *Users) profile(c *gin.Context, id int64, idErr error) (caller, u persistence.User, posts []persistence.Post, err error) {
	caller, err = h.authenticateWith(c, idErr, func(ctx context.Context, token string) (persistence.User, error) {
		caller, user, ps, err := h.store.Profile(ctx, token, id)
		u, posts = user, ps
		return caller, err
	})
	return caller, u, posts, err
}

// getMe serves GET /api/me: the caller, with where they live, in one
// statement with the token check. A conditional GET checks the caller's
// version first, which the token check reads.
func (h *Users) getMe(c *gin.Context) error {
	mt := mediaType(c)
	if conditional(c) {
		caller, err := h.authenticate(c)
		if err != nil {
			return err
		}
		c.Header("Content-Location", h.base(c)+userPath(caller.ID))
		if notModified(c, h.userTag(c, caller.ID, caller.Version, caller.ID, mt), caller.ChangedAt) {
			return nil
		}
	}
	caller, _, posts, err := h.profile(c, 0, nil)
	if err != nil {
		return err
	}
	c.Header("Content-Location", h.base(c)+userPath(caller.ID))
	return h.renderWith(c, http.StatusOK, h.fullUser(caller, posts, caller.ID),
		h.userTag(c, caller.ID, caller.Version, caller.ID, mt), caller.ChangedAt)
}

// listUsers serves GET /api/users: every user, by id.
func (h *Users) listUsers(c *gin.Context) error {
	page, pageErr := pageParams(c)
	var (
		users []persistence.User
		list  persistence.Listing
	)
	caller, err := h.authenticateWith(c, pageErr, func(ctx context.Context, token string) (persistence.User, error) {
		caller, us, l, err := h.store.Users(ctx, token, page.store())
		users, list = us, l
		return caller, err
	})
	if err != nil {
		return err
	}
	res := userPage("/api/users", users, caller.ID, page.hal(list, len(users)))
	res.AddTemplate("default", h.registration())
	return h.render(c, http.StatusOK, res)
}

// registration is the template of POST /api/users.
func (a *api) registration() hal.Template {
	return hal.Template{Title: "Register", Method: http.MethodPost, Target: "/api/users", ContentType: jsonType,
		Properties: []hal.Property{a.fields.username.property(""), a.fields.email.property(""),
			a.fields.password.property(""), a.fields.aboutMe.property("")}}
}

// listFollowers serves GET /api/users/:id/followers, newest follow first.
func (h *Users) listFollowers(c *gin.Context) error {
	return h.listFollows(c, "/followers", h.store.Followers)
}

// listFollowing serves GET /api/users/:id/following, newest follow first.
func (h *Users) listFollowing(c *gin.Context) error {
	return h.listFollows(c, "/following", h.store.Following)
}

type followList func(ctx context.Context, token string, id int64, p persistence.Page) (persistence.User, []persistence.User, persistence.Listing, error)

func (h *Users) listFollows(c *gin.Context, suffix string, list followList) error {
	id, err := parseID(c, "id")
	page, pageErr := pageParams(c)
	if err == nil {
		err = pageErr
	}
	var (
		users []persistence.User
		l     persistence.Listing
	)
	caller, err := h.authenticateWith(c, err, func(ctx context.Context, token string) (persistence.User, error) {
		caller, us, ls, err := list(ctx, token, id, page.store())
		users, l = us, ls
		return caller, err
	})
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, userPage(userPath(id)+suffix, users, caller.ID, page.hal(l, len(users))))
}

// collectionView is the properties of a collection page.
type collectionView struct {
	Meta hal.PageMeta `json:"_meta"`
}

// collection is page p of the collection at path, with items embedded
// under rel.
func collection(path, rel string, items []*hal.Resource, p hal.Page) *hal.Resource {
	res := hal.New(collectionView{Meta: p.Meta()}).AddPageLinks(path, nil, p)
	return addCuries(res).EmbedAll(rel, items)
}

func userPage(path string, users []persistence.User, caller int64, p hal.Page) *hal.Resource {
	items := make([]*hal.Resource, len(users))
	for i, u := range users {
		items[i] = userResource(u, caller)
	}
	return collection(path, relUsers, items, p)
}

// followTarget reads the follower (who must be the caller) and the followed
// user of /api/users/:id/following/:target.
func (h *Users) followTarget(c *gin.Context, mine bool) (follower, followed int64, err error) {
	caller, err := h.authenticate(c)
	if err != nil {
		return 0, 0, err
	}
	if follower, err = parseID(c, "id"); err != nil {
		return 0, 0, err
	}
	if followed, err = parseID(c, "target"); err != nil {
		return 0, 0, err
	}
	if mine && follower != caller.ID {
		return 0, 0, newError(http.StatusForbidden, "you may only change whom you follow yourself")
	}
	return follower, followed, nil
}

// getFollow serves GET /api/users/:id/following/:target: 204 if user id
// follows target, 404 if not.
func (h *Users) getFollow(c *gin.Context) error {
	follower, followed, err := h.followTarget(c, false)
	if err != nil {
		return err
	}
	follows, err := h.store.Follows(c.Request.Context(), follower, followed)
	if err != nil {
		return err
	}
	if !follows {
		return newError(http.StatusNotFound, "this user does not follow that one")
	}
	c.Status(http.StatusNoContent)
	return nil
}

// putFollow serves PUT /api/users/:id/following/:target: follow, idempotent.
func (h *Users) putFollow(c *gin.Context) error {
	follower, followed, err := h.followTarget(c, true)
	if err != nil {
		return err
	}
	if follower == followed {
		return badRequest("you cannot follow yourself")
	}
	if err := h.store.Follow(c.Request.Context(), follower, followed); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

// deleteFollow serves DELETE /api/users/:id/following/:target: unfollow,
// idempotent.
func (h *Users) deleteFollow(c *gin.Context) error {
	follower, followed, err := h.followTarget(c, true)
	if err != nil {
		return err
	}
	if err := h.store.Unfollow(c.Request.Context(), follower, followed); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
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
	for _, m := range []struct {
		v *string
		f field
	}{
		{f.username, h.fields.username}, {f.email, h.fields.email},
		{f.password, h.fields.password}, {f.aboutMe, h.fields.aboutMe},
	} {
		if m.v == nil {
			continue
		}
		reason := m.f.check(*m.v)
		if reason == "" && m.f.prop.Name == "email" {
			reason = emailProblem(*m.v)
		}
		if reason != "" {
			params = append(params, invalidParam{Name: m.f.prop.Name, Reason: reason})
		}
	}
	return params
}

// emailProblem says what is wrong with an email address of a fitting
// length, or "".
func emailProblem(email string) string {
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
	return h.renderWith(c, http.StatusCreated, h.fullUser(u, nil, u.ID),
		h.userTag(c, u.ID, u.Version, u.ID, mediaType(c)), u.ChangedAt)
}

// updateUser serves PUT and PATCH /api/users/:id. Both change the members
// present and leave the rest, as the tutorial's PUT did.
func (h *Users) updateUser(c *gin.Context) error {
	caller, id, err := h.callerAndID(c)
	if err != nil {
		return err
	}
	if id != caller.ID {
		if _, err := h.store.User(c.Request.Context(), id); err != nil {
			return err
		}
		return newError(http.StatusForbidden, "you may only change your own user")
	}
	// The caller's own request may just have recorded last_seen, a new
	// version: the tag they read before it is still good.
	err = h.checkIfMatch(c, func(mt string) []string {
		return []string{h.userTag(c, id, caller.PriorVersion, id, mt), h.userTag(c, id, caller.Version, id, mt)}
	})
	if err != nil {
		return err
	}
	var version *int64
	if c.GetHeader("If-Match") != "" {
		version = &caller.Version
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
		up := persistence.UserUpdate{Username: f.username, Email: f.email, AboutMe: f.aboutMe, Password: f.password,
			Version: version}
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
	posts, err := h.store.NewestPosts(c.Request.Context(), id)
	if err != nil {
		return err
	}
	return h.renderWith(c, http.StatusOK, h.fullUser(u, posts, u.ID),
		h.userTag(c, u.ID, u.Version, u.ID, mediaType(c)), u.ChangedAt)
}
