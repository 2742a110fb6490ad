package main

import (
	"slices"
	"strings"
	"testing"
)

// TestRunOrderPairsEachOtpdRunWithItsBaseline: within a repetition each
// otpd gRPC scenario runs next to the baseline its ratio divides by (and,
// with -cluster, next to its single-node run), and every other repetition
// runs each group backwards, so neither side always goes first.
func TestRunOrderPairsEachOtpdRunWithItsBaseline(t *testing.T) {
	for _, cluster := range []bool{false, true} {
		o := options{cluster: cluster}
		names := func(rep int) []string {
			var n []string
			for _, s := range o.runOrder(50, rep) {
				n = append(n, s.name)
			}
			return n
		}
		odd, even := names(1), names(2)
		for _, pair := range [][2]string{
			{"(b) echo+EVALSHA c50", "start gRPC c50"},
			{"(d) (b)+2×ES256 c50", "verify gRPC c50"},
			{"(b)+(d) login c50", "login gRPC c50"},
		} {
			i, j := slices.Index(odd, pair[0]), slices.Index(odd, pair[1])
			if j != i+1 {
				t.Errorf("cluster=%v, odd repetition: %q at %d, %q at %d; want them adjacent, baseline first: %v", cluster, pair[0], i, pair[1], j, odd)
			}
			i, j = slices.Index(even, pair[0]), slices.Index(even, pair[1])
			if cluster {
				// otpd-cluster, otpd, baseline
				if j != i-1 || !strings.Contains(even[j-1], "cluster") {
					t.Errorf("even repetition with -cluster: %v", even)
				}
			} else if j != i-1 {
				t.Errorf("even repetition: %q at %d, %q at %d; want otpd first: %v", pair[0], i, pair[1], j, even)
			}
		}
		if len(odd) != len(o.scenarios(50)) || len(even) != len(odd) {
			t.Errorf("a repetition runs %d and %d scenarios, the table has %d", len(odd), len(even), len(o.scenarios(50)))
		}
	}
}

// TestSpreadOf: median, quartiles (interpolated) and range of a sample,
// whatever its order.
func TestSpreadOf(t *testing.T) {
	got := spreadOf([]float64{1.3, 1.0, 1.2, 5.0, 1.1})
	want := spread{med: 1.2, q1: 1.1, q3: 1.3, min: 1.0, max: 5.0}
	near := func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
	if !near(got.med, want.med) || !near(got.q1, want.q1) || !near(got.q3, want.q3) || got.min != want.min || got.max != want.max {
		t.Errorf("spreadOf = %+v, want %+v", got, want)
	}
	if s := spreadOf([]float64{2, 4}); !near(s.med, 3) || !near(s.q1, 2.5) || !near(s.q3, 3.5) {
		t.Errorf("two values: %+v", s)
	}
}

// TestPerRepDividesWithinARepetition: a ratio is taken between the runs of
// the same repetition, not between medians.
func TestPerRepDividesWithinARepetition(t *testing.T) {
	num := []result{{cpuPerReq: 200}, {cpuPerReq: 100}}
	den := []result{{cpuPerReq: 100}, {cpuPerReq: 50}, {cpuPerReq: 1}}
	got := perRep(num, den, func(r result) float64 { return r.cpuPerReq })
	if !slices.Equal(got, []float64{2, 2}) {
		t.Errorf("perRep = %v, want [2 2]", got)
	}
}
