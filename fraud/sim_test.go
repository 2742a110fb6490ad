package fraud_test

import (
	"container/heap"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nyaruka/phonenumbers"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/fraud"
	"github.com/otpd/otpd/store"
)

// The simulation: legitimate users in 20 countries (each converting 60–90%,
// some of them minutes late), plus SMS pumping on 3 number prefixes inside
// legitimate countries and on one whole country, none of it ever
// verified. Every send goes through store.StartCode (start.lua judges and
// counts it) on the embedded Redis; every verify through Guard.Verified.
// Time is a fake clock; randomness a fixed seed: the outcome is exact.

// legitCountries are the 20 countries of legitimate traffic.
var legitCountries = []string{"US", "GB", "FR", "DE", "ES", "IT", "NL", "BR", "MX", "IN",
	"JP", "AU", "CA", "SE", "PL", "TR", "ZA", "KE", "ID", "PH"}

// simConfig is one run.
type simConfig struct {
	Hours      int
	Seed       uint64
	Guard      config.FraudGuard
	PerCountry float64 // legitimate sends per minute per country (scaled by a weight)
	// AttackPrefixRate: sends per minute on each attacked prefix;
	// AttackCountryRate: on the attacked country (spread over its numbers).
	AttackPrefixRate, AttackCountryRate float64
	// Extra legitimate countries with a fixed conversion (the 40% case).
	Extra map[string]float64
	// Pool is how many distinct numbers each country's users have.
	Pool int
	// Real, when set, is the Redis to run on (else the embedded one);
	// Split runs the store in split-slot mode (Redis Cluster's path).
	Real  *redis.Client
	Split bool
}

// simResult is what a run measured.
type simResult struct {
	LegitSends, LegitRefused int
	// Attack: per target (prefix or country), attempts, let through
	// before the first refusal, and in all.
	Attack []attackResult
	// ExtraSends, ExtraRefused: among Extra's countries.
	ExtraSends, ExtraRefused int
	WouldBlock               int
}

type attackResult struct {
	Target                           string
	Attempts, BeforeFirstBlock, Sent int
}

func (r simResult) LegitRefusedPct() float64 {
	return 100 * float64(r.LegitRefused) / math.Max(1, float64(r.LegitSends))
}

func (r simResult) AttackSent() (sent, attempts int) {
	for _, a := range r.Attack {
		sent += a.Sent
		attempts += a.Attempts
	}
	return
}

// numberPool draws valid mobile numbers of a region, or, with prefix set,
// valid numbers starting with it.
type numberPool struct {
	region string
	nums   []string
}

// pools caches newPool's numbers (drawing valid numbers is the slow part).
var pools sync.Map

// Each pool draws from its own seed, so it is the same whichever test
// draws it first.
func newPool(region, prefix string, n int) numberPool {
	key := region + prefix + "/" + fmt.Sprint(n)
	if p, ok := pools.Load(key); ok {
		return p.(numberPool)
	}
	p := drawPool(rand.New(rand.NewPCG(uint64(crc32.ChecksumIEEE([]byte(key))), 1)), region, prefix, n)
	pools.Store(key, p)
	return p
}

func drawPool(rng *rand.Rand, region, prefix string, n int) numberPool {
	ex := phonenumbers.GetExampleNumberForType(region, phonenumbers.MOBILE)
	base := phonenumbers.Format(ex, phonenumbers.E164)
	if prefix == "" {
		// Keep the country code and the first national digit; draw the rest.
		cc := fmt.Sprint(ex.GetCountryCode())
		prefix = base[:1+len(cc)+1]
	}
	p := numberPool{region: region}
	for tries := 0; len(p.nums) < n && tries < 50*n; tries++ {
		b := []byte(prefix)
		for len(b) < len(base) {
			b = append(b, byte('0'+rng.IntN(10)))
		}
		num, err := phonenumbers.Parse(string(b), "")
		if err == nil && phonenumbers.IsValidNumberForRegion(num, region) {
			p.nums = append(p.nums, string(b))
		}
	}
	return p
}

func (p numberPool) pick(rng *rand.Rand) string { return p.nums[rng.IntN(len(p.nums))] }

type event struct {
	at     time.Time
	verify bool
	to     string
	seq    int
}

type events []event

func (h events) Len() int { return len(h) }
func (h events) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h events) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *events) Push(x any)   { *h = append(*h, x.(event)) }
func (h *events) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// verifyDelay: most users type the code within a minute; a quarter take
// up to 5 minutes; 5% come back 5 to 15 minutes later (late verifies).
func verifyDelay(rng *rand.Rand) time.Duration {
	switch x := rng.Float64(); {
	case x < 0.70:
		return time.Duration(10+rng.IntN(50)) * time.Second
	case x < 0.95:
		return time.Duration(60+rng.IntN(240)) * time.Second
	default:
		return time.Duration(300+rng.IntN(600)) * time.Second
	}
}

