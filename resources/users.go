package resources

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

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

func userPath(id int64) string { return "/api/users/" + strconv.FormatInt(id, 10) }

// pagedLink is a link to the paged collection at path: templated with the
// page and its size, as every link to a paged collection is, so that a
// client can ask for the size it wants.
func pagedLink(path string) hal.Link {
	return hal.Link{Href: path + "{?page,per_page}", Templated: true}
}

func followPath(follower, followed int64) string {
	return userPath(follower) + "/following/" + strconv.FormatInt(followed, 10)
}

// userView is the properties of a user that every caller sees alike.
type userView struct {
	ID             int64      `json:"id"`
	Username       string     `json:"username"`
	LastSeen       *time.Time `json:"last_seen"`
	AboutMe        string     `json:"about_me"`
	Gravatar       bool       `json:"gravatar"`
	PostCount      int64      `json:"post_count"`
	FollowerCount  int64      `json:"follower_count"`
	FollowingCount int64      `json:"following_count"`
}

// ownView is what only the user themself sees of their user, and
// otherView what anyone else does.
type (
	ownView struct {
		Email string `json:"email"`
	}
	otherView struct {
		IsFollowing bool `json:"is_following"`
	}
)

// userShared is the part of u's representation that every caller sees
// alike: its properties but email and is_following, and its links but
// edit, mb:sessions, mb:follow and mb:unfollow.
func userShared(u persistence.User) *hal.Resource {
	v := userView{ID: u.ID, Username: u.Username, AboutMe: u.AboutMe, Gravatar: u.Gravatar, PostCount: u.PostCount,
		FollowerCount: u.FollowerCount, FollowingCount: u.FollowingCount}
	if u.LastSeen != nil {
		t := u.LastSeen.UTC()
		v.LastSeen = &t
	}
	path := userPath(u.ID)
	return hal.New(v).AddLink("self", hal.Link{Href: path}).
		AddLink(relFollowers, pagedLink(path+"/followers")).
		AddLink(relFollowing, pagedLink(path+"/following")).
		AddLink(relPosts, pagedLink(path+"/posts")).
		AddLink(relAvatar, avatarLink(u))
}

// userResource is u as caller sees it, for hrefs that start with base:
// email and an edit link for the user themself, is_following and a follow
// or unfollow link for anyone else, after what everyone sees alike, which
// is rendered once for each version of u (sharedUsers). It is the copy
// embedded in lists, with every member of the user, so that a client
// caching it by self keeps them all; fullUser adds the newest posts and
// the templates.
func (h *handler) userResource(base string, u persistence.User, caller int64) *hal.Resource {
	shared, err := h.sharedUsers.get(userKey{id: u.ID, version: u.Version, base: base}, base,
		func() *hal.Resource { return userShared(u) })
	if err != nil {
		return hal.Failed(err)
	}
	path := userPath(u.ID)
	switch {
	case u.ID == caller:
		return shared.With(ownView{Email: u.Email}).
			AddLink("edit", hal.Link{Href: path}).AddLink(relSessions, pagedLink(sessionsPath(u.ID)))
	case u.IsFollowing:
		return shared.With(otherView{IsFollowing: true}).AddLink(relUnfollow, hal.Link{Href: followPath(caller, u.ID)})
	default:
		return shared.With(otherView{}).AddLink(relFollow, hal.Link{Href: followPath(caller, u.ID)})
	}
}

// fullUser is the top-level representation of p.User: userResource with
// curies, its newest posts embedded, and the templates of what the caller
// may do. The caller's own user has two forms, so that each can be sent
// back with every property as shown: the profile, and the password, which
// is a member of the user like the others and so changes with a PATCH of
// the user (no other URL, and the same checks as any change of the user);
// and the template that ends their other sessions.
func (h *handler) fullUser(base string, p persistence.Profile) *hal.Resource {
	u, caller := p.User, p.Caller.ID
	res := addCuries(h.userResource(base, u, caller)).EmbedAll(relPosts, h.postResources(base, p.Posts, caller))
	path := userPath(u.ID)
	switch {
	case u.ID == caller:
		res.AddTemplate("default", hal.Template{Title: "Edit your profile", Method: http.MethodPut,
			Target: path, ContentType: jsonType, Properties: h.fields.profile(u)}).
			AddTemplate("change-password", hal.Template{Title: "Change your password", Method: http.MethodPatch,
				Target: path, ContentType: jsonType, Properties: h.fields.passwordChange()}).
			AddTemplate("delete-account", deleteAccountForm(u.ID)).
			AddTemplate("export", hal.Template{Title: "Export my posts", Method: http.MethodPost, Target: exportsPath(u.ID)}).
			AddTemplate("revoke-others", revokeOthersForm(u.ID))
	case u.IsFollowing:
		res.AddTemplate("unfollow", hal.Template{Title: "Unfollow " + u.Username, Method: http.MethodDelete,
			Target: followPath(caller, u.ID)})
	default:
		res.AddTemplate("follow", hal.Template{Title: "Follow " + u.Username, Method: http.MethodPut,
			Target: followPath(caller, u.ID)})
	}
	if u.ID != caller {
		res.AddTemplate("message", h.messageForm(u))
	}
	return res
}

