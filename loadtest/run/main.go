// Command run load-tests a running otpd, any otpd (local, a container, a
// staging cluster), the way docs/load-testing.md describes:
//
//	make loadtest TARGET=127.0.0.1:50051 PROJECT=P2otpdLoadTest0000000000000 MGMT_KEY=...
//
// Scenarios (gRPC, OtpEmail):
//
//   - start:  ghz with loadtest/start.json, a distinct login id per call.
//   - verify: the runner creates test users and fetches one live code for
//     each with the management API (GenerateOtpForTestUser, Descope's
//     /v1/mgmt/tests/generate/otp), then ghz with loadtest/verify.json
//     verifies each code once.
//   - login:  start, fetch the code, verify, for the same test users; the
//     latency is start + verify (the code fetch is timed apart).
//   - rest-start, rest-verify: the same as start and verify over the REST
//     gateway (-rest URL), with the runner's own HTTP client.
//   - codes:  only create the test users and fetch their codes into
//     .loadtest/codes.json and codes.tsv, for another tool (wrk with
//     loadtest/verify.lua over REST); the users are kept.
//
// verify and login need a management key for the project; start needs only
// the project id. The target must run a project with its limits off (the
// load-test preset, loadtest/otpd-loadtest.yaml); with the default limits
// a load generator on one IP is refused after 100 starts, and the runner
// says so.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

type options struct {
	target, rest       string
	project, mgmtKey   string
	scenarios          []string
	conc, conns        int
	duration           time.Duration
	codes              int
	ghz, protoset, dir string
	tls, keepUsers     bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	var o options
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.StringVar(&o.target, "target", "127.0.0.1:50051", "otpd's gRPC address, host:port")
	fs.StringVar(&o.rest, "rest", "", "otpd's REST base URL, for rest-start and rest-verify (e.g. http://127.0.0.1:8080)")
	fs.StringVar(&o.project, "project", os.Getenv("OTPD_PROJECT_ID"), "project id (default $OTPD_PROJECT_ID)")
	fs.StringVar(&o.mgmtKey, "mgmt-key", "", "management key of the project, for verify and login (default $OTPD_LOADTEST_MGMT_KEY)")
	scen := fs.String("scenarios", "start,verify,login", "comma-separated: start, verify, login, rest-start, rest-verify, codes (fetch codes for another tool)")
	fs.IntVar(&o.conc, "c", 50, "concurrent calls (ghz -c) / concurrent logins")
	fs.IntVar(&o.conns, "connections", 2, "gRPC connections the calls share")
	fs.DurationVar(&o.duration, "d", 10*time.Second, "duration of start and login")
	fs.IntVar(&o.codes, "codes", 5000, "verify: test users (one code each) to verify; also the login scenario's user pool")
	fs.StringVar(&o.ghz, "ghz", "ghz", "the ghz binary (make loadtest builds the pinned one)")
	fs.StringVar(&o.protoset, "protoset", "", "ghz protoset; empty: ghz asks otpd's server reflection")
	fs.StringVar(&o.dir, "dir", ".loadtest", "folder for the generated ghz configs and code file")
	fs.BoolVar(&o.tls, "tls", false, "TLS to the target (a staging ingress); default plaintext")
	fs.BoolVar(&o.keepUsers, "keep-users", false, "leave the test users the runner created (default: delete them at the end)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.mgmtKey == "" {
		o.mgmtKey = os.Getenv("OTPD_LOADTEST_MGMT_KEY")
	}
	o.scenarios = strings.Split(*scen, ",")
	if o.project == "" {
		return errors.New("-project (or OTPD_PROJECT_ID) is required")
	}
	for _, s := range o.scenarios {
		switch s {
		case "start", "rest-start":
		case "verify", "login", "codes", "rest-verify":
			if o.mgmtKey == "" {
				return fmt.Errorf("scenario %s needs the project's management key (-mgmt-key or OTPD_LOADTEST_MGMT_KEY): codes are fetched for test users with the management API", s)
			}
		default:
			return fmt.Errorf("unknown scenario %q (start, verify, login, rest-start, rest-verify, codes)", s)
		}
	}
	if o.conc < 1 || o.conns < 1 || o.codes < 1 {
		return errors.New("-c, -connections and -codes must be at least 1")
	}
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return err
	}
	cc, err := dial(o)
	if err != nil {
		return err
	}
	defer cc.Close()

	fmt.Printf("otpd load test: target %s, project %s, c=%d over %d connections\n\n", o.target, o.project, o.conc, o.conns)
	var rows []row
	var pool *userPool
	defer func() {
		if pool != nil && !o.keepUsers {
			n, d, err := pool.delete(context.WithoutCancel(ctx), o.conc)
			if err != nil {
				fmt.Fprintf(os.Stderr, "deleting the test users: %v (delete them with DeleteAllTestUsers or -keep-users next time)\n", err)
			} else {
				fmt.Printf("deleted the %d test users in %s\n", n, d.Round(time.Millisecond))
			}
		}
	}()
	for _, s := range o.scenarios {
		var r row
		switch s {
		case "start":
			r, err = runGhz(ctx, o, "loadtest/start.json", ghzOverrides{duration: o.duration})
		case "codes":
			if pool == nil {
				if pool, err = newUserPool(ctx, cc, o); err != nil {
					return err
				}
			}
			if err := fetchToFiles(ctx, o, pool); err != nil {
				return err
			}
			o.keepUsers = true // their codes are for the other tool
			fmt.Printf("wrote %s and codes.tsv; the test users stay (DeleteAllTestUsers on the load-test project removes them)\n",
				filepath.Join(o.dir, "codes.json"))
			continue
		case "rest-start":
			r, err = restScenario(ctx, o, s, nil)
		case "rest-verify":
			if pool == nil {
				if pool, err = newUserPool(ctx, cc, o); err != nil {
					return err
				}
			}
			var got []code
			if got, err = fetchCodes(ctx, o, pool); err == nil {
				r, err = restScenario(ctx, o, s, got)
			}
		case "verify", "login":
			if pool == nil {
				if pool, err = newUserPool(ctx, cc, o); err != nil {
					return err
				}
			}
			if s == "verify" {
				r, err = verifyScenario(ctx, o, pool)
			} else {
				r, err = loginScenario(ctx, cc, o, pool)
			}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
		r.name = s
		rows = append(rows, r)
		r.printErrors()
	}
	printTable(os.Stdout, rows)
	return nil
}