const simProject = "Psim"

func runSim(tb testing.TB, c simConfig) simResult {
	tb.Helper()
	ctx := context.Background()
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	cl, sync := c.Real, func() {}
	if cl == nil {
		emb, err := store.StartEmbedded(clk, time.Hour)
		if err != nil {
			tb.Fatal(err)
		}
		defer emb.Close()
		cl, sync = emb.Client, emb.Sync
	}
	st := store.NewRedisStoreSplit(cl, c.Split)
	g, err := fraud.New(map[string]fraud.Settings{simProject: {Config: c.Guard, PrefixDigits: 8}}, st, clk,
		prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(c.Seed, 7))

	type src struct {
		pool   numberPool
		conv   float64 // < 0: attack
		rate   float64 // per minute
		target string  // attack target
		extra  bool
	}
	var srcs []src
	for i, cc := range legitCountries {
		conv := 0.60 + 0.30*float64(i)/float64(len(legitCountries)-1)
		weight := 0.5 + float64(i%4) // some countries busier than others
		srcs = append(srcs, src{pool: newPool(cc, "", c.Pool), conv: conv, rate: c.PerCountry * weight})
	}
	extras := make([]string, 0, len(c.Extra))
	for cc := range c.Extra {
		extras = append(extras, cc)
	}
	sort.Strings(extras)
	for _, cc := range extras {
		srcs = append(srcs, src{pool: newPool(cc, "", c.Pool), conv: c.Extra[cc], rate: c.PerCountry * 2, extra: true})
	}
	// Three attacked prefixes (8 digits) inside legitimate countries, and
	// one whole country with no legitimate users at all.
	for _, cc := range []string{"GB", "FR", "ID"} {
		legit := newPool(cc, "", 1)
		prefix := legit.nums[0][:9] // '+' and 8 digits
		srcs = append(srcs, src{pool: newPool(cc, prefix, 200), conv: -1, rate: c.AttackPrefixRate, target: "prefix " + prefix[:5] + "…"})
	}
	srcs = append(srcs, src{pool: newPool("LV", "", 2*c.Pool), conv: -1, rate: c.AttackCountryRate, target: "country LV"})

	// All sends, in time order (Poisson arrivals per source).
	var q events
	seq := 0
	end := start.Add(time.Duration(c.Hours) * time.Hour)
	srcOf := map[int]int{}
	for i, s := range srcs {
		if s.rate <= 0 {
			continue
		}
		for t := start; ; {
			t = t.Add(time.Duration(rng.ExpFloat64() / s.rate * float64(time.Minute)))
			if !t.Before(end) {
				break
			}
			seq++
			srcOf[seq] = i
			q = append(q, event{at: t, seq: seq})
		}
	}
	heap.Init(&q)
	res := simResult{}
	attack := map[int]*attackResult{}
	var order []int
	for q.Len() > 0 {
		ev := heap.Pop(&q).(event)
		if d := ev.at.Sub(clk.Now()); d > 0 {
			clk.Add(d)
			sync()
		}
		if ev.verify {
			g.Verified(ctx, simProject, "sms", ev.to)
			continue
		}
		s := srcs[srcOf[ev.seq]]
		to := s.pool.pick(rng)
		r, err := st.StartCode(ctx, store.NewCode{
			Key: store.CodeKey{Project: simProject, LoginID: to, Channel: "sms"}, Rule: store.RuleAny,
			Hash: make([]byte, 32), Contact: store.ContactPhone, NewUserAddress: to, MaxAttempts: 5,
			ExpiresAt: clk.Now().Add(10 * time.Minute), Retain: 20 * time.Minute, Now: clk.Now(),
			Guard: g.Plan(simProject, "sms", to, to),
		})
		if err != nil {
			tb.Fatal(err)
		}
		sent := r.Status == store.StartOK
		if r.WouldBlock != "" {
			res.WouldBlock++
		}
		if !sent && r.Status != store.StartBlocked {
			tb.Fatalf("start: %+v", r)
		}
		if s.conv < 0 {
			a := attack[srcOf[ev.seq]]
			if a == nil {
				a = &attackResult{Target: s.target, BeforeFirstBlock: -1}
				attack[srcOf[ev.seq]] = a
				order = append(order, srcOf[ev.seq])
			}
			a.Attempts++
			if sent {
				a.Sent++
			} else if a.BeforeFirstBlock < 0 {
				a.BeforeFirstBlock = a.Sent
			}
			continue
		}
		if s.extra {
			res.ExtraSends++
			if !sent {
				res.ExtraRefused++
			}
		} else {
			res.LegitSends++
			if !sent {
				res.LegitRefused++
			}
		}
		if !sent {
			continue
		}
		if rng.Float64() < s.conv {
			seq++
			heap.Push(&q, event{at: ev.at.Add(verifyDelay(rng)), verify: true, to: to, seq: seq})
		}
	}
	sort.Ints(order)
	for _, i := range order {
		res.Attack = append(res.Attack, *attack[i])
	}
	return res
}

