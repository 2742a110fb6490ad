package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/address"
	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/delivery/queue"
	"github.com/otpd/otpd/delivery/seal"
	"github.com/otpd/otpd/delivery/status"
)

// deadLetterStore is what the deadletters command needs from the queue
// (delivery/queue.DeadLetters keeps the Redis specifics).
type deadLetterStore interface {
	Each(ctx context.Context, f func(queue.DeadLetter) bool) error
	Replay(ctx context.Context, entryID string) (bool, error)
	Purge(ctx context.Context, entryIDs ...string) (int64, error)
}

// statusReader is a deadLetterStore that also reads what each provider
// reported for a job (status.Read); list shows it in PROVIDERS.
type statusReader interface {
	Statuses(ctx context.Context, job string) ([]status.ProviderStatus, error)
}

// deadWithStatuses is the queue's dead letters plus the delivery records.
type deadWithStatuses struct {
	*queue.DeadLetters
	rdb redis.Cmdable
}

func (d deadWithStatuses) Statuses(ctx context.Context, job string) ([]status.ProviderStatus, error) {
	return status.Read(ctx, d.rdb, job)
}

// providersColumn is "id:status(code)" per provider given the job, "-"
// when there is no record (never tracked, or expired with the code).
func providersColumn(ctx context.Context, st deadLetterStore, job string) string {
	r, ok := st.(statusReader)
	if !ok {
		return "-"
	}
	ps, err := r.Statuses(ctx, job)
	if err != nil || len(ps) == 0 {
		return "-"
	}
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.Provider + ":" + cmp.Or(p.Status, "tried")
		if p.ErrorCode != "" {
			parts[i] += "(" + p.ErrorCode + ")"
		}
	}
	return strings.Join(parts, ",")
}

// minReplayLife is how long a code must still live for its message to be
// replayed: a message arriving after its code expired only confuses.
const minReplayLife = 30 * time.Second

// deadFilter selects dead letters.
type deadFilter struct {
	project, channel     string
	olderThan, newerThan time.Duration
}

func (f deadFilter) empty() bool { return f == deadFilter{} }

func (f deadFilter) match(d queue.DeadLetter, now time.Time) bool {
	if f.project != "" && d.Project != f.project {
		return false
	}
	if f.channel != "" && d.Channel != f.channel {
		return false
	}
	age := now.Sub(d.At)
	if f.olderThan > 0 && age < f.olderThan {
		return false
	}
	if f.newerThan > 0 && age > f.newerThan {
		return false
	}
	return true
}

// runDeadLetters lists, replays or purges dead letters. It reads the same
// configuration as the server (OTPD_REDIS_URL and the seal keys), after
// the command line is known to be well formed.
func runDeadLetters(ctx context.Context, args []string, te toolEnv) error {
	if _, err := parseDead(args, te); err != nil {
		return err
	}
	cfg, err := config.Load(te.env, te.read)
	if err != nil {
		return err
	}
	if cfg.Embedded() {
		return errors.New("deadletters needs OTPD_REDIS_URL: the embedded Redis lives inside the serving process")
	}
	rdb, closeRedis, err := openRedis(cfg, clock.Real{}, slog.New(slog.NewTextHandler(te.stderr, nil)))
	if err != nil {
		return err
	}
	defer closeRedis()
	s, err := seal.New(cfg.SealKeys)
	if err != nil {
		return err
	}
	layout, err := queue.NewLayout(cfg.QueueShards)
	if err != nil {
		return err
	}
	return deadLetters(ctx, args, te, deadWithStatuses{queue.NewDeadLetters(rdb, s, cfg.QueueMaxLen, layout), rdb}, time.Now)
}

const deadUsage = `usage: otpd deadletters list|replay|purge [flags]

  list     show dead letters, oldest first (addresses masked, never codes)
  replay   re-enqueue matching dead letters whose code is still live (at least 30s left)
  purge    delete matching dead letters (-all to delete every one)

It needs OTPD_REDIS_URL and the seal keys the servers use.
Run "otpd deadletters <action> -h" for the action's flags.
`

// deadActions describes each action, for its help.
var deadActions = map[string]string{
	"list":   "Shows matching dead letters, oldest first: addresses masked, never codes.",
	"replay": "Re-enqueues matching dead letters whose code is still live (at least 30s left).",
	"purge":  "Deletes matching dead letters; without a filter it needs -all.",
}

// deadArgs is a parsed deadletters command line.
type deadArgs struct {
	verb   string
	filter deadFilter
	limit  int
	all    bool
}

