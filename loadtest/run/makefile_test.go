package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestMakeLoadtestNeverPrintsTheKey: `make loadtest MGMT_KEY=...` hands the
// key to the runner in its environment and never echoes it: make prints
// each recipe line it runs, and that output ends up in terminals' scroll
// back and CI logs. GO is a stand-in (true), so nothing is built or run.
func TestMakeLoadtestNeverPrintsTheKey(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make is needed to check the Makefile: %v", err)
	}
	const key = "mk-leak-check-0123456789abcdefghijklmnop"
	cmd := exec.Command("make", "--no-print-directory", "-C", "../..", "loadtest", "GO=true",
		"PROJECT=P2otpdLoadTest0000000000000", "MGMT_KEY="+key)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make loadtest: %v\n%s", err, out)
	}
	if strings.Contains(string(out), key) {
		t.Errorf("make loadtest printed the management key:\n%s", out)
	}
	if !strings.Contains(string(out), "loadtest/run") {
		t.Errorf("make loadtest no longer says what it runs:\n%s", out)
	}
}
