package resources

import "github.com/gin-gonic/gin"

// routes adds every route of the API to r: this, accountRoutes,
// explorerRoutes and opsRoutes are the one place that lists them. Each GET
// also answers HEAD, and each path OPTIONS (addHeadAndOptions). Handlers that return an
// error go through handle, which negotiates the media type first and sends
// every failure to writeError; the others serve what is not HAL.
func (h *handler) routes(r *gin.Engine) {
	r.GET("/", h.home)

	api := r.Group("/api")
	api.GET("", h.handle(h.getRoot))
	api.GET("/rels", h.handle(h.listRels))
	api.GET("/rels/:rel", h.handleAs(relOffers, h.getRel))
	api.GET("/problems/:name", h.handleAs(relOffers, h.getProblem))
	api.GET("/openapi.json", h.getOpenAPI)
	api.GET("/docs", h.getDocs)

	h.accountRoutes(api)

	api.GET("/users", h.handle(h.listUsers))
	api.POST("/users", h.handle(h.createUser))
	api.GET("/users/:id", h.handle(h.getUser))
	api.PUT("/users/:id", h.handle(h.updateUser))
	api.PATCH("/users/:id", h.handle(h.updateUser))
	api.DELETE("/users/:id", h.handle(h.deleteUser))
	api.GET("/users/:id/followers", h.handle(h.listFollowers))
	api.GET("/users/:id/following", h.handle(h.listFollowing))
	api.GET("/users/:id/following/:target", h.handle(h.getFollow))
	api.PUT("/users/:id/following/:target", h.handle(h.putFollow))
	api.DELETE("/users/:id/following/:target", h.handle(h.deleteFollow))
	api.GET("/users/:id/posts", h.handle(h.listUserPosts))
	api.POST("/users/:id/messages", h.handle(h.createMessage))
	api.GET("/users/:id/avatar", h.handleAs(identiconOffers, h.getAvatar))
	api.GET("/users/by-name/:username", h.handle(h.getUserByName))
	api.GET("/search/users", h.handle(h.searchUsers))
	api.GET("/search/posts", h.handle(h.searchPosts))
	api.GET("/tags/:tag", h.handle(h.listTagged))

	api.GET("/posts", h.handle(h.listPosts))
	api.POST("/posts", h.handle(h.createPost))
	api.GET("/posts/:id", h.handle(h.getPost))
	api.PUT("/posts/:id", h.handle(h.updatePost))
	api.PATCH("/posts/:id", h.handle(h.updatePost))
	api.DELETE("/posts/:id", h.handle(h.deletePost))
	api.GET("/posts/:id/replies", h.handle(h.listReplies))
	api.POST("/posts/:id/replies", h.handle(h.createReply))
	api.GET("/posts/:id/likes", h.handle(h.listLikers))
	api.GET("/posts/:id/likes/:user", h.handle(h.getLike))
	api.PUT("/posts/:id/likes/:user", h.handle(h.putLike))
	api.DELETE("/posts/:id/likes/:user", h.handle(h.deleteLike))
	api.GET("/feed", h.handle(h.getFeed))

	api.GET("/messages", h.handle(h.listMessages))
	api.GET("/messages/:id", h.handle(h.getMessage))
	api.GET("/notifications", h.handleAs(notificationOffers, h.listNotifications))
	api.GET("/notifications/:id", h.handle(h.getNotification))
	api.POST("/notifications", h.handle(h.markNotificationsRead))

	h.explorerRoutes(r)
}

// explorerRoutes adds the explorer's page, script and style sheet to r.
func (h *handler) explorerRoutes(r *gin.Engine) {
	r.GET("/explorer", h.redirectToExplorer)
	r.GET("/explorer/", h.getExplorerFile)
	r.GET("/explorer/explorer.js", h.getExplorerFile)
	r.GET("/explorer/explorer.css", h.getExplorerFile)
}

// accountRoutes adds the routes of logging in and of one's account to the
// API's group: tokens and sessions, the caller's own user, password
// resets, exports.
func (h *handler) accountRoutes(api *gin.RouterGroup) {
	api.POST("/tokens", h.handle(h.createToken))
	api.DELETE("/tokens", h.handle(h.deleteToken))
	api.GET("/tokens/:id", h.handle(h.getSession))
	api.DELETE("/tokens/:id", h.handle(h.revokeSession))
	api.GET("/users/:id/sessions", h.handle(h.listSessions))
	api.DELETE("/users/:id/sessions", h.handle(h.revokeOtherSessions))
	api.GET("/me", h.handle(h.getMe))
	api.GET("/password-reset", h.handle(h.getPasswordReset))
	api.POST("/password-reset", h.handle(h.postPasswordReset))
	api.POST("/users/:id/exports", h.handle(h.createExport))
	api.GET("/exports/:id", h.handle(h.getExport))
	api.GET("/exports/:id/download", h.handleLong(exportFileOffers, h.downloadExport))
}

// opsRoutes adds the routes for operators to r: on the API's router, or on
// one of their own (NewHandlers).
func (h *handler) opsRoutes(r *gin.Engine) {
	r.GET("/healthz", h.healthz)
	r.GET("/readyz", h.readyz)
	r.GET("/metrics", h.getMetrics)
}
