package fraud_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/internal/testredis"
)

// BenchmarkPumpingSimulation is the long simulation (`make bench-fraud`):
// 12 simulated hours of the same traffic as TestSimulation, on a real
// redis-server, for a sweep of thresholds. It reports, per setting, the
// legitimate sends refused (%), the attack sends let through before the
// first block (mean over the 4 targets) and in all (% of attempts), and
// prints the table docs/abuse-protection.md carries.
func BenchmarkPumpingSimulation(b *testing.B) {
	_, cl := testredis.Real(b)
	type row struct {
		name                  string
		prefixSends, ctySends int
		conv                  float64
	}
	rows := []row{
		{"default", 20, 50, 0.10},
		{"prefix10", 10, 50, 0.10},
		{"prefix50", 50, 100, 0.10},
		{"conv05", 20, 50, 0.05},
		{"conv20", 20, 50, 0.20},
		{"conv30", 20, 50, 0.30},
		{"conv45", 20, 50, 0.45},
	}
	var table strings.Builder
	table.WriteString("| prefix minSends | country minSends | minConversion | legitimate refused | attack sent before first block (prefixes; country) | attack sent in all |\n|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		b.Run(r.name, func(b *testing.B) {
			g := defaultGuard()
			ps, cs, cv := r.prefixSends, r.ctySends, r.conv
			g.Prefix = &config.FraudLevel{MinSends: &ps, MinConversion: &cv}
			g.Country = &config.FraudLevel{MinSends: &cs, MinConversion: &cv}
			var res simResult
			for i := 0; i < b.N; i++ {
				if err := cl.FlushAll(b.Context()).Err(); err != nil {
					b.Fatal(err)
				}
				res = runSim(b, simConfig{Hours: 12, Seed: 11, Guard: g, PerCountry: 0.5, AttackPrefixRate: 2, AttackCountryRate: 6,
					Extra: map[string]float64{"AR": 0.40}, Pool: 1000, Real: cl})
			}
			sent, attempts := res.AttackSent()
			var before []string
			for _, a := range res.Attack {
				before = append(before, fmt.Sprint(a.BeforeFirstBlock))
			}
			b.ReportMetric(res.LegitRefusedPct(), "legit_refused_%")
			b.ReportMetric(100*float64(sent)/float64(attempts), "attack_sent_%")
			fmt.Fprintf(&table, "| %d | %d | %.2f | %d of %d (%.3f%%); 40%% country: %d of %d | %s | %d of %d (%.1f%%) |\n", ps, cs, cv,
				res.LegitRefused, res.LegitSends, res.LegitRefusedPct(), res.ExtraRefused, res.ExtraSends,
				strings.Join(before, ", "), sent, attempts, 100*float64(sent)/float64(attempts))
		})
	}
	fmt.Fprint(os.Stdout, "\n"+table.String())
}