// renderUser sends the representation of p.User with its validators, or a
// 304 when the client has it already.
func (h *handler) renderUser(c *gin.Context, status int, p persistence.Profile) error {
	storeNothingIf(c, p.User.ID == p.Caller.ID)
	return h.renderWith(c, status, h.fullUser(h.base(c), p),
		h.userTag(c, p.User.ID, p.User.Version, p.Caller.ID, p.PostsKey, mediaType(c)), p.Modified())
}

// avatarLink is u's avatar: the identicon the API draws from the id, or,
// only for a user who chose it, their Gravatar (an identicon of Gravatar's
// when they have none there), whose URL holds a hash of the email.
func avatarLink(u persistence.User) hal.Link {
	if !u.Gravatar {
		return hal.Link{Href: userPath(u.ID) + "/avatar", Type: identiconType}
	}
	sum := md5.Sum([]byte(strings.ToLower(strings.TrimSpace(u.Email))))
	return hal.Link{Href: "https://www.gravatar.com/avatar/" + hex.EncodeToString(sum[:]) + "?d=identicon&s=128"}
}

// getUser serves GET /api/users/:id.
func (h *handler) getUser(c *gin.Context) error {
	token, id, err := h.tokenAndID(c)
	if err != nil {
		return err
	}
	return h.serveProfile(c, token, id)
}

// getMe serves GET /api/me: the caller, with where they live.
func (h *handler) getMe(c *gin.Context) error {
	token, err := requireToken(c)
	if err != nil {
		return err
	}
	return h.serveProfile(c, token, 0)
}

// serveProfile answers a GET of user id (0: the caller). It first reads
// only the versions the user's entity tag is made of, with the token
// check, and answers 304 when the client holds that representation, or
// sends it as kept (serveKept); only otherwise does it read the user and
// their posts, in one statement with the token check, and render them.
func (h *handler) serveProfile(c *gin.Context, token string, id int64) error {
	ctx := c.Request.Context()
	v, err := h.store.ProfileVersion(ctx, token, id)
	if err != nil {
		return err
	}
	h.locateMe(c, id, v.Caller.ID)
	// A user shows their row and newest posts, and whether the caller
	// follows them and likes those posts.
	dependOn(c, persistence.UserTopic(v.User.ID), persistence.PostsOf(v.User.ID), persistence.FollowsOf(v.Caller.ID),
		persistence.LikesOf(v.Caller.ID))
	storeNothingIf(c, v.User.ID == v.Caller.ID)
	if h.serveKept(c, h.userTag(c, v.User.ID, v.User.Version, v.Caller.ID, v.PostsKey, mediaType(c)), v.Modified()) {
		return nil
	}
	p, err := h.store.Profile(ctx, token, id)
	if err != nil {
		return err
	}
	h.locateMe(c, id, p.Caller.ID)
	return h.renderUser(c, http.StatusOK, p)
}

// locateMe names the caller's own URL in Content-Location when they asked
// for /api/me (id 0).
func (h *handler) locateMe(c *gin.Context, id, caller int64) {
	if id == 0 {
		c.Header("Content-Location", h.base(c)+userPath(caller))
	}
}

// listUsers serves GET /api/users: every user, by id. Asked for the one
// with a username, it sends the client to mb:user-by-name.
func (h *handler) listUsers(c *gin.Context) error {
	token, err := requireToken(c)
	if err != nil {
		return err
	}
	if name, ok := c.GetQuery("username"); ok {
		c.Header("Location", h.base(c)+"/api/users/by-name/"+url.PathEscape(name))
		c.Status(http.StatusSeeOther)
		return nil
	}
	page, err := pageParams(c)
	if err != nil {
		return h.tokenFirst(c, token, err)
	}
	users, err := h.store.Users(c.Request.Context(), token, page.store())
	if err != nil {
		return err
	}
	dependOn(c, persistence.AllUsers)
	res := h.userPage(c, "/api/users", users, page)
	res.AddTemplate("default", h.registration())
	storeNothingIf(c, showsCaller(users))
	return h.render(c, http.StatusOK, res)
}

