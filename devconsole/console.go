// Package devconsole is otpd's development console, served under /dev/
// on the REST listener in embedded mode: an inbox of every message the
// `log` provider "sent" (live over server-sent events) and a "Try it"
// sign-in page that calls the public REST API with fetch.
//
// It shows one-time codes, so it is guarded: unless forced on
// (OTPD_DEV_CONSOLE=true) it answers only loopback clients that name a
// loopback host (no DNS rebinding), speak HTTP/1.1 or later and carry no
// forwarding header (no same-host proxy or tunnel); it refuses cross-site requests and
// never sends CORS headers; its pages run under a strict
// Content-Security-Policy and insert every message field as text; a
// message's HTML is served with a CSP sandbox into a sandboxed iframe.
package devconsole

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

//go:embed static
var staticFS embed.FS

// Prefix is where the console is served.
const Prefix = "/dev/"

// Limits of the live feed.
const (
	// MaxStreams bounds concurrent event streams (browser tabs).
	MaxStreams = 16
	// heartbeat keeps idle event streams (and proxies) alive.
	heartbeat = 15 * time.Second
	// writeWindow is how long one event write may take.
	writeWindow = 10 * time.Second
)

// pageCSP is the policy of the console's own pages: only its own scripts,
// styles and API; frames only from itself (the sandboxed message HTML).
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// htmlCSP is the policy of a message's HTML: a sandbox with no scripts, no
// network (inline styles and data: images only), framed by the console.
const htmlCSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"

// Options configure a Console.
type Options struct {
	Inbox *Inbox
	// Projects are the served project ids (the first is the default on the
	// Try it page).
	Projects []string
	// AnyClient serves clients that are not on loopback too
	// (OTPD_DEV_CONSOLE=true).
	AnyClient bool
	// Done ends open event streams (the server's lifetime).
	Done <-chan struct{}
	// Activity holds the blocked sends and delivery attempts (nil: none).
	Activity *Activity
}

// Console serves the development console.
type Console struct {
	o       Options
	streams atomic.Int32
}

// New returns a console over o.Inbox.
func New(o Options) *Console {
	if o.Done == nil {
		o.Done = context.Background().Done()
	}
	return &Console{o: o}
}

// Routes returns the console's handlers by exact path, for the gateway's
// extra routes.
func (c *Console) Routes() map[string]http.Handler {
	static, _ := fs.Sub(staticFS, "static")
	file := func(name, ctype string) http.Handler {
		b, err := fs.ReadFile(static, name)
		if err != nil {
			panic("devconsole: missing embedded " + name) // a build defect
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ctype)
			w.Header().Set("Content-Security-Policy", pageCSP)
			w.Header().Set("X-Frame-Options", "DENY")
			_, _ = w.Write(b)
		})
	}
	routes := map[string]http.Handler{
		"/dev":                  http.RedirectHandler(Prefix, http.StatusFound),
		Prefix:                  file("inbox.html", "text/html; charset=utf-8"),
		Prefix + "try":          file("try.html", "text/html; charset=utf-8"),
		Prefix + "console.css":  file("console.css", "text/css; charset=utf-8"),
		Prefix + "common.js":    file("common.js", "text/javascript; charset=utf-8"),
		Prefix + "inbox.js":     file("inbox.js", "text/javascript; charset=utf-8"),
		Prefix + "try.js":       file("try.js", "text/javascript; charset=utf-8"),
		Prefix + "api/info":     http.HandlerFunc(c.info),
		Prefix + "api/messages": http.HandlerFunc(c.messages),
		Prefix + "api/events":   http.HandlerFunc(c.events),
		Prefix + "api/html":     http.HandlerFunc(c.html),
	}
	maps.Copy(routes, c.morePages(file))
	for p, h := range routes {
		routes[p] = c.guard(h)
	}
	return routes
}

