package resources

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// identiconType is the media type of the avatars the API draws.
const identiconType = "image/svg+xml"

var identiconOffers = []string{identiconType}

// cacheAvatar lets any cache keep an identicon for a day: it is the same
// for everyone and changes only with a release, which its ETag follows.
const cacheAvatar = "public, max-age=86400"

// getAvatar serves GET /api/users/:id/avatar: the identicon of user id,
// drawn from the id alone. It needs no token, since an <img> sends none,
// and reads nothing: the picture tells no more than the id in its URL,
// whether or not a user has it.
func (h *handler) getAvatar(c *gin.Context) error {
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	svg := identicon(id)
	hd := c.Writer.Header()
	hd.Set("Cache-Control", cacheAvatar)
	// An SVG opened on its own is a document: it may run nothing.
	hd.Set("Content-Security-Policy", "default-src 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	tag := bodyTag(identiconType, svg)
	if notModified(c, tag, time.Time{}) {
		return nil
	}
	c.Header("ETag", tag)
	writeBody(c, http.StatusOK, identiconType, svg)
	return nil
}

// identicon draws the avatar of user id, as GitHub's identicons look: a
// grid of 5 by 5 squares, symmetric about its middle column, in one colour
// on a light ground, both from a SHA-256 of the id. A small SVG written
// here rather than a library: the Go identicon libraries (issue9/identicon,
// dgryski/go-identicon) are not served by the module proxy this project
// builds from, and the picture is a few lines.
func identicon(id int64) []byte {
	sum := sha256.Sum256([]byte("microblog identicon " + strconv.FormatInt(id, 10)))
	// Each channel between 48 and 175: never too light to see on the
	// ground, never black.
	colour := fmt.Sprintf("#%02x%02x%02x", 48+sum[0]%128, 48+sum[1]%128, 48+sum[2]%128)
	var path strings.Builder
	for i := range 15 {
		if sum[3+i/8]>>(i%8)&1 == 0 {
			continue
		}
		x, y := i/5, i%5
		for _, col := range []int{x, 4 - x} {
			fmt.Fprintf(&path, "M%d %dh1v1h-1z", col+1, y+1)
			if col == 2 {
				break // the middle column is its own mirror
			}
		}
	}
	return fmt.Appendf(nil, `<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 7 7" `+
		`shape-rendering="crispEdges"><rect width="7" height="7" fill="#f0f0f0"/><path fill="%s" d="%s"/></svg>`+"\n",
		colour, path.String())
}