// registration is the template of POST /api/users.
func (h *handler) registration() hal.Template {
	return hal.Template{Title: "Register", Method: http.MethodPost, Target: "/api/users", ContentType: jsonType,
		Properties: h.fields.registration()}
}

// listFollowers serves GET /api/users/:id/followers, newest follow first.
func (h *handler) listFollowers(c *gin.Context) error {
	return h.listUsersOf(c, userPath, "/followers", h.store.Followers, func(id int64) []persistence.Topic {
		return []persistence.Topic{persistence.UserTopic(id), persistence.FollowersOf(id)}
	})
}

// listFollowing serves GET /api/users/:id/following, newest follow first.
func (h *handler) listFollowing(c *gin.Context) error {
	return h.listUsersOf(c, userPath, "/following", h.store.Following, func(id int64) []persistence.Topic {
		return []persistence.Topic{persistence.UserTopic(id), persistence.FollowsOf(id)}
	})
}

// userList reads a page of a list of the users of thing id.
type userList func(ctx context.Context, token string, id int64, p persistence.Page) (persistence.UserPage, error)

// listUsersOf serves a GET of the list of users of thing :id, at
// pathOf(id) + suffix, in one statement with the token check; shows names
// the topics of the list itself, its members and its total.
func (h *handler) listUsersOf(c *gin.Context, pathOf func(int64) string, suffix string, list userList,
	shows func(id int64) []persistence.Topic) error {
	token, id, r, err := h.tokenIDAndPage(c)
	if err != nil {
		return err
	}
	users, err := list(c.Request.Context(), token, id, r.store())
	if err != nil {
		return err
	}
	dependOn(c, shows(id)...)
	storeNothingIf(c, showsCaller(users))
	return h.render(c, http.StatusOK, h.userPage(c, pathOf(id)+suffix, users, r))
}

// showsCaller reports whether a page of users shows the caller, whose
// email it then carries.
func showsCaller(page persistence.UserPage) bool {
	return slices.ContainsFunc(page.Users, func(u persistence.User) bool { return u.ID == page.Caller.ID })
}

// collectionView is the properties of a collection page.
type collectionView struct {
	Meta hal.PageMeta `json:"_meta"`
}

// collection is page p of the collection at path, with items embedded
// under rel.
func collection(path, rel string, items []*hal.Resource, p hal.Page) *hal.Resource {
	res := hal.New(collectionView{Meta: p.Meta()}).AddPageLinks(path, p)
	return addCuries(res).EmbedAll(rel, items)
}

// userPage is page of the list of users at path, as asked for by r.
func (h *handler) userPage(c *gin.Context, path string, page persistence.UserPage, r pageRequest) *hal.Resource {
	items := make([]*hal.Resource, len(page.Users))
	base := h.base(c)
	dependOn(c, persistence.FollowsOf(page.Caller.ID))
	for i, u := range page.Users {
		dependOn(c, persistence.UserTopic(u.ID))
		items[i] = h.userResource(base, u, page.Caller.ID)
	}
	return collection(path, relUsers, items, r.hal(page.Listing, len(page.Users)))
}

