package resources

import (
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"microblog/hal"
	"microblog/persistence"
)

// relDownload is the rel of an export's file, on its job resource once it
// is done.
const relDownload = "mb:download"

// exportFileType is the media type of an export's file, the one
// representation of mb:download.
const exportFileType = "application/json"

var exportFileOffers = []string{exportFileType}

// downloadWriteTimeout is how long a client of a download may take to read
// each few chunks of it: as long as it keeps reading, the download may
// take longer than the server's write timeout.
const downloadWriteTimeout = 30 * time.Second

func exportsPath(user int64) string { return userPath(user) + "/exports" }

// exportView is the properties of an export, a job resource.
type exportView struct {
	ID         int64      `json:"id"`
	State      string     `json:"state"`
	Progress   int64      `json:"progress"`
	PostCount  int64      `json:"post_count"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

// exportResource is e as its user sees it: its state and progress, the
// user whose posts it holds and, once it is done, its file.
func exportResource(e persistence.Export) *hal.Resource {
	v := exportView{ID: e.ID, State: e.State, Progress: e.Progress, PostCount: e.PostCount, CreatedAt: e.CreatedAt.UTC()}
	if e.FinishedAt != nil {
		t := e.FinishedAt.UTC()
		v.FinishedAt = &t
	}
	path := persistence.ExportPath(e.ID)
	res := hal.New(v).AddLink("self", hal.Link{Href: path}).AddLink(relUser, hal.Link{Href: userPath(e.UserID)})
	if e.State == persistence.ExportDone {
		res.AddLink(relDownload, hal.Link{Href: path + "/download", Type: exportFileType})
	}
	return addCuries(res)
}

// createExport serves POST /api/users/:id/exports, the template export of
// the caller's own user: 202 with the new job resource, or 303 to the one
// queued or running, which a second request never duplicates.
func (h *handler) createExport(c *gin.Context) error {
	caller, id, err := h.callerAndID(c)
	if err != nil {
		return err
	}
	if id != caller.ID {
		return newError(http.StatusForbidden, "you may only export your own posts")
	}
	e, created, err := h.store.CreateExport(c.Request.Context(), caller.ID)
	if err != nil {
		return err
	}
	path := persistence.ExportPath(e.ID)
	c.Header("Location", h.base(c)+path)
	if !created {
		c.Status(http.StatusSeeOther)
		return nil
	}
	h.represents(c, path)
	return h.render(c, http.StatusAccepted, exportResource(e))
}

// getExport serves GET /api/exports/:id in one statement with the token
// check: only to its user, and a 404 to anyone else. Its ETag is a hash of
// the body, so a client polling with If-None-Match gets a 304 until the
// state or the progress moves.
func (h *handler) getExport(c *gin.Context) error {
	ce, err := h.callerExport(c)
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, exportResource(ce.Export))
}

// callerExport reads the export of the request's id path parameter and
// the caller, in one statement with the token check.
func (h *handler) callerExport(c *gin.Context) (persistence.CallerExport, error) {
	token, id, err := h.tokenAndID(c)
	if err != nil {
		return persistence.CallerExport{}, err
	}
	return h.store.ExportFor(c.Request.Context(), token, id)
}

// downloadExport serves GET /api/exports/:id/download, the file of an
// export that is done, as an attachment: streamed from its chunks a few at
// a time, never whole in memory. Before it is done: 409. The file never
// changes, so its validators are made from when it was finished.
func (h *handler) downloadExport(c *gin.Context) error {
	ce, err := h.callerExport(c)
	if err != nil {
		return err
	}
	e := ce.Export
	if e.State != persistence.ExportDone {
		return newError(http.StatusConflict, "the export is "+e.State+": its file is there once its state is done")
	}
	tag := entityTag("export", strconv.FormatInt(e.ID, 10), strconv.FormatInt(e.FinishedAt.UnixMicro(), 10))
	c.Header("Cache-Control", cachePrivate)
	if notModified(c, tag, *e.FinishedAt) {
		return nil
	}
	setValidators(c, tag, *e.FinishedAt)
	// Usernames are letters, digits, '.', '_' and '-': nothing to quote.
	c.Header("Content-Disposition", `attachment; filename="microblog-`+ce.Caller.Username+`-export-`+strconv.FormatInt(e.ID, 10)+`.json"`)
	c.Header("Content-Type", exportFileType)
	c.Header("Content-Length", strconv.FormatInt(e.Size, 10))
	c.Status(http.StatusOK)
	if c.Request.Method == http.MethodHead {
		return nil
	}
	w := deadlineWriter{rc: http.NewResponseController(c.Writer), w: c.Writer}
	if err := h.store.WriteExport(c.Request.Context(), e, w); err != nil {
		// The status and part of the file are sent: the connection closes
		// short of Content-Length, which tells the client it is cut short.
		h.log.WarnContext(c.Request.Context(), "download cut short", "export_id", e.ID, "err", err,
			"request_id", requestID(c))
	}
	return nil
}

// deadlineWriter gives each write to the client of a download a deadline
// of its own.
type deadlineWriter struct {
	rc *http.ResponseController
	w  io.Writer
}

func (d deadlineWriter) Write(p []byte) (int, error) {
	// A writer that cannot take deadlines (a test's recorder) needs none.
	_ = d.rc.SetWriteDeadline(time.Now().Add(downloadWriteTimeout))
	return d.w.Write(p)
}
