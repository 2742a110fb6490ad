package store_test

import (
	"os"
	"os/exec"
)

// With OTPD_BENCH_CALLGRIND=1 and a redis-server on PATH that runs under
// valgrind --tool=callgrind --instr-atstart=no (a wrapper script), the
// store's Redis benchmarks (BenchmarkStartCodeRedis,
// BenchmarkVerifyLoginRedis) collect redis-server's instructions over
// their timed loop only: callgrind_control turns collection on before it
// and off, with a dump, after it. Instructions do not depend on the
// machine's load, where CPU time does (docs/performance.md).
func init() {
	if os.Getenv("OTPD_BENCH_CALLGRIND") != "1" {
		return
	}
	cgHook = func(on bool) {
		if on {
			_ = exec.Command("callgrind_control", "--zero").Run()
			_ = exec.Command("callgrind_control", "--instr=on").Run()
			return
		}
		_ = exec.Command("callgrind_control", "--dump").Run()
		_ = exec.Command("callgrind_control", "--instr=off").Run()
	}
}
