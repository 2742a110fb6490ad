package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/delivery/queue"
)

// result is one load run.
type result struct {
	rps, p50, p99 float64 // p50/p99 in ms
	count, errors int
	cpuPerReq     float64 // µs of server + redis CPU per request
	redisPerReq   float64 // µs of redis-server CPU per request (part of cpuPerReq)
	// redisCmdsPerReq is the growth of INFO commandstats' calls (every
	// command, those a script runs included; the bench's own INFO and
	// queue-depth reads excluded) divided by the requests.
	redisCmdsPerReq float64
	// scriptsPerReq is the EVALSHA (and EVAL) calls per request: on a
	// Cluster, where otpd does not auto-pipeline, each is its own round
	// trip (the worker's reads and acknowledgements of the delivery queue
	// are other commands, counted in redisCmdsPerReq only).
	scriptsPerReq float64
}

// scenario is one row of the table.
type scenario struct {
	name   string
	target string // echo, redis, sign, sign2, otpd
	op     string // start, verify, login (one start then one verify)
	rest   bool
	conc   int
	// cluster: against the otpd on the 3-master Cluster (-cluster).
	cluster bool
}

// groups lists one concurrency's rows in the order they run within a
// repetition, in groups: each otpd scenario right after its baseline ((b)
// then start, (d) then verify, (b)+(d) login then login; with -cluster the
// same otpd scenario on the Cluster next), so that a group shares the
// machine's state of the moment and a drift between repetitions moves
// every side of a ratio together.
func (o options) groups(c int) [][]scenario {
	cl := func(op string) []scenario {
		if !o.cluster {
			return nil
		}
		return []scenario{{fmt.Sprintf("%s gRPC cluster c%d", op, c), "otpd", op, false, c, true}}
	}
	var signIn [][]scenario
	if c == 50 {
		// Issue 21: the claims' cost, a sign-in verify against the same
		// without roles (at the targets' concurrency only: each run seeds
		// its users first).
		signIn = [][]scenario{{
			{fmt.Sprintf("verify sign-in gRPC c%d", c), "otpd", authzOpSignIn, false, c, false},
			{fmt.Sprintf("verify-authz gRPC c%d", c), "otpd", authzOpAuthz, false, c, false}}}
	}
	return append([][]scenario{
		{{fmt.Sprintf("(a) echo c%d", c), "echo", "start", false, c, false}},
		append([]scenario{
			{fmt.Sprintf("(b) echo+EVALSHA c%d", c), "redis", "start", false, c, false},
			{fmt.Sprintf("start gRPC c%d", c), "otpd", "start", false, c, false}}, cl("start")...),
		{{fmt.Sprintf("(c) (b)+ES256 c%d", c), "sign", "verify", false, c, false}},
		append([]scenario{
			{fmt.Sprintf("(d) (b)+2×ES256 c%d", c), "sign2", "verify", false, c, false},
			{fmt.Sprintf("verify gRPC c%d", c), "otpd", "verify", false, c, false}}, cl("verify")...),
		append([]scenario{
			{fmt.Sprintf("(b)+(d) login c%d", c), "sign2", "login", false, c, false},
			{fmt.Sprintf("login gRPC c%d", c), "otpd", "login", false, c, false}}, cl("login")...),
		{{fmt.Sprintf("start REST c%d", c), "otpd", "start", true, c, false}},
		{{fmt.Sprintf("verify REST c%d", c), "otpd", "verify", true, c, false}},
	}, signIn...)
}

// scenarios is one concurrency's rows in table order.
func (o options) scenarios(c int) []scenario {
	var out []scenario
	for _, g := range o.groups(c) {
		out = append(out, g...)
	}
	return out
}

// runOrder is the order of one repetition's scenarios. On even
// repetitions each group runs backwards (otpd first, its baseline last:
// ABBA), so a trend over a repetition does not always favour one side.
func (o options) runOrder(c, rep int) []scenario {
	var out []scenario
	for _, g := range o.groups(c) {
		if rep%2 == 0 {
			g = slices.Clone(g)
			slices.Reverse(g)
		}
		out = append(out, g...)
	}
	return out
}

