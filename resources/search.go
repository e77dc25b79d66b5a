package resources

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"microblog/hal"
	"microblog/persistence"
)

// Link relations of finding people and posts.
const (
	relUserByName  = "mb:user-by-name"
	relSearchUsers = "mb:search-users"
	relSearchPosts = "mb:search-posts"
	relTag         = "mb:tag"
	relTags        = "mb:tags"
	relMentions    = "mb:mentions"
)

const (
	searchUsersPath = "/api/search/users"
	searchPostsPath = "/api/search/posts"
	// maxQuery is the most characters a search's q has, once trimmed.
	maxQuery = 100
)

func tagPath(tag string) string { return "/api/tags/" + url.PathEscape(tag) }

// searchForm is the HAL-FORMS template of the search at target: a GET
// whose one property, q, becomes the query string.
func searchForm(title, target string) hal.Template {
	return hal.Template{Title: title, Method: http.MethodGet, Target: target, Properties: []hal.Property{{
		Name: "q", Prompt: "Search for (1 to " + strconv.Itoa(maxQuery) + " characters)", Type: "search",
		Required: true, Regex: `^[\s\S]*\S[\s\S]*$`, MinLength: 1, MaxLength: maxQuery}}}
}

// searchQuery reads q, the terms of a search: 1 to maxQuery characters
// once trimmed of white space.
func searchQuery(c *gin.Context) (string, error) {
	v, ok := c.GetQuery("q")
	if !ok {
		return "", fieldError("q", "q is required: the text to search for")
	}
	q := trimSpace(v)
	if !text(q) {
		return "", fieldError("q", "q must be text: UTF-8 without NUL characters")
	}
	if n := utf8.RuneCountInString(q); n == 0 || n > maxQuery {
		return "", fieldError("q", "q must be 1 to "+strconv.Itoa(maxQuery)+
			" characters, not counting white space at either end")
	}
	return q, nil
}

// searchParams reads the terms and the page of a search, whose cursors are
// in format f.
func searchParams(c *gin.Context, f *cursorFormat) (string, pageRequest, error) {
	q, err := searchQuery(c)
	if err != nil {
		return "", pageRequest{}, err
	}
	r, err := pageParamsIn(c, f)
	r.query = url.Values{"q": {q}}
	return q, r, err
}

// searchUsers serves GET /api/search/users: the users whose username
// contains q, in one statement with the token check.
func (h *handler) searchUsers(c *gin.Context) error {
	token, err := requireToken(c)
	if err != nil {
		return err
	}
	q, r, err := searchParams(c, &nameCursors)
	if err != nil {
		return h.tokenFirst(c, token, err)
	}
	page, err := h.store.SearchUsers(c.Request.Context(), token, q, r.store())
	if err != nil {
		return err
	}
	dependOn(c, persistence.AllUsers, persistence.UserNames)
	storeNothingIf(c, showsCaller(page))
	return h.render(c, http.StatusOK, h.userPage(c, searchUsersPath, page, r))
}

// searchPosts serves GET /api/search/posts: the posts that match q, in one
// statement with the token check.
func (h *handler) searchPosts(c *gin.Context) error {
	token, err := requireToken(c)
	if err != nil {
		return err
	}
	q, r, err := searchParams(c, &rankCursors)
	if err != nil {
		return h.tokenFirst(c, token, err)
	}
	caller, page, err := h.store.SearchPosts(c.Request.Context(), token, q, r.store())
	if errors.Is(err, persistence.ErrNothingToFind) {
		return fieldError("q", `q must hold a word to find: common English words such as "the", punctuation `+
			`and the operators "-", "or" and '"' alone find nothing`)
	}
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, h.postPage(c, searchPostsPath, page, caller.ID, r))
}

// listTagged serves GET /api/tags/:tag: the posts carrying #tag, newest
// first, in one statement with the token check. The tag is read as posts
// write it, in any case; a tag that no post carries has an empty list, and
// a word that cannot be a tag no list at all.
func (h *handler) listTagged(c *gin.Context) error {
	token, err := requireToken(c)
	if err != nil {
		return err
	}
	tag, ok := persistence.NormalizeTag(c.Param("tag"))
	if !ok {
		return h.tokenFirst(c, token, notFound())
	}
	r, err := pageParams(c)
	if err != nil {
		return h.tokenFirst(c, token, err)
	}
	caller, page, err := h.store.Tagged(c.Request.Context(), token, tag, r.store())
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, h.postPage(c, tagPath(tag), page, caller.ID, r))
}

// getUserByName serves GET /api/users/by-name/:username: the user of that
// username in any case, as GET /api/users/:id serves them, which
// Content-Location names.
func (h *handler) getUserByName(c *gin.Context) error {
	token, err := requireToken(c)
	if err != nil {
		return err
	}
	name := c.Param("username")
	if h.fields.username.check(name) != "" {
		return h.tokenFirst(c, token, notFound())
	}
	id, err := h.store.UserID(c.Request.Context(), name)
	if err != nil {
		return h.tokenFirst(c, token, err)
	}
	c.Header("Content-Location", h.base(c)+userPath(id))
	return h.serveProfile(c, token, id)
}

// The cursors of searches: the rank, '~', and the item's key. Of a user
// search, the key is the username in lower case; of a post search, it is
// the time and id of a post as in listCursors. A post's rank is a float4
// written as its shortest exact decimal.
var (
	nameCursors = cursorFormat{parse: parseNameCursor, format: func(cur *persistence.Cursor) string {
		if cur == nil {
			return ""
		}
		return strconv.Itoa(int(cur.Rank)) + "~" + cur.Name
	}}
	rankCursors = cursorFormat{parse: parseRankCursor, format: func(cur *persistence.Cursor) string {
		if cur == nil {
			return ""
		}
		return strconv.FormatFloat(float64(cur.Rank), 'g', -1, 32) + "~" + formatCursor(cur)
	}}
	nameCursorPattern = regexp.MustCompile(`^([0-2])~([a-z0-9._-]{1,64})$`)
)

func parseNameCursor(v string) (*persistence.Cursor, error) {
	m := nameCursorPattern.FindStringSubmatch(v)
	if m == nil {
		return nil, errors.New("malformed cursor")
	}
	rank, _ := strconv.Atoi(m[1]) // one digit
	return &persistence.Cursor{Rank: float32(rank), Name: m[2]}, nil
}

func parseRankCursor(v string) (*persistence.Cursor, error) {
	rank, key, ok := strings.Cut(v, "~")
	if !ok {
		return nil, errors.New("malformed cursor")
	}
	r, err := strconv.ParseFloat(rank, 32)
	if err != nil || !(r >= 0 && r <= 1e30) {
		return nil, errors.New("malformed rank")
	}
	cur, err := parseCursor(key)
	if err != nil || cur.At.IsZero() {
		return nil, errors.New("malformed cursor")
	}
	cur.Rank = float32(r)
	return cur, nil
}