// deadFlags is the flag set of one action: -all exists on purge only.
func deadFlags(verb string, out io.Writer) (*flag.FlagSet, *deadArgs) {
	a := &deadArgs{verb: verb}
	fs := flag.NewFlagSet("otpd deadletters "+verb, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&a.filter.project, "project", "", "only this project id")
	fs.StringVar(&a.filter.channel, "channel", "", "only this channel: email, sms, voice or whatsapp")
	fs.DurationVar(&a.filter.olderThan, "older-than", 0, "only dead letters at least this old (e.g. 1h)")
	fs.DurationVar(&a.filter.newerThan, "newer-than", 0, "only dead letters at most this old (e.g. 15m)")
	fs.IntVar(&a.limit, "limit", 1000, "act on at most this many dead letters")
	if verb == "purge" {
		fs.BoolVar(&a.all, "all", false, "allow purging without a filter")
	}
	fs.Usage = func() {
		fmt.Fprintf(out, "usage: otpd deadletters %s [flags]\n\n%s\n\nflags:\n", verb, deadActions[verb])
		fs.PrintDefaults()
	}
	return fs, a
}

// deadHelp prints the help of the deadletters command, or of one action.
func deadHelp(w io.Writer, verb string) error {
	if verb == "" {
		fmt.Fprint(w, deadUsage)
		return nil
	}
	if _, ok := deadActions[verb]; !ok {
		return fmt.Errorf("deadletters: unknown action %q (want list, replay or purge)", verb)
	}
	fs, _ := deadFlags(verb, w)
	fs.Usage()
	return nil
}

// parseDead parses and checks a deadletters command line.
func parseDead(args []string, te toolEnv) (*deadArgs, error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(te.stderr, deadUsage)
		return nil, errors.New("deadletters: want list, replay or purge")
	}
	if _, ok := deadActions[args[0]]; !ok {
		return nil, fmt.Errorf("deadletters: unknown action %q (want list, replay or purge)", args[0])
	}
	fs, a := deadFlags(args[0], te.stderr)
	if err := fs.Parse(args[1:]); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("deadletters: unexpected arguments %q", fs.Args())
	}
	switch a.filter.channel {
	case "", "email", "sms", "voice", "whatsapp":
	default:
		return nil, fmt.Errorf("deadletters: -channel %q: want email, sms, voice or whatsapp", a.filter.channel)
	}
	if a.limit < 1 {
		return nil, errors.New("deadletters: -limit must be at least 1")
	}
	return a, nil
}

func deadLetters(ctx context.Context, args []string, te toolEnv, st deadLetterStore, now func() time.Time) error {
	a, err := parseDead(args, te)
	if err != nil {
		return err
	}
	verb, f, limit, all := a.verb, a.filter, &a.limit, &a.all
	t := now()
	var picked []queue.DeadLetter
	err = st.Each(ctx, func(d queue.DeadLetter) bool {
		if f.match(d, t) {
			picked = append(picked, d)
		}
		return len(picked) < *limit
	})
	if err != nil {
		return fmt.Errorf("deadletters: %w", err)
	}
	switch verb {
	case "list":
		printDead(te, picked, t, func(job string) string { return providersColumn(ctx, st, job) })
		return nil
	case "replay":
		var replayed, skipped int
		for _, d := range picked {
			if d.OpenError != "" || d.Expiry.Sub(t) < minReplayLife {
				skipped++
				continue
			}
			ok, err := st.Replay(ctx, d.EntryID)
			if err != nil {
				return fmt.Errorf("deadletters: replay %s: %w (%d replayed before)", d.JobID, err, replayed)
			}
			if ok {
				replayed++
			}
		}
		fmt.Fprintf(te.stdout, "replayed %d; skipped %d (code expired or expiring within %s, or payload unreadable)\n", replayed, skipped, minReplayLife)
		return nil
	case "purge":
		if f.empty() && !*all {
			return errors.New("deadletters: purge without -project, -channel, -older-than or -newer-than needs -all")
		}
		ids := make([]string, len(picked))
		for i, d := range picked {
			ids[i] = d.EntryID
		}
		n, err := st.Purge(ctx, ids...)
		if err != nil {
			return fmt.Errorf("deadletters: %w", err)
		}
		fmt.Fprintf(te.stdout, "purged %d\n", n)
		return nil
	}
	return fmt.Errorf("deadletters: unknown action %q (want list, replay or purge)", verb)
}

func printDead(te toolEnv, ds []queue.DeadLetter, now time.Time, providers func(job string) string) {
	w := tabwriter.NewWriter(te.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ENTRY\tAGE\tPROJECT\tCHANNEL\tTO\tREASON\tATTEMPTS\tCODE\tPROVIDERS\tERROR")
	for _, d := range ds {
		to := address.MaskPhone(d.To)
		if strings.Contains(d.To, "@") {
			to = address.MaskEmail(d.To)
		}
		code := "expired"
		if left := d.Expiry.Sub(now); left > 0 {
			code = "live " + left.Round(time.Second).String()
		}
		project, channel := d.Project, d.Channel
		if d.OpenError != "" {
			project, channel = "?", "?"
		}
		msg := d.Error
		if len(msg) > 80 {
			msg = msg[:77] + "..."
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", d.EntryID, now.Sub(d.At).Round(time.Second), project, channel,
			to, d.Reason, d.Attempts, code, providers(d.JobID), strings.ReplaceAll(msg, "\t", " "))
	}
	_ = w.Flush()
	fmt.Fprintf(te.stdout, "%d dead letter(s)\n", len(ds))
}
