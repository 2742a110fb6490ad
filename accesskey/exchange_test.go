package accesskey

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/clock"
	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/flow"
	"github.com/otpd/otpd/store"
	"github.com/otpd/otpd/token"
)

type fakeStore struct {
	keys    map[string]store.AccessKey
	charged []string
}

func (f *fakeStore) AccessKey(_ context.Context, _, id string) (store.AccessKey, error) {
	k, ok := f.keys[id]
	if !ok {
		return store.AccessKey{}, store.ErrAccessKeyNotFound
	}
	return k, nil
}

func (f *fakeStore) ChargeLimits(_ context.Context, bs []store.Bucket, _ time.Time, _ bool) (string, string, time.Duration, error) {
	for _, b := range bs {
		f.charged = append(f.charged, b.Name)
	}
	return "", "", 0, nil
}

func (f *fakeStore) Claims(context.Context, string, store.UserAuthz) (store.Claims, error) {
	return store.Claims{Roles: []string{"admin"}}, nil
}

// TestExchangeChargesTheKeyOnlyOnceProven: every attempt charges the
// client IP's bucket; the key's bucket is charged only when the secret
// matched and the key is active, unexpired and permitted here, so that
// nobody who merely knows the key's id spends its budget.
func TestExchangeChargesTheKeyOnlyOnceProven(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	k, err := token.GenerateKey(token.ES256)
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := token.NewKeySet(k)
	iss, err := token.NewIssuer(token.Config{ProjectID: "P"}, ks, func() time.Time { return now }, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := &flow.Project{ID: "P", Issuer: iss, Limits: config.Limits{
		AccessKeyExchangesPerKey: &config.Rate{Count: 10, Window: config.Duration(time.Minute)},
		AccessKeyExchangesPerIP:  &config.Rate{Count: 10, Window: config.Duration(time.Minute)}}}
	mk := func(mod func(*store.AccessKey)) (string, store.AccessKey) {
		id, clear, hash, err := New(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key := store.AccessKey{ID: id, Hash: hash, Status: store.AccessKeyActive, Authz: store.UserAuthz{Roles: []int64{1}}}
		mod(&key)
		return clear, key
	}
	good, gk := mk(func(*store.AccessKey) {})
	off, ok := mk(func(k *store.AccessKey) { k.Status = store.AccessKeyInactive })
	old, ek := mk(func(k *store.AccessKey) { k.Expires = now })
	far, fk := mk(func(k *store.AccessKey) { k.PermittedIPs = []string{"10.0.0.0/8"} })
	st := &fakeStore{keys: map[string]store.AccessKey{gk.ID: gk, ok.ID: ok, ek.ID: ek, fk.ID: fk}}
	x := NewExchanger(st, clock.NewFake(now), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	addr := netip.MustParseAddr("192.0.2.1")
	for name, clear := range map[string]string{"malformed": "K123", "wrong secret": wrongSecret(good),
		"deactivated": off, "expired": old, "outside permittedIps": far} {
		st.charged = nil
		_, err := x.Exchange(context.Background(), p, Request{Cleartext: clear, Addr: addr, IPKey: addr.String()})
		if !apierr.ErrUnauthorized.Is(err) {
			t.Errorf("%s: %v", name, err)
		}
		if !slices.Equal(st.charged, []string{LimitPerIP}) {
			t.Errorf("%s charged %v", name, st.charged)
		}
	}
	st.charged = nil
	res, err := x.Exchange(context.Background(), p, Request{Cleartext: good, Addr: addr, IPKey: addr.String()})
	if err != nil || res.KeyID != gk.ID || !slices.Equal(st.charged, []string{LimitPerIP, LimitPerKey}) {
		t.Fatalf("good key: %+v %v, charged %v", res, err, st.charged)
	}
	c, err := iss.VerifySession(res.SessionJWT)
	if err != nil || c.Subject != gk.ID || c.Authz == nil || !slices.Equal(c.Authz.Roles, []string{"admin"}) || !c.Expiry.Equal(res.Expiry) {
		t.Fatalf("token: %+v %v", c, err)
	}
}

// wrongSecret is clear with its last character changed (to another one a
// well-formed key may end with: 'Q' unless it already is, then 'A').
func wrongSecret(clear string) string {
	last := "Q"
	if strings.HasSuffix(clear, last) {
		last = "A"
	}
	return clear[:len(clear)-1] + last
}
