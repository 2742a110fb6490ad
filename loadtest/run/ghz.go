package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// row is one scenario's result.
type row struct {
	name          string
	count, errors int
	rps           float64
	p50, p90, p99 time.Duration
	errs          map[string]int
	note          string
}

// ghzOverrides are what the runner sets on a shipped ghz config.
type ghzOverrides struct {
	duration time.Duration
	total    int
	dataFile string
}

// runGhz runs ghz with a shipped config (loadtest/*.json), the target,
// concurrency and authorization of this run, and reads its JSON report.
// The config the runner wrote is kept in o.dir to rerun by hand.
func runGhz(ctx context.Context, o options, shipped string, ov ghzOverrides) (row, error) {
	b, err := os.ReadFile(shipped)
	if err != nil {
		return row{}, err
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		return row{}, fmt.Errorf("%s: %w", shipped, err)
	}
	cfg["host"] = o.target
	cfg["concurrency"] = o.conc
	cfg["connections"] = o.conns
	cfg["insecure"] = !o.tls
	cfg["metadata"] = map[string]string{"authorization": "Bearer " + o.project}
	if o.protoset != "" {
		cfg["protoset"] = o.protoset
	}
	if ov.duration > 0 {
		cfg["duration"] = ov.duration.String()
	}
	if ov.total > 0 {
		cfg["total"] = ov.total
		delete(cfg, "duration")
	}
	if ov.dataFile != "" {
		abs, err := filepath.Abs(ov.dataFile)
		if err != nil {
			return row{}, err
		}
		cfg["data-file"] = abs
	}
	file := filepath.Join(o.dir, filepath.Base(shipped))
	out, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(file, out, 0o600); err != nil {
		return row{}, err
	}
	fmt.Printf("$ %s --config %s -O json\n", o.ghz, file)
	cmd := exec.CommandContext(ctx, o.ghz, "--config", file, "-O", "json")
	cmd.Stderr = os.Stderr
	rep, err := cmd.Output()
	if err != nil {
		return row{}, fmt.Errorf("ghz: %w", err)
	}
	return parseGhz(rep)
}

// parseGhz reads ghz's JSON report (-O json).
func parseGhz(b []byte) (row, error) {
	var rep struct {
		Count   int     `json:"count"`
		RPS     float64 `json:"rps"`
		Latency []struct {
			Percentage int   `json:"percentage"`
			Latency    int64 `json:"latency"`
		} `json:"latencyDistribution"`
		Errors map[string]int `json:"errorDistribution"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return row{}, fmt.Errorf("ghz report: %w", err)
	}
	r := row{count: rep.Count, rps: rep.RPS, errs: map[string]int{}}
	for msg, n := range rep.Errors {
		// ghz cancels the calls in flight when a duration ends: the load
		// tool's own teardown, not an answer of otpd's.
		if strings.Contains(msg, "the client connection is closing") || strings.HasSuffix(msg, "desc = transport is closing") ||
			strings.Contains(msg, "use of closed network connection") {
			r.count -= n
			continue
		}
		r.errors += n
		r.errs[retryIn.ReplaceAllString(msg, "retry in N s")] += n
	}
	for _, l := range rep.Latency {
		switch l.Percentage {
		case 50:
			r.p50 = time.Duration(l.Latency)
		case 90:
			r.p90 = time.Duration(l.Latency)
		case 99:
			r.p99 = time.Duration(l.Latency)
		}
	}
	return r, nil
}

// retryIn is the part of a rate-limit refusal that differs between calls.
var retryIn = regexp.MustCompile(`retry in \d+ s`)

// printErrors lists a scenario's errors, with the way out for the one a
// new user meets first: the target's abuse limits.
func (r row) printErrors() {
	msgs := make([]string, 0, len(r.errs))
	for m := range r.errs {
		msgs = append(msgs, m)
	}
	slices.Sort(msgs)
	limited := false
	for _, m := range msgs {
		fmt.Fprintf(os.Stderr, "  %s: error x%d: %s\n", r.name, r.errs[m], m)
		limited = limited || strings.Contains(m, "Rate limit exceeded")
	}
	if limited {
		fmt.Fprintln(os.Stderr, "  the target's abuse limits refused the load (named above as limits.<key>): load-test a project with its limits off,\n"+
			"  e.g. loadtest/otpd-loadtest.yaml (docs/load-testing.md), never a production project")
	}
}

func printTable(w io.Writer, rows []row) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| scenario | calls OK | errors | rate/s | p50 ms | p90 ms | p99 ms |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/1e6) }
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %d | %d | %.0f | %s | %s | %s |\n", r.name, r.count-r.errors, r.errors, r.rps, ms(r.p50), ms(r.p90), ms(r.p99))
	}
	for _, r := range rows {
		if r.note != "" {
			fmt.Fprintf(w, "%s: %s\n", r.name, r.note)
		}
	}
}
