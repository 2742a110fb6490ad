package devconsole

import "net/http"

// morePages are the Users page (the management API, called from the
// browser with a management key the developer types) and the API
// reference (/openapi.json rendered by the console's own script). They
// get the same guards as every console route (Routes). api/activity
// serves the blocked sends and delivery statuses (Activity) the inbox
// shows.
func (c *Console) morePages(file func(name, ctype string) http.Handler) map[string]http.Handler {
	const html, js = "text/html; charset=utf-8", "text/javascript; charset=utf-8"
	return map[string]http.Handler{
		Prefix + "users":        file("users.html", html),
		Prefix + "users.js":     file("users.js", js),
		Prefix + "reference":    file("reference.html", html),
		Prefix + "reference.js": file("reference.js", js),
		Prefix + "api/activity": http.HandlerFunc(c.activity),
	}
}
