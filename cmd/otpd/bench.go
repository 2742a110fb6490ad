//go:build otpd_bench

package main

import (
	"log/slog"

	"github.com/otpd/otpd/server"
)

// zeros is a code source that makes every code 000000.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// benchOptions makes codes known, for `make bench` only. A binary built
// with -tags otpd_bench must never serve real users.
func benchOptions(o *server.Options) {
	o.CodeRandom = zeros{}
	o.Log.Warn("BENCHMARK BUILD: every one-time code is 000000; never deploy this binary", slog.String("tag", "otpd_bench"))
}
