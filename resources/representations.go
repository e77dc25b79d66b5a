package resources

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/maypok86/otter/v2"

	"microblog/hal"
)

// representationBytes bounds the memory of the representations kept: the
// sum of their bodies and tags.
const representationBytes = 4 << 20

// ctxKeepRepresentation marks a request whose representation render keeps
// under its entity tag.
const ctxKeepRepresentation = "microblog.keep_representation"

// representation is a rendered body and its media type.
type representation struct {
	body        []byte
	contentType string
}

// representations keeps rendered bodies by their strong entity tag, which
// names one representation and no other (every version, viewer and media
// type that shapes it is in the tag): while the tag a resource has is one
// kept here, its body is served without reading or rendering anything but
// the versions the tag is made of. Nothing in it goes stale: a change
// makes a new tag, and the old entry is never asked for again and ages
// out. The cache is otter's (maypok86/otter), bounded by weight.
type representations struct {
	cache *otter.Cache[string, representation]
}

func newRepresentations() (*representations, error) {
	cache, err := otter.New(&otter.Options[string, representation]{
		MaximumWeight: representationBytes,
		Weigher: func(tag string, r representation) uint32 {
			return uint32(len(tag) + len(r.body) + len(r.contentType))
		},
	})
	if err != nil {
		return nil, err
	}
	return &representations{cache: cache}, nil
}

// serveKept answers a GET whose representation has entity tag tag, last
// modified at modified: 304 when the client holds it, the kept body when
// there is one, and otherwise marks the request for render to keep what
// it renders, and reports false.
func (h *handler) serveKept(c *gin.Context, tag string, modified time.Time) bool {
	if notModified(c, tag, modified) {
		return true
	}
	c.Set(ctxKeepRepresentation, true)
	r, ok := h.reps.cache.GetIfPresent(tag)
	if !ok {
		return false
	}
	setValidators(c, tag, modified)
	if c.Writer.Header().Get("Cache-Control") == "" {
		c.Header("Cache-Control", cachePrivate)
	}
	h.send(c, http.StatusOK, r.contentType, r.body)
	return true
}

// keep keeps body, of media type mt, under the response's entity tag when
// serveKept asked for it.
func (h *handler) keep(c *gin.Context, mt string, body []byte) {
	if !c.GetBool(ctxKeepRepresentation) {
		return
	}
	if tag := c.Writer.Header().Get("ETag"); tag != "" {
		h.reps.cache.Set(tag, representation{body: append([]byte(nil), body...), contentType: mt})
	}
}

// sharedBytes bounds the memory of the shared parts of users and of
// posts, each.
const sharedBytes = 4 << 20

// userKey names one version of a user, rendered for one base.
type userKey struct {
	id, version int64
	base        string
}

// postKey names one version of a post, by an author of one name, rendered
// for one base: a post's version does not move when its author is renamed.
type postKey struct {
	id, version  int64
	author, base string
}

// sharedParts keeps the part of each user's or post's representation that
// every caller sees alike, rendered (hal.Shared), by what names its
// version (K): a page renders each user or post once per version, not once
// per request, and adds only what the caller alone sees. A new version is
// a new key, so nothing kept is stale.
type sharedParts[K comparable] struct {
	cache *otter.Cache[K, *hal.Shared]
}

func newSharedParts[K comparable]() (*sharedParts[K], error) {
	cache, err := otter.New(&otter.Options[K, *hal.Shared]{
		MaximumWeight: sharedBytes,
		Weigher:       func(_ K, s *hal.Shared) uint32 { return uint32(s.Size() + 64) },
	})
	if err != nil {
		return nil, err
	}
	return &sharedParts[K]{cache: cache}, nil
}

// get returns the shared part named k, rendering build's resource for base
// if it is not kept.
func (s *sharedParts[K]) get(k K, base string, build func() *hal.Resource) (*hal.Shared, error) {
	if shared, ok := s.cache.GetIfPresent(k); ok {
		return shared, nil
	}
	shared, err := build().Share(base)
	if err != nil {
		return nil, err
	}
	s.cache.Set(k, shared)
	return shared, nil
}

// makeCaches makes the caches of rendered representations and shared
// parts of h.
func (h *handler) makeCaches() error {
	var err error
	if h.reps, err = newRepresentations(); err != nil {
		return err
	}
	if h.sharedUsers, err = newSharedParts[userKey](); err != nil {
		return err
	}
	h.sharedPosts, err = newSharedParts[postKey]()
	return err
}
