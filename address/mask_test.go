package address

import "testing"

func TestMaskEmail(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"test@email.com", "t***@email.com"},
		{"t@d.com", "t***@d.com"},
		{"ab@sub.example.co.uk", "a***@sub.example.co.uk"},
		{"@d.com", "***@d.com"},
		{"no-at-sign", "***"},
		{"", "***"},
		{"a@b@c.com", "a***@c.com"},
		{"élodie@x.fr", "é***@x.fr"},
	}
	for _, tt := range tests {
		if got := MaskEmail(tt.in); got != tt.want {
			t.Errorf("MaskEmail(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMaskPhone(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"+972541234544", "***********44"},
		{"+14155550123", "**********23"},
		{"123", "*23"},
		{"12", "**"},
		{"1", "*"},
		{"", ""},
		{"ab€12", "***12"},
		{"12€", "*2€"},
	}
	for _, tt := range tests {
		if got := MaskPhone(tt.in); got != tt.want {
			t.Errorf("MaskPhone(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
