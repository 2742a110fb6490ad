package main

import (
	"flag"
	"fmt"
	"runtime/debug"
	"strings"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
// Without it the module version from the build information is used.
var version string

// commit is set by builds without VCS stamping (the Dockerfile: .git is not
// in the build context): -ldflags "-X main.commit=<git rev-parse HEAD>".
// The VCS revision from the build information wins when present.
var commit string

// buildVersion describes the binary: the version (ldflags, else the
// module's), the VCS revision and time, whether the tree was modified, and
// the Go version and platform.
func buildVersion(ld string, bi *debug.BuildInfo, ok bool) string {
	v := ld
	if !ok {
		if v == "" {
			v = "unknown"
		}
		return "otpd " + v + " (no build information)"
	}
	if v == "" {
		v = bi.Main.Version
	}
	if v == "" {
		v = "(devel)"
	}
	s := map[string]string{}
	for _, kv := range bi.Settings {
		s[kv.Key] = kv.Value
	}
	var parts []string
	if s["vcs.revision"] == "" && commit != "" && commit != "unknown" {
		s["vcs.revision"] = commit
	}
	if rev := s["vcs.revision"]; rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if s["vcs.modified"] == "true" {
			rev += "+modified"
		}
		parts = append(parts, "commit "+rev)
	}
	if t := s["vcs.time"]; t != "" {
		parts = append(parts, t)
	}
	parts = append(parts, bi.GoVersion, s["GOOS"]+"/"+s["GOARCH"])
	if s["CGO_ENABLED"] == "0" {
		parts = append(parts, "static")
	}
	return fmt.Sprintf("otpd %s (%s)", v, strings.Join(parts, ", "))
}

func runVersion(args []string, te toolEnv) error {
	fs := flag.NewFlagSet("otpd version", flag.ContinueOnError)
	fs.SetOutput(te.stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	bi, ok := debug.ReadBuildInfo()
	fmt.Fprintln(te.stdout, buildVersion(version, bi, ok))
	return nil
}
