package testredis

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Stats is what a redis-server says it has spent so far (INFO cpu and
// commandstats): benchmarks report the difference between two readings.
type Stats struct {
	// CPU is used_cpu_user + used_cpu_sys, in µs.
	CPU float64
	// Calls and Usec are commandstats' calls and usec by command name
	// (lower case, as INFO writes them; commands run inside scripts count).
	Calls map[string]int64
	Usec  map[string]int64
}

// ReadStats reads c's Stats.
func ReadStats(tb testing.TB, c redis.UniversalClient) Stats {
	tb.Helper()
	txt, err := c.Info(context.Background(), "cpu", "commandstats").Result()
	if err != nil {
		tb.Fatal(err)
	}
	s := Stats{Calls: map[string]int64{}, Usec: map[string]int64{}}
	for _, line := range strings.Split(txt, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		switch {
		case !ok:
		case k == "used_cpu_user" || k == "used_cpu_sys":
			f, _ := strconv.ParseFloat(v, 64)
			s.CPU += f * 1e6
		case strings.HasPrefix(k, "cmdstat_"):
			name := strings.TrimPrefix(k, "cmdstat_")
			for _, f := range strings.Split(v, ",") {
				fk, fv, _ := strings.Cut(f, "=")
				n, _ := strconv.ParseInt(fv, 10, 64)
				switch fk {
				case "calls":
					s.Calls[name] = n
				case "usec":
					s.Usec[name] = n
				}
			}
		}
	}
	return s
}
