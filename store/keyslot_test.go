package store_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/otpd/otpd/internal/testredis"
	"github.com/otpd/otpd/store"
	"github.com/otpd/otpd/store/keyslot"
)

// TestSlotMathsMatchRedis: keyslot's CRC16 and hash-tag rules agree with a
// real redis-server's CLUSTER KEYSLOT, for the slot tags, for login keys
// whose login id holds the characters escape() encodes, and a new user's
// keys land on the slot of the login id that created it.
func TestSlotMathsMatchRedis(t *testing.T) {
	t.Parallel()
	c := testredis.ClusterEnabled(t)
	ctx := context.Background()
	slotOf := func(key string) int {
		t.Helper()
		n, err := c.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return int(n)
	}
	for s := 0; s < keyslot.Slots; s += 61 {
		if got := slotOf("otpd:{" + keyslot.Tag(s) + "}:P1:x:user"); got != s {
			t.Fatalf("tag %q: redis says slot %d, want %d", keyslot.Tag(s), got, s)
		}
	}
	for _, key := range []string{"123456789", "foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}", "{}", "a{b"} {
		if got, want := keyslot.Slot(key), slotOf(key); got != want {
			t.Errorf("Slot(%q) = %d, redis says %d", key, got, want)
		}
	}
	for _, login := range []string{"a@x.io", "we{ird}@x.io", "}{@x.io", "100%{@x.io", "%7B@x.io", "+14155550100", "é@x.io"} {
		lk := store.LoginKey("P1", login)
		if got, want := keyslot.Slot(lk), slotOf(lk); got != want {
			t.Errorf("login key %q: Slot %d, redis says %d", lk, got, want)
		}
		uid, err := store.NewUserID(rand.Reader, "P1", login)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{store.UserKey("P1", uid), store.RefreshKey("P1", uid), store.HistoryKey("P1", uid)} {
			if got, want := slotOf(k), slotOf(lk); got != want {
				t.Errorf("login %q: user key %s on slot %d, login key on %d", login, k, got, want)
			}
		}
	}
}

// TestNewUserIDShape: new ids keep the shape Descope's SDKs see (28
// characters of [A-Z0-9] starting "U2"), differ, and are never taken for
// an id of the older layout (those keep their keys).
func TestNewUserIDShape(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for i := range 200 {
		uid, err := store.NewUserID(rand.Reader, "P1", "a@x.io")
		if err != nil {
			t.Fatal(err)
		}
		if len(uid) != 28 || uid[:2] != "U2" || seen[uid] {
			t.Fatalf("id %d: %q", i, uid)
		}
		for _, r := range uid {
			if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
				t.Fatalf("id %q: character %q", uid, r)
			}
		}
		seen[uid] = true
	}
}

// TestCallerUserIDsCannotNameOtherKeys: a user id given by a caller (the
// management API's userId, a token's sub) that looks like a new id but
// carries ':' or '}' in its random part keeps the older, escaped layout.
// (The fixed length already kept such ids from equalling another key; this
// keeps key syntax out of the unescaped layout altogether.)
func TestCallerUserIDsCannotNameOtherKeys(t *testing.T) {
	t.Parallel()
	uid, err := store.NewUserID(rand.Reader, "P1", "a@x.io")
	if err != nil {
		t.Fatal(err)
	}
	// Same length, prefix and slot tag as uid, with key syntax in it.
	forged := uid[:25] + ":rt"
	if k := store.UserKey("P1", forged); !strings.HasPrefix(k, "otpd:{P1:") {
		t.Errorf("forged id %q got the new layout: %q", forged, k)
	}
	if k := store.UserKey("P1", uid[:27]+"}"); !strings.HasPrefix(k, "otpd:{P1:") || strings.Count(k, "}") != 1 {
		t.Errorf("id with a brace: %q", k)
	}
	if k := store.UserKey("P1", uid); strings.HasPrefix(k, "otpd:{P1:") {
		t.Errorf("a real new id lost its home slot: %q", k)
	}
}
