package keyslot

import "testing"

// TestSlot checks the reference value of CRC-16/XMODEM and the hash-tag
// rules of the Redis Cluster specification (store's TestSlotMathsMatchRedis
// checks against a real server).
func TestSlot(t *testing.T) {
	for key, want := range map[string]int{
		"123456789":           0x31C3 % Slots,
		"{123456789}.x":       0x31C3 % Slots,
		"foo{123456789}{zap}": 0x31C3 % Slots,
	} {
		if got := Slot(key); got != want {
			t.Errorf("Slot(%q) = %d, want %d", key, got, want)
		}
	}
	if Slot("x{}{123456789}") == 0x31C3%Slots {
		t.Error("an empty hash tag must hash the whole key")
	}
}

// TestEverySlotHasATag: every slot has a tag of the fixed shape that lands
// on it.
func TestEverySlotHasATag(t *testing.T) {
	for s := range Slots {
		tag := Tag(s)
		if !IsTag(tag) {
			t.Fatalf("Tag(%d) = %q: not a tag", s, tag)
		}
		if got := Slot("x{" + tag + "}y"); got != s {
			t.Fatalf("Tag(%d) = %q lands on slot %d", s, tag, got)
		}
	}
	for _, s := range []string{"", "ABC", "ABCDE", "abcd", "AB1D", "AB{D"} {
		if IsTag(s) {
			t.Errorf("IsTag(%q) = true", s)
		}
	}
}