func (t *targets) measure(ctx context.Context, o options, b binaries, single *redisProc, cluster *clusterSet, s scenario, rep int) (result, error) {
	var r redisSide = single
	if s.cluster {
		r = cluster
	}
	if err := r.flush(ctx); err != nil {
		return result{}, err
	}
	prefix := fmt.Sprintf("r%d-%s-c%d-", rep, map[bool]string{true: "rest", false: "grpc"}[s.rest], s.conc)
	server := t.otpd
	addr := t.otpdGRPC
	if s.target != "otpd" {
		server, addr = t.base[s.target], t.baseAddr[s.target]
	}
	if s.cluster {
		server, addr = t.otpdCluster, t.otpdClusterGRPC
	}
	limit := 0
	if s.target == "otpd" && s.op == "verify" {
		// Pending codes (all 000000 in the benchmark build) to verify.
		if _, err := t.ghz(ctx, b, addr, "otp.v1.OtpEmail.SignUpOrIn", prefix, false, 100, 0, o.seed); err != nil {
			return result{}, fmt.Errorf("seeding: %w", err)
		}
		if _, err := waitDrained(ctx, r); err != nil {
			return result{}, err
		}
		limit = o.seed
	}
	if s.op == authzOpSignIn || s.op == authzOpAuthz {
		if err := t.seedSignIns(ctx, b, addr, prefix, o.signInSeed, s.op == authzOpAuthz); err != nil {
			return result{}, fmt.Errorf("seeding: %w", err)
		}
		if _, err := waitDrained(ctx, r); err != nil {
			return result{}, err
		}
		limit = o.signInSeed
	}
	s0, err := server.cpu()
	if err != nil {
		return result{}, err
	}
	r0, err := r.cpu()
	if err != nil {
		return result{}, err
	}
	c0, sc0, err := r.commands(ctx)
	if err != nil {
		return result{}, err
	}
	var prof chan error
	if rep == 1 && s.target == "otpd" && !s.rest && !s.cluster && s.conc == 50 {
		prof = make(chan error, 1)
		go func() {
			prof <- t.profile(ctx, filepath.Join(o.dir, s.op+".pprof"), o.duration-2*time.Second)
		}()
	}
	var res result
	switch {
	case s.rest:
		res, err = t.wrk(ctx, o, b, s, prefix)
	case s.op == "login":
		res, err = t.login(ctx, addr, prefix, s.conc, o.duration)
	default:
		call, verify := "otp.v1.OtpEmail.SignUpOrIn", strings.HasPrefix(s.op, "verify")
		if verify {
			call = "otp.v1.OtpEmail.Verify"
		}
		res, err = t.ghz(ctx, b, addr, call, prefix, verify, s.conc, o.duration, limit)
	}
	if err != nil {
		return result{}, err
	}
	if limit > 0 && res.errors > 0 && res.count+res.errors > limit {
		// ghz ignores -n when it runs for a duration: past the seeded
		// codes, every verify is refused.
		fmt.Fprintf(os.Stderr, "   (this run outlasted its %d seeded codes: raise -seed or -seed-signin)\n", limit)
	}
	var own int64 // commands the bench itself sent to Redis
	if s.target == "otpd" {
		// Delivery work (the noop provider) belongs to the start's and the
		// login's cost.
		if own, err = waitDrained(ctx, r); err != nil {
			return result{}, err
		}
	}
	s1, _ := server.cpu()
	r1, _ := r.cpu()
	c1, sc1, err := r.commands(ctx)
	if err != nil {
		return result{}, err
	}
	cpu := s1 - s0
	if s.target != "echo" {
		cpu += r1 - r0
	}
	if res.count > 0 {
		res.cpuPerReq = float64(cpu.Microseconds()) / float64(res.count)
		if s.target != "echo" {
			res.redisPerReq = float64((r1 - r0).Microseconds()) / float64(res.count)
			res.redisCmdsPerReq = float64(c1-c0-own) / float64(res.count)
			res.scriptsPerReq = float64(sc1-sc0) / float64(res.count)
		}
	}
	if prof != nil {
		if err := <-prof; err != nil {
			fmt.Fprintln(os.Stderr, "   profile:", err)
		}
	}
	return res, nil
}