// verifyScenario fetches one code per pooled test user, writes them as
// ghz's data file, and has ghz verify each once.
func verifyScenario(ctx context.Context, o options, pool *userPool) (row, error) {
	if err := fetchToFiles(ctx, o, pool); err != nil {
		return row{}, err
	}
	return runGhz(ctx, o, "loadtest/verify.json", ghzOverrides{dataFile: filepath.Join(o.dir, "codes.json"), total: len(pool.ids)})
}

// fetchToFiles fetches a code for every pooled user and writes the data
// files.
func fetchToFiles(ctx context.Context, o options, pool *userPool) error {
	codes, err := fetchCodes(ctx, o, pool)
	if err != nil {
		return err
	}
	return writeCodes(filepath.Join(o.dir, "codes.json"), codes)
}

// fetchCodes fetches a code for every pooled user and reports the cost.
func fetchCodes(ctx context.Context, o options, pool *userPool) ([]code, error) {
	codes, fetch, err := pool.fetchCodes(ctx, o.conc)
	if err != nil {
		return nil, err
	}
	fmt.Printf("fetched %d codes with GenerateOtpForTestUser in %s (%.0f codes/s, c=%d)\n",
		len(codes), fetch.Round(time.Millisecond), float64(len(codes))/fetch.Seconds(), o.conc)
	return codes, nil
}

// dial connects to the target for the management calls and the login
// scenario.
func dial(o options) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if o.tls {
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	}
	return grpc.NewClient(o.target, grpc.WithTransportCredentials(creds))
}
