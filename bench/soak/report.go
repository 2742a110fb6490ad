package main

import (
	"fmt"
	"io"
	"runtime"
	"sort"
	"time"
)

// Targets of issue 20 §1.
const (
	maxRSS     = 200 << 20
	minSuccess = 0.999
	maxP99x    = 3.0
)

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }

func report(w io.Writer, o options, t *target, quiet, hostile *result, quietRSS, rss int64, budgetPeak float64, counts []count) {
	m := t.metrics()
	fmt.Fprintf(w, "\n## Hostile soak (%s, %d CPUs): %v quiet, then %v under attack; %d legitimate logins/s\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), o.quietD, o.d, o.rate)
	fmt.Fprintln(w, "| | quiet | hostile | target |")
	fmt.Fprintln(w, "|---|---|---|---|")
	fmt.Fprintf(w, "| legitimate calls ok / failed / rate-limited | %d / %d / %d | %d / %d / %d | |\n",
		quiet.ok, quiet.failed, quiet.limited, hostile.ok, hostile.failed, hostile.limited)
	fmt.Fprintf(w, "| success (rate limits aside) | %.3f%% | %.3f%% | >= %.1f%% |\n",
		100*quiet.successRate(), 100*hostile.successRate(), 100*minSuccess)
	fmt.Fprintf(w, "| p50 | %s | %s | |\n", ms(quiet.quantile(0.5)), ms(hostile.quantile(0.5)))
	p99x := float64(hostile.quantile(0.99)) / float64(max(quiet.quantile(0.99), 1))
	fmt.Fprintf(w, "| p99 | %s | %s (%.2f× quiet) | <= %.0f× quiet |\n", ms(quiet.quantile(0.99)), ms(hostile.quantile(0.99)), p99x, maxP99x)
	fmt.Fprintf(w, "| otpd peak RSS (VmHWM) | %.1f MB | %.1f MB | < %d MB |\n", float64(quietRSS)/(1<<20), float64(rss)/(1<<20), maxRSS>>20)
	fmt.Fprintf(w, "| request budget peak in use | | %.1f MB of %.0f MB | |\n", budgetPeak/(1<<20), metricValue(m, "otpd_request_budget_limit_bytes")/(1<<20))
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| attack (address) | what | connections | closed by otpd | sent | refused |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, s := range counts {
		fmt.Fprintf(w, "| %s (%s) | %s | %d | %d | %d | %d |\n", s.Name, s.From, s.What, s.Conns, s.Dropped, s.Sent, s.Refused)
	}
	fmt.Fprintf(w, "\nbudget refusals: grpc admit %.0f, grpc read %.0f, grpc accept %.0f, rest admit %.0f, rest read %.0f, rest accept %.0f; connection caps: grpc %.0f, rest %.0f\n",
		metricSum(m, "otpd_request_budget_refused_total", `stage="admit",transport="grpc"`),
		metricSum(m, "otpd_request_budget_refused_total", `stage="read",transport="grpc"`),
		metricSum(m, "otpd_request_budget_refused_total", `stage="accept",transport="grpc"`),
		metricSum(m, "otpd_request_budget_refused_total", `stage="admit",transport="rest"`),
		metricSum(m, "otpd_request_budget_refused_total", `stage="read",transport="rest"`),
		metricSum(m, "otpd_request_budget_refused_total", `stage="accept",transport="rest"`),
		metricSum(m, "otpd_grpc_connections_refused_total", ""),
		metricSum(m, "otpd_http_connections_refused_total", ""))
	for name, res := range map[string]*result{"quiet": quiet, "hostile": hostile} {
		var msgs []string
		for msg := range res.errs {
			msgs = append(msgs, msg)
		}
		sort.Strings(msgs)
		for _, msg := range msgs {
			fmt.Fprintf(w, "%s run error x%d: %s\n", name, res.errs[msg], msg)
		}
	}
	check := func(ok bool, what string) {
		verdict := "PASS"
		if !ok {
			verdict = "FAIL"
		}
		fmt.Fprintf(w, "%s: %s\n", verdict, what)
	}
	fmt.Fprintln(w)
	check(rss < maxRSS, fmt.Sprintf("peak RSS %.1f MB < %d MB", float64(rss)/(1<<20), maxRSS>>20))
	check(hostile.successRate() >= minSuccess, fmt.Sprintf("legitimate success %.3f%% >= %.1f%%", 100*hostile.successRate(), 100*minSuccess))
	check(p99x <= maxP99x, fmt.Sprintf("p99 %.2f× quiet <= %.0f×", p99x, maxP99x))
}
