package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/otpd/otpd/config"
)

// runHealthcheck asks the local otpd's /healthz and succeeds only on 200:
// a container health check for images without a shell or curl (distroless).
// It reads only the listener settings from the environment, the same as
// the server's, and no keys or configuration file: the admin listener
// (OTPD_ADMIN_ADDR), or the REST listener when that is off.
func runHealthcheck(ctx context.Context, args []string, te toolEnv) error {
	fs := flag.NewFlagSet("otpd healthcheck", flag.ContinueOnError)
	fs.SetOutput(te.stderr)
	url := fs.String("url", "", "URL to GET instead of the local admin (or REST) listener's /healthz")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("healthcheck: unexpected arguments %q", fs.Args())
	}
	if *url == "" {
		*url = "http://" + localAddr(healthAddr(te.env)) + "/healthz"
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d: %s", *url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(te.stdout, "healthy: %s\n", *url)
	return nil
}

// healthAddr is the listener that serves /healthz: the admin listener
// unless OTPD_ADMIN_ADDR=off, then the REST listener.
func healthAddr(env config.Env) string {
	get := func(k, def string) string {
		if v, ok := env(k); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
		return def
	}
	if a := get("OTPD_ADMIN_ADDR", config.DefaultAdminAddr); !strings.EqualFold(a, "off") {
		return a
	}
	return get("OTPD_HTTP_ADDR", "127.0.0.1:8080")
}

// localAddr turns a listen address into one to dial from the same host:
// ":9090", "0.0.0.0:9090" and "[::]:9090" become loopback.
func localAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}
