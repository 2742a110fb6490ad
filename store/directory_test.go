package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpd/otpd/store"
)

func login(uid string, at time.Time, ua string) store.Login {
	return store.Login{Project: "P", UserID: uid, LoginID: "h@example.com", Contact: store.ContactEmail,
		Address: "h@example.com", Now: at, New: true, History: store.LoginRecord{Time: at, IP: "192.0.2.1", UserAgent: ua, Channel: "email"}}
}

// TestHistoryBounds: a user's history keeps at most HistoryMaxEntries
// logins, none older than HistoryMaxAge, and a bounded, valid User-Agent.
func TestHistoryBounds(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		old := t0.Add(-store.HistoryMaxAge - time.Hour)
		if _, _, err := s.CompleteLogin(ctx, login("U1", old, "old")); err != nil {
			t.Fatal(err)
		}
		for i := range store.HistoryMaxEntries + 5 {
			ua := fmt.Sprintf("ua-%d", i)
			if i == 0 {
				ua = strings.Repeat("é", 300) + "\xff"
			}
			if _, _, err := s.CompleteLogin(ctx, login("U1", t0.Add(time.Duration(i)*time.Second), ua)); err != nil {
				t.Fatal(err)
			}
		}
		if n := c.LLen(ctx, store.HistoryKey("P", "U1")).Val(); n != store.HistoryMaxEntries {
			t.Fatalf("history holds %d entries, want %d", n, store.HistoryMaxEntries)
		}
		h, err := s.History(ctx, "P", "U1", t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != store.HistoryMaxEntries || h[0].UserAgent != fmt.Sprintf("ua-%d", store.HistoryMaxEntries+4) ||
			h[0].IP != "192.0.2.1" || h[0].Channel != "email" || !h[0].Time.Equal(t0.Add(time.Duration(store.HistoryMaxEntries+4)*time.Second)) {
			t.Fatalf("newest entry: %+v (%d entries)", h[0], len(h))
		}
		if ttl := c.PTTL(ctx, store.HistoryKey("P", "U1")).Val(); ttl <= 0 || ttl > store.HistoryMaxAge {
			t.Fatalf("history TTL %v", ttl)
		}
		// Entries past the age bound are dropped at the next login and
		// never returned.
		later := t0.Add(store.HistoryMaxAge + 50*time.Second)
		if _, _, err := s.CompleteLogin(ctx, login("U1", later, "late")); err != nil {
			t.Fatal(err)
		}
		h, _ = s.History(ctx, "P", "U1", later)
		for _, r := range h {
			if r.Time.Before(later.Add(-store.HistoryMaxAge)) {
				t.Fatalf("an entry older than %v survived: %v", store.HistoryMaxAge, r.Time)
			}
		}
		if len(h) != 56 { // i = 50..104 and the new login
			t.Fatalf("after aging: %d entries, want 56", len(h))
		}
	})
}

// TestHistoryUserAgentBounded: the client-controlled User-Agent is cut to
// 256 bytes of valid UTF-8.
func TestHistoryUserAgentBounded(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		if _, _, err := s.CompleteLogin(ctx, login("U2", t0, strings.Repeat("é", 300)+"\xff")); err != nil {
			t.Fatal(err)
		}
		h, _ := s.History(ctx, "P", "U2", t0)
		if len(h) != 1 || len(h[0].UserAgent) > 256 || !strings.HasPrefix(h[0].UserAgent, "éé") || strings.ContainsRune(h[0].UserAgent, 0xFFFD) && len(h[0].UserAgent) < 250 {
			t.Fatalf("user agent stored as %q (%d bytes)", h[0].UserAgent, len(h[0].UserAgent))
		}
	})
}

