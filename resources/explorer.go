package resources

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
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
// come from the API itself or, for a user who chose it, from Gravatar.
const explorerCSP = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' https://www.gravatar.com data:; connect-src 'self'; " +
	"form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

// asset is one file of the explorer, with its ETag, so that no-cache costs
// a 304 and not the whole file.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// explorerType is the content type of an explorer file, by its extension.
func explorerType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	}
	return "text/html; charset=utf-8"
}

// explorerAssets reads the explorer's files, by name.
func explorerAssets() (map[string]asset, error) {
	entries, err := explorerFiles.ReadDir("explorer")
	if err != nil {
		return nil, fmt.Errorf("resources: explorer: %w", err)
	}
	assets := map[string]asset{}
	for _, e := range entries {
		body, err := fs.ReadFile(explorerFiles, "explorer/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("resources: explorer: %w", err)
		}
		sum := sha256.Sum256(body)
		assets[e.Name()] = asset{body: body, contentType: explorerType(e.Name()),
			etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
	}
	return assets, nil
}

// getExplorerFile serves GET /explorer/ (the page) and its files.
func (h *handler) getExplorerFile(c *gin.Context) {
	name := strings.TrimPrefix(c.FullPath(), "/explorer/")
	if name == "" {
		name = "index.html"
	}
	a, ok := h.explorer[name]
	if !ok {
		h.noRoute(c)
		return
	}
	hd := c.Writer.Header()
	hd.Set("Content-Type", a.contentType)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", a.etag)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Content-Security-Policy", explorerCSP)
	http.ServeContent(c.Writer, c.Request, name, time.Time{}, bytes.NewReader(a.body))
}

// redirectToExplorer serves GET /explorer. A relative Location keeps a
// proxy's path prefix.
func (h *handler) redirectToExplorer(c *gin.Context) {
	c.Header("Location", "explorer/")
	c.Status(http.StatusMovedPermanently)
}