// waitDrained waits for otpd's delivery queue (every shard) to empty. It
// returns how many Redis commands its own polling sent (MULTI, XLEN and
// ZCARD per shard, EXEC per poll), which the commands-per-request figure
// leaves out.
func waitDrained(ctx context.Context, r redisSide) (int64, error) {
	layout, err := queue.NewLayout(queue.DefaultShards)
	if err != nil {
		return 0, err
	}
	perPoll := int64(2*len(layout.All()) + 2)
	if _, cl := r.cmdable().(*redis.ClusterClient); cl {
		perPoll -= 2 // a plain pipeline on a Cluster (no MULTI, EXEC)
	}
	var sent int64
	for i := 0; i < 600; i++ {
		jobs, _, err := layout.Depth(ctx, r.cmdable())
		sent += perPoll
		if err == nil && jobs == 0 {
			return sent, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return sent, fmt.Errorf("the delivery queue did not drain")
}

func (t *targets) profile(ctx context.Context, file string, d time.Duration) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", t.otpdAdmin, int(d.Seconds())), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

// ghz runs one gRPC load; limit > 0 caps the number of requests.
func (t *targets) ghz(ctx context.Context, b binaries, addr, call, prefix string, verify bool, conc int, d time.Duration, limit int) (result, error) {
	data := fmt.Sprintf(`{"loginId":"%s{{.RequestNumber}}@bench.test"}`, prefix)
	if verify {
		data = fmt.Sprintf(`{"loginId":"%s{{.RequestNumber}}@bench.test","code":"000000"}`, prefix)
	}
	args := []string{"--insecure", "--protoset", b.protoset, "--call", call, "-d", data,
		"-m", fmt.Sprintf(`{"authorization":"Bearer %s"}`, t.projectID),
		"-c", strconv.Itoa(conc), "--connections", "2", "-O", "json"}
	if d > 0 {
		args = append(args, "-z", d.String())
	}
	if limit > 0 {
		args = append(args, "-n", strconv.Itoa(limit))
	}
	if d > 0 && limit == 0 {
		args = append(args, "-n", "100000000")
	}
	out, err := exec.CommandContext(ctx, b.ghz, append(args, addr)...).Output()
	if err != nil {
		return result{}, fmt.Errorf("ghz: %w", err)
	}
	var rep struct {
		Count   int     `json:"count"`
		RPS     float64 `json:"rps"`
		Latency []struct {
			Percentage int   `json:"percentage"`
			Latency    int64 `json:"latency"`
		} `json:"latencyDistribution"`
		Errors map[string]int `json:"errorDistribution"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return result{}, fmt.Errorf("ghz output: %w", err)
	}
	res := result{rps: rep.RPS, count: rep.Count}
	for msg, n := range rep.Errors {
		// ghz cancels its in-flight calls when the duration ends; those
		// are the load tool's teardown, not server errors. grpc-go
		// answers "transport is closing" to a call started or running on a
		// transport its own client is closing (ErrConnClosing); a server
		// that dropped the connection gives "error reading from server" or
		// a GOAWAY reason instead, and otpd's log shows every call it
		// answered.
		if strings.Contains(msg, "the client connection is closing") || strings.Contains(msg, "use of closed network connection") ||
			strings.HasSuffix(msg, "desc = transport is closing") {
			fmt.Fprintf(os.Stderr, "   (ghz teardown x%d, not counted: %s)\n", n, msg)
			res.count -= n
			continue
		}
		res.errors += n
		fmt.Fprintf(os.Stderr, "   error x%d: %s\n", n, msg)
	}
	for _, l := range rep.Latency {
		switch l.Percentage {
		case 50:
			res.p50 = float64(l.Latency) / 1e6
		case 99:
			res.p99 = float64(l.Latency) / 1e6
		}
	}
	return res, nil
}

const wrkScript = `-- otpd REST load: a distinct login id per request.
local threads = 0
setup = function(thread) thread:set("tid", threads); threads = threads + 1 end
init = function(args) prefix = args[1]; op = args[2]; stride = tonumber(args[3]); n = 0 end
request = function()
  local id = prefix .. (tid + n * stride) .. "@bench.test"
  n = n + 1
  local body = '{"loginId":"' .. id .. '"}'
  local path = "/v1/auth/otp/signup-in/email"
  if op == "verify" then
    body = '{"loginId":"' .. id .. '","code":"000000"}'
    path = "/v1/auth/otp/verify/email"
  end
  return wrk.format("POST", path, {["Authorization"] = "Bearer " .. project, ["Content-Type"] = "application/json"}, body)
end
`

var (
	reqsRe    = regexp.MustCompile(`(\d+) requests in`)
	rpsRe     = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	non2xxRe  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	sockErrRe = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	pctRe     = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)`)
)

// wrk runs one REST load. The seeded ids are 0..seed-1, so 2 threads
// stride through them.
func (t *targets) wrk(ctx context.Context, o options, b binaries, s scenario, prefix string) (result, error) {
	script := filepath.Join(o.dir, "rest.lua")
	if err := os.WriteFile(script, []byte(fmt.Sprintf("project = %q\n", t.projectID)+wrkScript), 0o644); err != nil {
		return result{}, err
	}
	cmd := exec.CommandContext(ctx, b.wrk, "-t2", "-c", strconv.Itoa(s.conc), "-d", o.duration.String(), "--latency",
		"-s", script, "http://"+t.otpdHTTP, "--", prefix, s.op, "2")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("wrk: %w: %s", err, out.String())
	}
	txt := out.String()
	res := result{}
	if m := reqsRe.FindStringSubmatch(txt); m != nil {
		res.count, _ = strconv.Atoi(m[1])
	}
	if m := rpsRe.FindStringSubmatch(txt); m != nil {
		res.rps, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := non2xxRe.FindStringSubmatch(txt); m != nil {
		res.errors, _ = strconv.Atoi(m[1])
	}
	if m := sockErrRe.FindStringSubmatch(txt); m != nil {
		for _, v := range m[1:] {
			n, _ := strconv.Atoi(v)
			res.errors += n
		}
	}
	for _, m := range pctRe.FindAllStringSubmatch(txt, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		switch m[3] {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		if m[1] == "50" {
			res.p50 = v
		} else {
			res.p99 = v
		}
	}
	if res.count == 0 {
		return res, fmt.Errorf("wrk printed no request count: %s", strings.TrimSpace(txt))
	}
	return res, nil
}
