package accesskey

import (
	"bytes"
	"crypto/rand"
	"net/netip"
	"strings"
	"testing"
)

func TestKeyFormat(t *testing.T) {
	id, clear, hash, err := New(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id, "K") || len(id) != IDLen || len(clear) != ClearLen || !strings.HasPrefix(clear, id+".") {
		t.Fatalf("id %q cleartext %q", id, clear)
	}
	if bytes.Contains(hash, []byte(clear)) || !Matches(clear, hash) {
		t.Fatal("hash")
	}
	if got, ok := ParseID(clear); !ok || got != id {
		t.Fatalf("ParseID: %q %v", got, ok)
	}
	last := byte('A')
	if clear[len(clear)-1] == 'A' {
		last = 'E'
	}
	other := clear[:len(clear)-1] + string(last)
	if Matches(other, hash) {
		t.Fatal("another secret matches")
	}
	for _, bad := range []string{"", id, clear + "x", clear[:len(clear)-1], strings.Replace(clear, ".", ":", 1),
		"k" + clear[1:], clear[:IDLen+1] + strings.Repeat("*", 43), "P2abc:" + clear} {
		if _, ok := ParseID(bad); ok {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
	if Matches(clear, nil) || Matches(clear, hash[:16]) {
		t.Fatal("a short hash matches")
	}
}

func TestPermitted(t *testing.T) {
	got, err := ParsePermitted([]string{"10.1.2.3", "10.0.0.7/8", "2001:db8::1", "2001:db8:1::/48", "::ffff:192.0.2.1", " 10.1.2.3 "}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "10.1.2.3,10.0.0.0/8,2001:db8::1,2001:db8:1::/48,192.0.2.1" {
		t.Fatalf("canonical: %v", got)
	}
	for _, bad := range [][]string{{"300.1.1.1"}, {"10.0.0.0/33"}, {"fe80::1%eth0"}, {"example.com"}, {""}, {"1.2.3.4", "5.6.7.8"}} {
		if _, err := ParsePermitted(bad, 1); err == nil && len(bad) == 1 {
			t.Errorf("%v accepted", bad)
		} else if len(bad) == 2 && err == nil {
			t.Errorf("more than max accepted")
		}
	}
	for addr, want := range map[string]bool{"10.9.9.9": true, "11.0.0.1": false, "2001:db8:1:2::5": true, "2001:db8:2::1": false,
		"::ffff:10.1.1.1": true, "192.0.2.1": true} {
		if Permitted(got, netip.MustParseAddr(addr)) != want {
			t.Errorf("%s: want %v", addr, want)
		}
	}
	if Permitted(got, netip.Addr{}) || !Permitted(nil, netip.Addr{}) {
		t.Error("unknown address")
	}
}
