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

// userTag is the entity tag of user id at version, as viewer sees it in
// media type mt. Everything in a user's representation (its row, its counts,
// whether the viewer follows it, its newest posts) bumps its version.
func (h *handler) userTag(c *gin.Context, id, version, viewer int64, mt string) string {
	return entityTag(h.tagSalt, "user", strconv.FormatInt(id, 10), strconv.FormatInt(version, 10),
		strconv.FormatInt(viewer, 10), mt, h.base(c))
}

// postTag is the entity tag of p as viewer sees it in media type mt: the
// post's version and the parts of its author it embeds.
func (h *handler) postTag(c *gin.Context, p persistence.Post, viewer int64, mt string) string {
	return entityTag(h.tagSalt, "post", strconv.FormatInt(p.ID, 10), strconv.FormatInt(p.Version, 10),
		strconv.FormatInt(p.Author.ID, 10), p.Author.Username, p.Author.Email,
		strconv.FormatInt(viewer, 10), mt, h.base(c))
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
		fresh = !modified.Truncate(time.Second).After(ims)
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

// checkIfMatch refuses a write whose If-Match names none of the current
// tags (412), or which has none when the server requires one (428). The
// current tags are those of every media type the representation has, so
// that the tag of whichever one the client read is good.
func (h *handler) checkIfMatch(c *gin.Context, current func(mt string) []string) error {
	im := c.GetHeader("If-Match")
	if im == "" {
		if h.cfg.RequireIfMatch {
			return newError(http.StatusPreconditionRequired,
				"send If-Match with the ETag of the representation you are changing")
		}
		return nil
	}
	var tags []string
	for _, mt := range halOffers {
		tags = append(tags, current(mt)...)
	}
	if !tagList(im, false, tags...) {
		return stale()
	}
	return nil
}

func stale() *httpError {
	return newError(http.StatusPreconditionFailed,
		"the resource has changed since you read it: read it again, then retry")
}

// renderWith sends res like render, with tag and modified as its
// validators, or a 304 when the client has it already.
func (h *handler) renderWith(c *gin.Context, status int, res *hal.Resource, tag string, modified time.Time) error {
	if status == http.StatusOK && notModified(c, tag, modified) {
		return nil
	}
	setValidators(c, tag, modified)
	return h.render(c, status, res)
}
