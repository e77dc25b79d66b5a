package resources

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/gin-gonic/gin"

	"microblog/hal"
	"microblog/persistence"
)

// Cache-Control values (API.md section 9): what depends on who asks is
// private and revalidated every time; the root and the rel documents are the
// same for everyone and change only with a new release.
const (
	cachePrivate = "private, no-cache"
	cachePublic  = "public, max-age=300"
)

// entityTag returns a strong entity tag made of parts: the same parts, the
// same tag, on every instance and across restarts. It is a hash so that it
// reveals nothing of what it is made of. xxHash64 (cespare/xxhash, which
// the Prometheus client already brings) because collections and the root
// are tagged by hashing their whole body on every GET: at several GB/s it
// is a rounding error where FNV-64, byte by byte, took 7% of the CPU of a
// page of 100 users.
func entityTag(parts ...string) string {
	h := xxhash.New()
	for _, p := range parts {
		_, _ = h.WriteString(p)
		_, _ = h.Write([]byte{0})
	}
	return `"` + strconv.FormatUint(h.Sum64(), 36) + `"`
}

// bodyTag is the entity tag of body served as mt, hashed in place rather
// than copied into a string first.
func bodyTag(mt string, body []byte) string {
	h := xxhash.New()
	_, _ = h.WriteString(mt)
	_, _ = h.Write([]byte{0})
	_, _ = h.Write(body)
	_, _ = h.Write([]byte{0})
	return `"` + strconv.FormatUint(h.Sum64(), 36) + `"`
}

// tagSalt goes into the version-made tags: representations change with a
// release (the OpenAPI document describes them) and with the settings they
// show (the password length in forms), not only with the data.
func tagSalt(minPassword int) string {
	return entityTag(string(openAPIDocument), strconv.Itoa(minPassword))
}

// userTag is the entity tag of user id at version, with the newest posts
// that posts names (persistence.PostsKey), as viewer sees it in media type
// mt. The user's row, its counts, whether the viewer follows it and the
// text of its posts bump its version; the posts' likes and replies bump
// only theirs, which posts names.
func (h *handler) userTag(c *gin.Context, id, version, viewer int64, posts, mt string) string {
	return entityTag(h.tagSalt, "user", strconv.FormatInt(id, 10), strconv.FormatInt(version, 10),
		strconv.FormatInt(viewer, 10), posts, mt, h.base(c))
}

// postTag is the entity tag of p as viewer sees it in media type mt: the
// post's version and the parts of its author and of the users it mentions
// that it shows.
//
// No tag is made of anything secret, an email least of all: a tag anyone
// can see must not let them test a guessed address offline. So there is no
// key to keep either (a key per process would change every tag at each
// restart and differ between instances).
func (h *handler) postTag(c *gin.Context, p persistence.Post, viewer int64, mt string) string {
	parts := []string{h.tagSalt, "post", strconv.FormatInt(p.ID, 10), strconv.FormatInt(p.Version, 10),
		strconv.FormatInt(p.Author.ID, 10), p.Author.Username, strconv.FormatInt(viewer, 10), mt, h.base(c)}
	for _, m := range p.Mentions() {
		parts = append(parts, strconv.FormatInt(m.ID, 10), m.Username)
	}
	return entityTag(parts...)
}

// postModified is when p's representation last changed, its author
// included; an author's other changes move it too, which costs a 304 now
// and then but never serves a stale post.
func postModified(p persistence.Post) time.Time {
	if p.Author.ChangedAt.After(p.ChangedAt) {
		return p.Author.ChangedAt
	}
	return p.ChangedAt
}

// mediaType is the negotiated media type of the request.
func mediaType(c *gin.Context) string { return c.GetString(ctxMediaType) }

// setValidators sets the ETag and, when known, Last-Modified of the
// representation about to be sent.
func setValidators(c *gin.Context, tag string, modified time.Time) {
	c.Header("ETag", tag)
	if !modified.IsZero() {
		// Never later than the Date the response carries.
		if now := time.Now(); modified.After(now) {
			modified = now
		}
		c.Header("Last-Modified", modified.UTC().Format(http.TimeFormat))
	}
}

// tagList reports whether the If-Match or If-None-Match value header lists
// one of tags, or is "*". weak allows W/ tags to match (If-None-Match uses
// the weak comparison, If-Match the strong one).
func tagList(header string, weak bool, tags ...string) bool {
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return true
		}
		if strings.HasPrefix(t, "W/") {
			if !weak {
				continue
			}
			t = t[2:]
		}
		for _, want := range tags {
			if t == want {
				return true
			}
		}
	}
	return false
}

// conditional reports whether the request has validators to check.
func conditional(c *gin.Context) bool {
	return c.GetHeader("If-None-Match") != "" || c.GetHeader("If-Modified-Since") != ""
}

// notModified answers 304 and reports true when the client's copy, named by
// If-None-Match or else If-Modified-Since, is the current one (RFC 9110
// section 13.2.2).
func notModified(c *gin.Context, tag string, modified time.Time) bool {
	if c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead {
		return false
	}
	fresh := false
	if inm := c.GetHeader("If-None-Match"); inm != "" {
		fresh = tagList(inm, true, tag)
	} else if ims, err := http.ParseTime(c.GetHeader("If-Modified-Since")); err == nil && !modified.IsZero() {
		fresh = !changedSince(modified, ims)
	}
	if !fresh {
		return false
	}
	setValidators(c, tag, modified)
	if c.Writer.Header().Get("Cache-Control") == "" {
		c.Header("Cache-Control", cachePrivate)
	}
	c.Status(http.StatusNotModified)
	return true
}

