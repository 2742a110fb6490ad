package main

import (
	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/server"
)

// validate is the one validation that startup (otpd, otpd worker) and
// `otpd config check` both run: config.Check with the server's delivery
// check. Whatever config check accepts, startup accepts, and the other
// way round, up to what only binding or connecting can tell.
func validate(env config.Env, read config.ReadFile, environ []string) (*config.Config, config.Report) {
	return config.Check(env, read, environ, server.CheckDelivery(read, env))
}
