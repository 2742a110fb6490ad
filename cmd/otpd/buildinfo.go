package main

import (
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// buildFacts are what a running binary says about itself: the version
// (ldflags, else the module's, else "(devel)"), the VCS revision (with
// "+modified" for a dirty tree) and the Go version.
type buildFacts struct{ version, revision, goVersion string }

func readBuildFacts(ld string, bi *debug.BuildInfo, ok bool) buildFacts {
	f := buildFacts{version: ld, revision: "unknown", goVersion: "unknown"}
	if !ok {
		if f.version == "" {
			f.version = "unknown"
		}
		return f
	}
	if f.version == "" {
		f.version = bi.Main.Version
	}
	if f.version == "" {
		f.version = "(devel)"
	}
	f.goVersion = bi.GoVersion
	modified := false
	for _, kv := range bi.Settings {
		switch kv.Key {
		case "vcs.revision":
			f.revision = kv.Value
		case "vcs.modified":
			modified = kv.Value == "true"
		}
	}
	if modified && f.revision != "unknown" {
		f.revision += "+modified"
	}
	return f
}

func currentBuild() buildFacts {
	bi, ok := debug.ReadBuildInfo()
	return readBuildFacts(version, bi, ok)
}

// serviceVersion is the service.version of otpd's traces: the version, and
// for a development build the commit it was built from.
func serviceVersion() string {
	f := currentBuild()
	if f.version == "(devel)" && f.revision != "unknown" {
		rev := f.revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		return f.version + "+" + rev
	}
	return f.version
}

// buildInfo is the otpd_build_info gauge: always 1, labelled with the
// version, revision and Go version, so that dashboards can tell which
// build each instance runs (and join it onto other series).
func buildInfo() prometheus.Collector {
	f := currentBuild()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "otpd_build_info",
		Help:        "otpd's build: version, VCS revision and Go version (always 1).",
		ConstLabels: prometheus.Labels{"version": f.version, "revision": f.revision, "goversion": f.goVersion},
	})
	g.Set(1)
	return g
}