// changedSince reports whether a resource last changed at modified, a time
// of the database's full (microsecond) precision, has changed since date,
// an HTTP date, which names a whole second. Last-Modified is modified
// truncated to its second, so all the changes within one second share it:
// a client that sends back the Last-Modified it read may hold any of them.
// Only a change before the instant the date names is surely one the client
// has seen, so a change within the second counts as a change since it:
// If-Modified-Since gets the new representation, never a 304 that keeps a
// copy made earlier in that second, and If-Unmodified-Since a 412, never a
// lost update. The price: a Last-Modified sent back as it was read
// revalidates only when the change fell on a whole second (a later date
// does, and so does the ETag every such response carries, exactly).
// Rounding Last-Modified up to the end of its second would not be safe:
// changed_at is the clock_timestamp() of the update, taken before it
// commits, so a read may miss a change whose time is earlier than its own.
func changedSince(modified, date time.Time) bool {
	return modified.After(date)
}

// target is what the preconditions of a write are evaluated against (RFC
// 9110 section 13.1): whether the target resource has a current
// representation, the entity tags it has in every media type (only needed
// when If-Match or If-None-Match lists tags: see listsTags), and when it
// last changed (zero when it has no Last-Modified).
type target struct {
	exists   bool
	tags     []string
	modified time.Time
}

// preconditioned reports whether the request has preconditions to check
// against the target of a write.
func preconditioned(c *gin.Context) bool {
	return c.GetHeader("If-Match") != "" || c.GetHeader("If-None-Match") != "" ||
		c.GetHeader("If-Unmodified-Since") != ""
}

// listsTags reports whether If-Match or If-None-Match names entity tags,
// which are quoted, rather than only "*": only then are the target's tags
// needed.
func listsTags(c *gin.Context) bool {
	return strings.Contains(c.GetHeader("If-Match"), `"`) || strings.Contains(c.GetHeader("If-None-Match"), `"`)
}

// checkPreconditions evaluates the preconditions of a write to t in the
// order of RFC 9110 section 13.2.2, refusing it with 412 at the first that
// is false: If-Match (strong comparison; false for a target that does not
// exist), else If-Unmodified-Since (ignored when the date is not one, or t
// has no Last-Modified), then If-None-Match (weak comparison; "*" is false
// for a target that exists). When required, a write with neither If-Match
// nor an If-Unmodified-Since that counts is a 428. It reports whether
// If-Match or If-Unmodified-Since held: the write must then find the target
// as it was evaluated, or two writers could pass the check together.
func checkPreconditions(c *gin.Context, t target, required bool) (bool, error) {
	im := c.GetHeader("If-Match")
	ius, err := http.ParseTime(c.GetHeader("If-Unmodified-Since"))
	unmodified := im == "" && err == nil && !t.modified.IsZero()
	switch {
	case im != "" && !t.exists:
		return false, newError(http.StatusPreconditionFailed,
			"If-Match names a representation, but there is none: the resource does not exist")
	case im != "" && !tagList(im, false, t.tags...):
		return false, stale()
	case unmodified && changedSince(t.modified, ius):
		return false, stale()
	case im == "" && !unmodified && required:
		return false, newError(http.StatusPreconditionRequired,
			"send If-Match with the ETag of the representation you are changing (or If-Unmodified-Since with its Last-Modified)")
	}
	if inm := c.GetHeader("If-None-Match"); inm != "" && t.exists && tagList(inm, true, t.tags...) {
		return false, newError(http.StatusPreconditionFailed,
			"If-None-Match: the resource exists, or is as you named it, and you asked to write only if not")
	}
	return im != "" || unmodified, nil
}

func stale() *httpError {
	return newError(http.StatusPreconditionFailed,
		"the resource has changed since you read it: read it again, then retry")
}

// bodyTags are the entity tags of res in each media type render serves it
// as, for a resource whose tag is made from its body.
func (h *handler) bodyTags(c *gin.Context, res *hal.Resource) ([]string, error) {
	body, err := res.AppendJSON(nil, h.base(c))
	if err != nil {
		return nil, err
	}
	tags := []string{bodyTag(hal.MediaType, body), bodyTag(jsonType, body)}
	if res.HasTemplates() {
		if body, err = res.AppendForms(nil, h.base(c)); err != nil {
			return nil, err
		}
		tags = append(tags, bodyTag(hal.FormsMediaType, body))
	}
	return tags, nil
}

// renderWith sends res like render, with tag and modified as its
// validators, or a 304 when the client has it already, or, to a write whose
// client prefers return=minimal, no body.
func (h *handler) renderWith(c *gin.Context, status int, res *hal.Resource, tag string, modified time.Time) error {
	if status == http.StatusOK && notModified(c, tag, modified) {
		return nil
	}
	setValidators(c, tag, modified)
	if answeredMinimal(c, status) {
		return nil
	}
	return h.render(c, status, res)
}

// cacheOwnEmail is the Cache-Control of a representation that carries the
// caller's email address (API.md section 12): no cache keeps it at all,
// not even the browser's on a shared machine.
const cacheOwnEmail = "private, no-store"

// storeNothingIf marks the response cacheOwnEmail when it carries the
// caller's email address.
func storeNothingIf(c *gin.Context, carriesEmail bool) {
	if carriesEmail {
		c.Header("Cache-Control", cacheOwnEmail)
	}
}
