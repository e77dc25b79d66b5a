package resources

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// explorerFiles holds the page of the explorer: plain HTML, CSS and
// JavaScript, with no build step.
//
//go:embed explorer
var explorerFiles embed.FS

// explorerCSP allows the page its own script and style and nothing inline,
// so that markup in a post body can never run or restyle the page. Avatars
// come from Gravatar.
const explorerCSP = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' https://www.gravatar.com data:; connect-src 'self'; " +
	"form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

// Explorer serves the HAL explorer page under /explorer/.
type Explorer struct{}

// Register adds GET (and HEAD) /explorer/ and its assets to r, and a
// redirect from /explorer to /explorer/.
func (Explorer) Register(r gin.IRoutes) {
	assets := []struct{ path, file, contentType string }{
		{"/explorer/", "index.html", "text/html; charset=utf-8"},
		{"/explorer/explorer.js", "explorer.js", "text/javascript; charset=utf-8"},
		{"/explorer/explorer.css", "explorer.css", "text/css; charset=utf-8"},
	}
	for _, a := range assets {
		h := serveAsset(a.file, a.contentType)
		r.GET(a.path, h)
		r.HEAD(a.path, h)
	}
	// A relative Location keeps a proxy's path prefix.
	redirect := func(c *gin.Context) {
		c.Header("Location", "explorer/")
		c.Status(http.StatusMovedPermanently)
	}
	r.GET("/explorer", redirect)
	r.HEAD("/explorer", redirect)
}

// serveAsset serves one embedded file with its ETag, so that no-cache costs
// a 304 and not the whole file.
func serveAsset(name, contentType string) gin.HandlerFunc {
	body, err := explorerFiles.ReadFile("explorer/" + name)
	if err != nil {
		// The files are compiled in: a missing one is a bug in this package.
		panic("resources: explorer file missing: " + err.Error())
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("Content-Type", contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", etag)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", explorerCSP)
		http.ServeContent(c.Writer, c.Request, name, time.Time{}, bytes.NewReader(body))
	}
}