// followTarget reads the follower (who must be the caller) and the followed
// user of /api/users/:id/following/:target.
func (h *handler) followTarget(c *gin.Context, mine bool) (follower, followed int64, err error) {
	caller, follower, err := h.callerAndID(c)
	if err != nil {
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

// follows is the relation of a follower and the user they follow.
func (h *handler) follows() relation {
	return relation{kind: "follow", path: followPath, since: h.store.FollowedSince,
		absent: "this user does not follow that one"}
}

// getFollow serves GET /api/users/:id/following/:target: 204 if user id
// follows target, 404 if not.
func (h *handler) getFollow(c *gin.Context) error {
	follower, followed, err := h.followTarget(c, false)
	if err != nil {
		return err
	}
	return h.getRelation(c, h.follows(), follower, followed)
}

// putFollow serves PUT /api/users/:id/following/:target: follow, idempotent.
// Following oneself is a 400, before any precondition.
func (h *handler) putFollow(c *gin.Context) error {
	follower, followed, err := h.followTarget(c, true)
	if err != nil {
		return err
	}
	if follower == followed {
		return persistence.ErrSelfFollow
	}
	return h.changeRelation(c, h.follows(), follower, followed, func(ctx context.Context) (bool, error) {
		return h.store.Follow(ctx, follower, followed)
	}, followChanges(follower, followed)...)
}

// deleteFollow serves DELETE /api/users/:id/following/:target: unfollow,
// idempotent.
func (h *handler) deleteFollow(c *gin.Context) error {
	follower, followed, err := h.followTarget(c, true)
	if err != nil {
		return err
	}
	return h.changeRelation(c, h.follows(), follower, followed, func(ctx context.Context) (bool, error) {
		return false, h.store.Unfollow(ctx, follower, followed)
	}, followChanges(follower, followed)...)
}

// followChanges is what a follow or an unfollow changes besides the follow.
func followChanges(follower, followed int64) []string {
	return []string{userPath(follower), userPath(follower) + "/following", userPath(followed),
		userPath(followed) + "/followers", "/api/me", "/api/feed"}
}

// userValues are the members of a registration or an update that a request
// has, by name, normalized.
type userValues map[string]string

// decodeUser reads the members of a registration or an update; a member
// that is not a string is a 400 naming it.
func (h *handler) decodeUser(c *gin.Context, accepted ...string) (userValues, error) {
	obj, err := decodeObject(c, accepted...)
	if err != nil {
		return nil, err
	}
	values := userValues{}
	var params []invalidParam
	for _, m := range h.fields.userMembers() {
		v, err := m.read(obj, c.Request.Method)
		if err != nil {
			params = append(params, asHTTPError(err).params...)
			continue
		}
		if v == nil {
			continue
		}
		if m.normalize != nil {
			*v = m.normalize(*v)
		}
		values[m.prop.Name] = *v
	}
	if len(params) > 0 {
		return nil, invalid(params...)
	}
	return values, nil
}

// problems checks the members present and returns every problem, one per
// member; the password must not be username, the name the user will have.
func (h *handler) problems(values userValues, username string) []invalidParam {
	var params []invalidParam
	for _, m := range h.fields.userMembers() {
		v, ok := values[m.prop.Name]
		if !ok {
			continue
		}
		reason := m.check(v)
		if reason == "" && m.prop.Name == "password" && passwordIsUsername(v, username) {
			reason = "password must not be the username"
		}
		if reason != "" {
			params = append(params, invalidParam{Name: m.prop.Name, Reason: reason})
		}
	}
	return params
}

// createUser serves POST /api/users: registration.
func (h *handler) createUser(c *gin.Context) error {
	// An anonymous client holds no copy of /api/users to name by its tag.
	if _, err := checkPreconditions(c, target{exists: true}, false); err != nil {
		return err
	}
	values, err := h.decodeUser(c, jsonType, hal.MediaType)
	if err != nil {
		return err
	}
	for _, required := range []string{"username", "email", "password"} {
		if _, ok := values[required]; !ok {
			return fieldError(required, "must include username, email and password fields")
		}
	}
	if params := h.problems(values, values["username"]); len(params) > 0 {
		return invalid(params...)
	}
	// Before the store looks at the name and email or hashes the password:
	// registrations are a hash each, and would tell whose email is taken.
	if err := h.admit(c, "registrations", check{h.registerByAddress, c.ClientIP()}); err != nil {
		return err
	}
	u, err := h.store.CreateUser(c.Request.Context(), persistence.NewUser{Username: values["username"],
		Email: values["email"], Password: values["password"], AboutMe: values["about_me"]})
	if err != nil {
		return err
	}
	c.Header("Location", h.base(c)+userPath(u.ID))
	h.invalidates(c, "/api/users")
	h.represents(c, userPath(u.ID))
	return h.renderUser(c, http.StatusCreated, persistence.Profile{Caller: u, User: u})
}

// updateUser serves PUT and PATCH /api/users/:id. Both change the members
// present and leave the rest, as the tutorial's PUT did.
func (h *handler) updateUser(c *gin.Context) error {
	caller, err := h.ownUser(c)
	if err != nil {
		return err
	}
	version, err := h.userPrecondition(c, caller)
	if err != nil {
		return err
	}
	values, err := h.decodeUser(c, writeTypes(c)...)
	if err != nil {
		return err
	}
	h.dropUnchanged(values, caller)
	up := h.userUpdate(values)
	username := caller.Username
	if v, ok := values["username"]; ok {
		username = v
	}
	params := h.problems(values, username)
	if _, ok := values["old_password"]; up.Password != nil && !ok {
		params = append(params, invalidParam{Name: "old_password", Reason: "old_password is required to change the password"})
	}
	if len(params) > 0 {
		return invalid(params...)
	}
	if _, email := up.Set["email"]; email || up.Password != nil {
		// An old password checked is a guess at it, and a new email tells
		// whether someone has it: both count as attempts at a login.
		if err := h.admit(c, "attempts at your password or email", h.passwordChecks(c, caller.Username)...); err != nil {
			return err
		}
	}
	u := caller
	if len(up.Set) > 0 || up.Password != nil {
		up.Version = version
		// A password change keeps the token of the request, and only it;
		// ownUser has checked it already.
		up.Token, _ = requireToken(c)
		if u, err = h.store.UpdateUser(c.Request.Context(), caller.ID, up); err != nil {
			return err
		}
	}
	posts, err := h.store.NewestPosts(c.Request.Context(), u.ID)
	if err != nil {
		return err
	}
	h.invalidates(c, userPath(u.ID), "/api/me", "/api/users")
	h.represents(c, userPath(u.ID))
	return h.renderUser(c, http.StatusOK, persistence.Profile{Caller: u, User: u}.WithPosts(posts))
}

// ownUser authenticates a write of user :id, which only that user may
// make: 404 for no such user, 403 for someone else.
func (h *handler) ownUser(c *gin.Context) (persistence.User, error) {
	caller, id, err := h.callerAndID(c)
	if err != nil {
		return persistence.User{}, err
	}
	if id != caller.ID {
		if _, err := h.store.User(c.Request.Context(), id); err != nil {
			return persistence.User{}, err
		}
		return persistence.User{}, newError(http.StatusForbidden, "you may only change your own user")
	}
	return caller, nil
}

// userPrecondition evaluates the preconditions of a write of the caller's
// own user, and returns the version the write must find, or nil when
// neither If-Match nor If-Unmodified-Since was evaluated. The caller's own
// request may just have recorded last_seen, a new version: the tag and the
// time they read before it are still good.
func (h *handler) userPrecondition(c *gin.Context, caller persistence.User) (*int64, error) {
	return h.ownUserPrecondition(c, caller, h.cfg.RequireIfMatch)
}

// ownUserPrecondition is userPrecondition, with If-Match (or
// If-Unmodified-Since) required when required is true.
func (h *handler) ownUserPrecondition(c *gin.Context, caller persistence.User, required bool) (*int64, error) {
	t := target{exists: true, modified: caller.PriorChangedAt}
	if preconditioned(c) {
		posts, err := h.store.NewestPosts(c.Request.Context(), caller.ID)
		if err != nil {
			return nil, err
		}
		p := persistence.Profile{User: persistence.User{ChangedAt: caller.PriorChangedAt}}.WithPosts(posts)
		t.modified = p.Modified()
		for _, mt := range halOffers {
			t.tags = append(t.tags, h.userTag(c, caller.ID, caller.PriorVersion, caller.ID, p.PostsKey, mt),
				h.userTag(c, caller.ID, caller.Version, caller.ID, p.PostsKey, mt))
		}
	}
	conditional, err := checkPreconditions(c, t, required)
	if err != nil || !conditional {
		return nil, err
	}
	return &caller.Version, nil
}

// dropUnchanged leaves out of values those equal to what u holds, so that
// a client can send back what it read: they are not checked again.
func (h *handler) dropUnchanged(values userValues, u persistence.User) {
	for _, m := range h.fields.userMembers() {
		if v, ok := values[m.prop.Name]; ok && m.current != nil && v == m.current(u) {
			delete(values, m.prop.Name)
		}
	}
}

// userUpdate is the update that values make: the members that are columns
// of the user's row, and the password.
func (h *handler) userUpdate(values userValues) persistence.UserUpdate {
	up := persistence.UserUpdate{Set: map[string]string{}}
	for _, m := range h.fields.userMembers() {
		if v, ok := values[m.prop.Name]; ok && m.current != nil {
			up.Set[m.prop.Name] = v
		}
	}
	if p, ok := values["password"]; ok {
		up.Password, up.OldPassword = &p, values["old_password"]
	}
	return up
}
