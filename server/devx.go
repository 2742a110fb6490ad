package server

import (
	"context"
	"net/http"

	"github.com/otpd/otpd"
	"github.com/otpd/otpd/devconsole"
)

// devRoutes adds /openapi.json and, when the config enables it, the
// development console (an inbox fed by the log provider) to extra.
func devRoutes(ctx context.Context, o Options, dlv *Delivery, act *devconsole.Activity, extra map[string]http.Handler) {
	extra["/openapi.json"] = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(otpd.OpenAPI)
	})
	if !o.Config.DevConsole {
		return
	}
	ids := make([]string, 0, len(o.Config.Projects))
	for _, p := range o.Config.Projects {
		ids = append(ids, p.ID)
	}
	inbox := devconsole.NewInbox(devconsole.InboxSize, o.Clock.Now)
	dlv.Log.Observe(inbox.Add)
	c := devconsole.New(devconsole.Options{Inbox: inbox, Projects: ids, AnyClient: o.Config.DevConsoleForced, Done: ctx.Done(),
		Activity: act})
	for p, h := range c.Routes() {
		extra[p] = h
	}
	if o.Config.Embedded() {
		o.Log.Warn("DEVELOPMENT CONSOLE at http://" + o.Config.HTTPAddr + devconsole.Prefix + " shows every code the log provider sends (embedded mode; OTPD_DEV_CONSOLE=false turns it off)")
	} else {
		o.Log.Warn("DEVELOPMENT CONSOLE IS ON WITH A REAL REDIS (OTPD_DEV_CONSOLE=true): anyone who reaches " +
			o.Config.HTTPAddr + devconsole.Prefix + " reads every code the log provider sends. Never do this in production.")
	}
	if o.Config.DevConsoleForced {
		o.Log.Warn("OTPD_DEV_CONSOLE=true: the development console answers clients that are not on loopback")
	}
}

// devActivity records blocked sends and delivery attempts for the
// development console; nil (records nothing) when the console is off.
func devActivity(o Options) *devconsole.Activity {
	if !o.Config.DevConsole {
		return nil
	}
	return devconsole.NewActivity(o.Clock.Now)
}