// guard admits only same-site GET requests from allowed clients and strips
// any CORS headers an outer handler added.
func (c *Console) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for _, k := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials",
			"Access-Control-Expose-Headers", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers"} {
			h.Del(k)
		}
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if !c.o.AnyClient && !(loopbackPeer(r.RemoteAddr) && loopbackHost(r.Host)) {
			http.Error(w, "the development console answers loopback clients on a loopback host name only "+
				"(OTPD_DEV_CONSOLE=true serves it to anyone)", http.StatusForbidden)
			return
		}
		if !r.ProtoAtLeast(1, 1) && !c.o.AnyClient {
			// nginx's default proxy_pass adds no forwarding header but
			// speaks HTTP/1.0 (proxy_http_version); browsers and curl
			// speak 1.1 or 2.
			http.Error(w, "the development console refuses HTTP/1.0, which is what a proxy on this machine "+
				"(nginx's default proxy_pass) speaks: it would hand out live codes (OTPD_DEV_CONSOLE=true serves it anyway)",
				http.StatusForbidden)
			return
		}
		if h := forwardedBy(r.Header); h != "" && !c.o.AnyClient {
			http.Error(w, "the development console refuses proxied requests (this one carries "+h+
				"): a proxy or tunnel on this machine would hand out live codes (OTPD_DEV_CONSOLE=true serves it anyway)",
				http.StatusForbidden)
			return
		}
		if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
			http.Error(w, "cross-site request refused", http.StatusForbidden)
			return
		}
		if o := r.Header.Get("Origin"); o != "" && o != "null" && !sameOrigin(o, r.Host) {
			http.Error(w, "cross-origin request refused", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// forwardingHeaders are headers that proxies, load balancers, CDNs and
// tunnels add to say whom they forward for. A request carrying any of
// them came through one, whatever its peer and Host say: nginx's default
// proxy_pass rewrites Host to 127.0.0.1, `ngrok --host-header=rewrite`
// does the same, and both connect from loopback.
var forwardingHeaders = []string{
	"Forwarded", "Via", "X-Real-Ip", "X-Client-Ip", "True-Client-Ip", "X-Cluster-Client-Ip",
	"Cf-Connecting-Ip", "Cf-Connecting-Ipv6", "Cdn-Loop", "Fastly-Client-Ip", "X-Envoy-External-Address",
	"X-Original-Forwarded-For", "X-Azure-Clientip", "X-Appengine-User-Ip", "Ngrok-Agent-Ips",
	"Tailscale-User-Login", "Tailscale-Funnel-Request",
}

// forwardedBy returns the name of the first forwarding header h carries
// (any X-Forwarded-* header counts), or "".
func forwardedBy(h http.Header) string {
	for _, k := range forwardingHeaders {
		if _, ok := h[k]; ok {
			return k
		}
	}
	for k := range h {
		if strings.HasPrefix(k, "X-Forwarded-") {
			return k
		}
	}
	return ""
}

func loopbackPeer(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackHost reports whether a Host header names this machine's loopback
// (a rebinding attacker's page carries its own host name).
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func sameOrigin(origin, host string) bool {
	o := strings.TrimPrefix(strings.TrimPrefix(origin, "http://"), "https://")
	return o != origin && strings.EqualFold(o, host)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// info tells the pages the project ids and the inbox's size.
func (c *Console) info(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]any{"projects": c.o.Projects, "inboxSize": c.o.Inbox.size, "maxPartBytes": MaxPartBytes})
}

// messages lists the kept messages newest first (?after=ID for newer ones).
func (c *Console) messages(w http.ResponseWriter, r *http.Request) {
	after, _ := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
	ms, _ := c.o.Inbox.After(after)
	writeJSON(w, map[string]any{"messages": ms})
}

// html serves one message's HTML part under a sandboxing CSP.
func (c *Console) html(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseUint(r.URL.Query().Get("id"), 10, 64)
	m, ok := c.o.Inbox.Get(id)
	if !ok || !m.HasHTML {
		http.Error(w, "no such message (the inbox keeps the last "+strconv.Itoa(c.o.Inbox.size)+")", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", htmlCSP)
	h.Set("X-Frame-Options", "SAMEORIGIN")
	_, _ = w.Write([]byte(m.HTML))
}

// events streams messages as server-sent events: each event is one
// message (JSON), its id the message id, so a reconnecting EventSource
// resumes after the last one it saw (Last-Event-ID).
func (c *Console) events(w http.ResponseWriter, r *http.Request) {
	if c.streams.Add(1) > MaxStreams {
		c.streams.Add(-1)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "too many open event streams", http.StatusTooManyRequests)
		return
	}
	defer c.streams.Add(-1)
	after, _ := strconv.ParseUint(r.Header.Get("Last-Event-ID"), 10, 64)
	if a, err := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64); err == nil && a > after {
		after = a
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		ms, changed := c.o.Inbox.After(after)
		_ = rc.SetWriteDeadline(time.Now().Add(writeWindow))
		for i := len(ms) - 1; i >= 0; i-- { // oldest first
			b, _ := json.Marshal(ms[i])
			if _, err := w.Write([]byte("id: " + strconv.FormatUint(ms[i].ID, 10) + "\ndata: " + string(b) + "\n\n")); err != nil {
				return
			}
			after = ms[i].ID
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-changed:
		case <-tick.C:
			_ = rc.SetWriteDeadline(time.Now().Add(writeWindow))
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-c.o.Done:
			return
		}
	}
}