func (r simResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "legitimate: %d sends, %d refused (%.3f%%); would block (shadow): %d\n", r.LegitSends, r.LegitRefused, r.LegitRefusedPct(), r.WouldBlock)
	for _, a := range r.Attack {
		fmt.Fprintf(&b, "attack on %s: %d attempts, %d sent before the first block, %d sent in all\n", a.Target, a.Attempts, a.BeforeFirstBlock, a.Sent)
	}
	return b.String()
}

// defaultGuard is the shipped default (config's defaults).
func defaultGuard() config.FraudGuard { return config.FraudGuard{}.Defaulted() }

// TestSimulation runs 2 simulated hours on the default settings: every
// attack is blocked after exactly minSends sends (prefix) or minSends
// sends (country) and stays blocked but for one new judgement per
// cool-off; legitimate traffic, late verifies included, is refused less
// than 0.5% of the time; a country converting 40% is never blocked.
func TestSimulation(t *testing.T) {
	t.Parallel()
	c := simConfig{Hours: 2, Seed: 1, Guard: defaultGuard(), PerCountry: 0.55, AttackPrefixRate: 2, AttackCountryRate: 6,
		Extra: map[string]float64{"AR": 0.40}, Pool: 500}
	r := runSim(t, c)
	t.Log("\n" + r.String())
	if r.LegitSends < 1000 || r.ExtraSends < 100 {
		t.Fatalf("only %d legitimate sends: the simulation is too small to mean anything", r.LegitSends)
	}
	if pct := r.LegitRefusedPct(); pct >= 0.5 {
		t.Errorf("%.3f%% of legitimate sends refused, want < 0.5%%", pct)
	}
	if r.ExtraRefused != 0 {
		t.Errorf("a country converting 40%% had %d sends refused, want none", r.ExtraRefused)
	}
	if len(r.Attack) != 4 {
		t.Fatalf("%d attack targets, want 4", len(r.Attack))
	}
	cooloffs := c.Hours*int(time.Hour/c.Guard.CoolOff.D()) + 1
	for _, a := range r.Attack {
		limit := *c.Guard.Prefix.MinSends
		if strings.HasPrefix(a.Target, "country") {
			limit = *c.Guard.Country.MinSends
		}
		// Blocked at the first send past minSends (a prefix block may come
		// sooner: its country's conversion is judged too).
		if a.BeforeFirstBlock < 0 || a.BeforeFirstBlock > limit {
			t.Errorf("%s: %d sends before the first block, want at most %d", a.Target, a.BeforeFirstBlock, limit)
		}
		// At most minSends per cool-off get through afterwards.
		if a.Sent > limit*cooloffs {
			t.Errorf("%s: %d of %d attempts sent, want at most %d (minSends per cool-off)", a.Target, a.Sent, a.Attempts, limit*cooloffs)
		}
	}
}

// TestSimulationShadow: shadow mode refuses nothing and reports the
// sends it would have refused.
func TestSimulationShadow(t *testing.T) {
	t.Parallel()
	g := defaultGuard()
	g.Mode = config.FraudShadow
	r := runSim(t, simConfig{Hours: 2, Seed: 2, Guard: g, PerCountry: 0.1, AttackPrefixRate: 1, AttackCountryRate: 3, Pool: 200})
	if r.LegitRefused != 0 {
		t.Errorf("shadow mode refused %d legitimate sends", r.LegitRefused)
	}
	sent, attempts := r.AttackSent()
	if sent != attempts {
		t.Errorf("shadow mode refused %d attack sends", attempts-sent)
	}
	if r.WouldBlock < attempts/2 {
		t.Errorf("shadow mode reported %d would-be refusals of %d attack sends", r.WouldBlock, attempts)
	}
}

// TestSimulationSplit runs the guard on Redis Cluster's path (split-slot
// mode: the check and the count are their own pipelines).
func TestSimulationSplit(t *testing.T) {
	t.Parallel()
	r := runSim(t, simConfig{Hours: 2, Seed: 3, Guard: defaultGuard(), PerCountry: 0.1, AttackPrefixRate: 1, AttackCountryRate: 3, Pool: 200, Split: true})
	if r.LegitRefused != 0 {
		t.Errorf("%d legitimate sends refused", r.LegitRefused)
	}
	for _, a := range r.Attack {
		if a.BeforeFirstBlock < 0 || a.Sent > 3**defaultGuard().Country.MinSends {
			t.Errorf("%s: %d sent before the first block, %d in all", a.Target, a.BeforeFirstBlock, a.Sent)
		}
	}
}
