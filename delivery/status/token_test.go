package status

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestTokenBindsJobProjectAndProvider(t *testing.T) {
	old, _ := NewSigner([][]byte{bytes.Repeat([]byte{1}, 32)})
	rotated, _ := NewSigner([][]byte{bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{1}, 32)})
	other, _ := NewSigner([][]byte{bytes.Repeat([]byte{3}, 32)})
	now := time.Unix(1_800_000_000, 0)
	b := Binding{Job: "j1", Project: "P1", Provider: "tw", Channel: "sms", Expires: now.Add(time.Hour).Unix()}
	tok := old.Token(b)
	if got, err := rotated.Verify(tok, now); err != nil || got != b {
		t.Fatalf("a token of the previous key after rotation: %+v %v", got, err)
	}
	if _, err := other.Verify(tok, now); err != ErrToken {
		t.Fatalf("another deployment's key verified the token: %v", err)
	}
	if _, err := old.Verify(tok, now.Add(time.Hour)); err != ErrToken {
		t.Fatalf("an expired token verified: %v", err)
	}
	// Changing the bound project (or anything else) breaks the signature.
	payload, mac, _ := strings.Cut(tok, ".")
	forged := old.Token(Binding{Job: "j1", Project: "P2", Provider: "tw", Channel: "sms", Expires: b.Expires})
	fp, _, _ := strings.Cut(forged, ".")
	for _, bad := range []string{fp + "." + mac, payload + "." + mac[:len(mac)-1], payload, "", strings.Repeat("a", MaxTokenLen+1)} {
		if _, err := old.Verify(bad, now); err != ErrToken {
			t.Errorf("Verify(%.40q) = %v, want ErrToken", bad, err)
		}
	}
}