// TestIndexPaging: the (test, status) sets page in created order across
// sets, and a re-index moves a user between them.
func TestIndexPaging(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		for i := range 6 {
			u := store.User{UserID: fmt.Sprintf("U%d", i), Status: "enabled", Test: i%2 == 1, CreatedTime: t0.Add(time.Duration(i) * time.Second),
				Email: fmt.Sprintf("u%d@example.com", i)}
			// A record to index (an entry of a user without one is dropped).
			if _, err := s.WriteUser(ctx, "P", u.UserID, store.UserWrite{Create: true, Set: store.UserFields(u)}); err != nil {
				t.Fatal(err)
			}
			if err := s.Index(ctx, "P", u); err != nil {
				t.Fatal(err)
			}
		}
		all := []store.IndexSet{{}, {Test: true}, {Disabled: true}}
		ids, total, err := s.Page(ctx, "P", all, 1, 3)
		if err != nil || fmt.Sprint(ids) != "[U1 U2 U3]" || total != 6 {
			t.Fatalf("page: %v %d %v", ids, total, err)
		}
		// U2 disabled and moved to another address.
		if err := s.Index(ctx, "P", store.User{UserID: "U2", Status: "disabled", CreatedTime: t0.Add(2 * time.Second), Email: "moved@example.com"}); err != nil {
			t.Fatal(err)
		}
		if ids, total, _ := s.Page(ctx, "P", []store.IndexSet{{Disabled: true}}, 0, 10); fmt.Sprint(ids) != "[U2]" || total != 1 {
			t.Fatalf("disabled set: %v %d", ids, total)
		}
		if ids, _ := s.Lookup(ctx, "P", store.ContactEmail, []string{"u2@example.com"}, 10); len(ids) != 0 {
			t.Fatalf("old address still indexed: %v", ids)
		}
		if ids, _ := s.Lookup(ctx, "P", store.ContactEmail, []string{"moved@example.com", "u4@example.com", "u4@example.co"}, 10); fmt.Sprint(ids) != "[U2 U4]" {
			t.Fatalf("lookup: %v", ids)
		}
		if err := s.Unindex(ctx, "P", "U4"); err != nil {
			t.Fatal(err)
		}
		if _, total, _ := s.Page(ctx, "P", all, 0, 10); total != 5 {
			t.Fatalf("after unindex: %d", total)
		}
	})
}

// TestLoginRefusedForDisabledUser: login.lua gives a disabled user no
// session and records nothing, even when its code was verified before the
// user was disabled.
func TestLoginRefusedForDisabledUser(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		if _, err := s.WriteUser(ctx, "P", "U9", store.UserWrite{Create: true, Set: map[string]string{"userId": "U9", "status": "disabled"}}); err != nil {
			t.Fatal(err)
		}
		l := login("U9", t0, "ua")
		l.RefreshID, l.RefreshExpiry = "jti", t0.Add(time.Hour)
		if _, _, err := s.CompleteLogin(ctx, l); !errors.Is(err, store.ErrDisabled) {
			t.Fatalf("login of a disabled user: %v", err)
		}
		if n := c.Exists(ctx, store.RefreshKey("P", "U9"), store.HistoryKey("P", "U9")).Val(); n != 0 {
			t.Fatalf("a disabled user's login left %d keys", n)
		}
	})
}

// TestLookupEveryHolder: an email held by more than 1,000 users yields
// every holder up to the limit asked for (it used to stop at 1,000), and
// PageRange lists a created-time range in either order.
func TestLookupEveryHolder(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := store.NewRedisStore(c)
		const n = 2500
		for i := range n {
			u := store.User{UserID: fmt.Sprintf("U%05d", i), Email: "shared@example.com", Status: "enabled",
				CreatedTime: t0.Add(time.Duration(i) * time.Millisecond)}
			// A record for each: an index entry of a user without one is
			// dropped (an erasure raced it; TestEraseRacingEveryWriter).
			if err := c.HSet(ctx, store.UserKey("P", u.UserID), "userId", u.UserID).Err(); err != nil {
				t.Fatal(err)
			}
			if err := s.Index(ctx, "P", u); err != nil {
				t.Fatal(err)
			}
		}
		ids, err := s.Lookup(ctx, "P", store.ContactEmail, []string{"shared@example.com"}, 10001)
		if err != nil || len(ids) != n {
			t.Fatalf("holders: %d, %v; want %d", len(ids), err, n)
		}
		if ids, _ := s.Lookup(ctx, "P", store.ContactEmail, []string{"shared@example.com"}, 1200); len(ids) != 1200 {
			t.Fatalf("limit 1200: %d", len(ids))
		}
		r := store.PageRange{Offset: 1, Count: 2, From: t0.Add(10 * time.Millisecond), To: t0.Add(20 * time.Millisecond), Desc: true}
		ids, total, err := s.PageRange(ctx, "P", []store.IndexSet{{}}, r)
		if err != nil || fmt.Sprint(ids) != "[U00019 U00018]" || total != 11 {
			t.Fatalf("range, newest first: %v total %d %v", ids, total, err)
		}
	})
}
