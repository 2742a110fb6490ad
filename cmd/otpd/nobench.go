//go:build !otpd_bench

package main

import "github.com/otpd/otpd/server"

// benchOptions does nothing in the production binary. The benchmark build
// (tag otpd_bench, bench.go) makes every code 000000 so that verify can be
// load-tested; the production binary cannot expose codes.
func benchOptions(*server.Options) {}
