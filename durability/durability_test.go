package durability_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/durability"
)

// TestTrackerDegradedAndRecovered: a shortfall marks the node degraded
// (gauge 1, one warning per master, not one per write) until a write on
// that master reaches its replicas or DegradedFor passes; under the accept
// policy a degraded master's writes skip their WAIT except one per Recheck.
func TestTrackerDegradedAndRecovered(t *testing.T) {
	c := clock.NewFake(time.Unix(1_000_000, 0))
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	tr, err := durability.New(c, reg, slog.New(slog.NewTextHandler(&logs, nil)), "accept")
	if err != nil {
		t.Fatal(err)
	}
	gauge := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "otpd_redis_durability_degraded" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no otpd_redis_durability_degraded")
		return 0
	}
	if tr.Degraded() || gauge() != 0 || tr.SkipWait("a:1") {
		t.Fatal("degraded before any shortfall")
	}
	tr.ShortOf("a:1", 0, 1, true)
	tr.ShortOf("a:1", 0, 1, true)
	if !tr.Degraded() || gauge() != 1 {
		t.Fatal("not degraded after a shortfall")
	}
	if n := strings.Count(logs.String(), "node degraded"); n != 1 {
		t.Errorf("%d warnings for two shortfalls on one master, want 1:\n%s", n, logs.String())
	}
	// Within Recheck of the last wait: skip; then one write waits.
	c.Add(100 * time.Millisecond)
	if !tr.SkipWait("a:1") || tr.SkipWait("b:2") {
		t.Fatal("SkipWait: want true on the degraded master only")
	}
	c.Add(durability.Recheck)
	if tr.SkipWait("a:1") {
		t.Fatal("no write waits after Recheck")
	}
	if !tr.SkipWait("a:1") {
		t.Fatal("a second write within the recheck waits too")
	}
	if v := counter(t, reg, "accepted"); v != 2 {
		t.Errorf("accepted shortfalls: %v, want 2", v)
	}
	// The waiting write reached its replica: healthy again.
	tr.Replicated("a:1")
	if tr.Degraded() || gauge() != 0 || tr.SkipWait("a:1") {
		t.Fatal("still degraded after a replicated write")
	}
	if !strings.Contains(logs.String(), "reach their replicas again") {
		t.Error("no log of the recovery")
	}
	// A shortfall with no later write expires after DegradedFor.
	tr.ShortOf("b:2", -1, 1, false)
	c.Add(durability.DegradedFor + time.Millisecond)
	if tr.Degraded() {
		t.Fatal("degraded after DegradedFor without shortfalls")
	}
}

func counter(t *testing.T, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "otpd_redis_durability_shortfalls_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s counter", outcome)
	return 0
}
