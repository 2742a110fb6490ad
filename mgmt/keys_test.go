package mgmt_test

import (
	"strings"
	"testing"

	"github.com/otpd/otpd/mgmt"
)

func TestKeyRing(t *testing.T) {
	t.Parallel()
	a, b := strings.Repeat("a", 32), strings.Repeat("b", 40)
	r, err := mgmt.NewKeyRing(map[string][]string{"P1": {"ci=" + a, b}, "P2": {"p2=" + strings.Repeat("c", 32)}})
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := r.Check("P1", a); !ok || id != "ci" {
		t.Fatalf("named key: %q %v", id, ok)
	}
	if id, ok := r.Check("P1", b); !ok || !strings.HasPrefix(id, "sha256:") || len(id) != len("sha256:")+12 || strings.Contains(id, "bbbb") {
		t.Fatalf("bare key id: %q %v", id, ok)
	}
	for _, tc := range []struct{ project, secret string }{
		{"P1", ""}, {"P1", a[:31]}, {"P1", a + "x"}, {"P2", a}, {"P3", a},
	} {
		if _, ok := r.Check(tc.project, tc.secret); ok {
			t.Errorf("accepted %q for %s", tc.secret, tc.project)
		}
	}
	// A bare base64 secret ends in '=' padding: it is a secret, not an
	// "id" that is most of the secret; and a refusal never repeats it.
	b64 := "q0rV6yX4m2N8cT1uJ7wE5aZ9kP3sH0fGdLbRiOvYx+I="
	if r, err := mgmt.NewKeyRing(map[string][]string{"P": {b64}}); err != nil {
		t.Fatalf("base64 key: %v", err)
	} else if id, ok := r.Check("P", b64); !ok || !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("base64 key: %q %v", id, ok)
	}
	if _, err := mgmt.NewKeyRing(map[string][]string{"P": {"q0rV6yX4m2N8cT1u="}}); err == nil || strings.Contains(err.Error(), "q0rV6yX4") {
		t.Errorf("short base64 key: %v", err)
	}
	for _, bad := range [][]string{{"short"}, {"x=" + a + ":y"}, {"=" + a}, {"k=" + a, "k=" + b}, {"a b=" + a}} {
		if _, err := mgmt.NewKeyRing(map[string][]string{"P": bad}); err == nil {
			t.Errorf("accepted %q", bad)
		} else if strings.Contains(err.Error(), a) {
			t.Errorf("the error repeats the key: %v", err)
		}
	}
}
