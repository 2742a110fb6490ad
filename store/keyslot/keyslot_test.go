package keyslot

import "testing"

// TestCRC16 checks the reference value of CRC-16/XMODEM and the example of
// the Redis Cluster specification.
func TestCRC16(t *testing.T) {
	if got := CRC16("123456789"); got != 0x31C3 {
		t.Fatalf("CRC16(123456789) = %#x, want 0x31c3", got)
	}
	for key, want := range map[string]int{
		"123456789":            0x31C3 % Slots,
		"{user1000}.following": Slot("user1000"),
		"foo{}{bar}":           Slot("foo{}{bar}"), // empty tag: whole key
		"foo{{bar}}zap":        Slot("{bar"),       // tag is "{bar"
		"foo{bar}{zap}":        Slot("bar"),        // first tag only
	} {
		if got := Slot(key); got != want {
			t.Errorf("Slot(%q) = %d, want %d", key, got, want)
		}
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
