package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/config"
)

func TestRefreshSettings(t *testing.T) {
	t.Parallel()
	load := func(yaml string) (*config.Project, error) {
		c, err := config.Load(envOf(map[string]string{"OTPD_CONFIG": "c.yaml"}), filesOf(map[string]string{"c.yaml": yaml}))
		if err != nil {
			return nil, err
		}
		return &c.Projects[0], nil
	}
	// Defaults: on, with the documented values.
	p, err := load("projects: [{id: A}]")
	if err != nil {
		t.Fatal(err)
	}
	if p.MaxRefreshTokensPerUser != 100 || p.RefreshRotationGrace.D() != 10*time.Second ||
		*p.Limits.RefreshesPerUser != config.DefaultRefreshesPerUser || *p.Limits.RefreshesPerIP != config.DefaultRefreshesPerIP {
		t.Fatalf("defaults: cap %d grace %s user %+v ip %+v", p.MaxRefreshTokensPerUser, p.RefreshRotationGrace.D(), p.Limits.RefreshesPerUser, p.Limits.RefreshesPerIP)
	}
	// Set explicitly, including a grace of 0 (off) and a limit turned off.
	p, err = load(`
projects:
  - id: A
    refreshRotation: true
    refreshRotationGrace: 0s
    maxRefreshTokensPerUser: 5
    limits:
      refreshesPerUser: {count: 30, window: 1m}
      refreshesPerIp: {count: 0, window: 1m}
`)
	if err != nil {
		t.Fatal(err)
	}
	if p.MaxRefreshTokensPerUser != 5 || p.RefreshRotationGrace.D() != 0 || p.Limits.RefreshesPerUser.Count != 30 || p.Limits.RefreshesPerIP.Count != 0 {
		t.Fatalf("explicit: %+v", p)
	}
	_, err = load(`
projects:
  - id: A
    refreshRotationGrace: 1h
    maxRefreshTokensPerUser: 20000
    limits:
      refreshesPerUser: {count: 5, window: 100ms}
      refreshesPerIp: {count: -1, window: 1m}
`)
	for _, w := range []string{"refreshRotationGrace 1h0m0s", "maxRefreshTokensPerUser 20000", "limits.refreshesPerUser", "limits.refreshesPerIp"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q: %v", w, err)
		}
	}
	if _, err := load("projects: [{id: A, maxRefreshTokensPerUser: -1}]"); err == nil || !strings.Contains(err.Error(), "maxRefreshTokensPerUser -1") {
		t.Errorf("negative cap: %v", err)
	}
}

func TestRecentSignInMaxAge(t *testing.T) {
	t.Parallel()
	load := func(yaml string) (*config.Project, error) {
		c, err := config.Load(envOf(map[string]string{"OTPD_CONFIG": "c.yaml"}), filesOf(map[string]string{"c.yaml": yaml}))
		if err != nil {
			return nil, err
		}
		return &c.Projects[0], nil
	}
	p, err := load("projects: [{id: A}]")
	if err != nil {
		t.Fatal(err)
	}
	if p.RecentSignInMaxAge.D() != 10*time.Minute {
		t.Errorf("default recentSignInMaxAge %s, want 10m", p.RecentSignInMaxAge.D())
	}
	if p, err = load("projects: [{id: A, recentSignInMaxAge: 30m}]"); err != nil || p.RecentSignInMaxAge.D() != 30*time.Minute {
		t.Errorf("recentSignInMaxAge: 30m: %v, %v", p, err)
	}
	for _, bad := range []string{"30s", "25h", "-5m"} {
		_, err := load("projects: [{id: A, recentSignInMaxAge: " + bad + "}]")
		if err == nil || !strings.Contains(err.Error(), "recentSignInMaxAge") {
			t.Errorf("recentSignInMaxAge: %s: %v, want an error naming it", bad, err)
		}
	}
}
