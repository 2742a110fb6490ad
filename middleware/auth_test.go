package middleware

import "testing"

func TestParseBearer(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in               string
		project, refresh string
		ok               bool
	}{
		{"Bearer P1", "P1", "", true},
		{"bearer P1:ey.jwt.x", "P1", "ey.jwt.x", true},
		{"BEARER  P1 : ey.jwt.x : extra ", "P1", "ey.jwt.x", true},
		{"Bearer :P1::ey.jwt.x", "P1", "ey.jwt.x", true}, // the SDKs drop empty parts
		{"Bearer ::", "", "", false},
		{"Bearer ", "", "", false},
		{"Basic P1", "", "", false},
		{"P1", "", "", false},
		{"", "", "", false},
	} {
		p, r, ok := parseBearer(tt.in)
		if p != tt.project || r != tt.refresh || ok != tt.ok {
			t.Errorf("parseBearer(%q) = %q, %q, %v; want %q, %q, %v", tt.in, p, r, ok, tt.project, tt.refresh, tt.ok)
		}
	}
}
