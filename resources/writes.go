package resources

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// invalidates names, in Link rel="invalidates", the resources whose
// representations a successful write changed and that a client may hold:
// a caching client (Ketting, say) drops its copies of them instead of
// serving them stale. A cache drops its copy of the target of an unsafe
// request anyway (RFC 9111 section 4.4); the others it cannot guess.
func (h *handler) invalidates(c *gin.Context, paths ...string) {
	links := make([]string, len(paths))
	for i, p := range paths {
		links[i] = "<" + h.base(c) + p + `>; rel="invalidates"`
	}
	c.Writer.Header().Add("Link", strings.Join(links, ", "))
}

// represents names, in Content-Location, the resource whose current
// representation the response to a write carries (RFC 9110 section 8.7),
// so that a client may keep it as that resource's and need not GET it.
// With Prefer: return=minimal the response carries none.
func (h *handler) represents(c *gin.Context, path string) {
	if returnPreference(c) != "minimal" {
		c.Header("Content-Location", h.base(c)+path)
	}
}

// returnPreference is the value of the return preference of the request's
// Prefer header (RFC 7240 section 4.2), "minimal" or "representation", or
// "" when it has none. Names are compared without regard to case, a value
// may be quoted, and a preference given twice counts the first time.
func returnPreference(c *gin.Context) string {
	for _, field := range c.Request.Header.Values("Prefer") {
		for pref := range strings.SplitSeq(field, ",") {
			pref, _, _ = strings.Cut(pref, ";")
			name, value, _ := strings.Cut(pref, "=")
			if strings.EqualFold(strings.TrimSpace(name), "return") {
				return strings.ToLower(strings.Trim(strings.TrimSpace(value), `"`))
			}
		}
	}
	return ""
}

// answeredMinimal answers a successful write without its representation
// when the client prefers return=minimal: 204, or status (201, with its
// Location) for a creation, with the validators already set. It reports
// whether it did. The response says which preference it applied.
func answeredMinimal(c *gin.Context, status int) bool {
	if c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead {
		return false
	}
	switch returnPreference(c) {
	case "minimal":
		c.Header("Preference-Applied", "return=minimal")
		if status == http.StatusOK {
			status = http.StatusNoContent
		}
		c.Status(status)
		return true
	case "representation":
		c.Header("Preference-Applied", "return=representation")
	}
	return false
}
