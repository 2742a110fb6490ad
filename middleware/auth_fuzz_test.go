package middleware

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/metadata"
)

// FuzzParseBearer: the Authorization value is the caller's. A parsed
// project id is never empty, never holds ':' (so "<pid>:<jwt>" cannot
// smuggle a token into the id, and ids in keys stay unambiguous) nor
// surrounding blanks, and a well-formed "Bearer <pid>:<jwt>" parses back to
// its parts whatever the case of "Bearer".
func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{
		"Bearer P2abc", "bearer P2abc:eyJhbGciOi.x.y", "BEARER  P2abc : jwt ", "Bearer :jwt", "Bearer ::",
		"Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer P2abc:jwt:extra:parts", "Bearer\tP2abc",
		"Bearer P2\x00abc", "Bearer \xff\xfe:\xff", "bearer\u00a0P2abc", "Bearer P2abc:", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		pid, refresh, ok := parseBearer(v)
		if !ok {
			if pid != "" || refresh != "" {
				t.Fatalf("refused %q but returned %q, %q", v, pid, refresh)
			}
			return
		}
		if !strings.EqualFold(v[:len("bearer ")], "bearer ") {
			t.Fatalf("accepted %q without the Bearer scheme", v)
		}
		if pid == "" || strings.Contains(pid, ":") || strings.TrimSpace(pid) != pid {
			t.Fatalf("%q: project id %q", v, pid)
		}
		if strings.Contains(refresh, ":") || strings.TrimSpace(refresh) != refresh {
			t.Fatalf("%q: refresh token %q", v, refresh)
		}
		if !strings.Contains(v, pid) || !strings.Contains(v, refresh) {
			t.Fatalf("%q: parts %q, %q are not in the header", v, pid, refresh)
		}
		// Rebuilt from its parts, the header parses the same.
		rebuilt := "Bearer " + pid
		if refresh != "" {
			rebuilt += ":" + refresh
		}
		p2, r2, ok2 := parseBearer(rebuilt)
		if !ok2 || p2 != pid || r2 != refresh {
			t.Fatalf("%q -> (%q, %q) but %q -> (%q, %q, %v)", v, pid, refresh, rebuilt, p2, r2, ok2)
		}
	})
}

// FuzzRefreshCookie: the Cookie header is the browser's, holding
// whatever the page's scripts set (flag cookies without '=', UTF-8 or
// JSON values, odd names). Reading the DSR cookie never panics, returns a
// value only when a cookie named DSR is present, returns only bytes a
// cookie value may hold, and finds a DSR cookie whatever other cookies
// share the header.
func FuzzRefreshCookie(f *testing.F) {
	for _, s := range []string{
		"DSR=eyJhbGciOi.x.y", "a=1; DSR=tok; b=2", "DSR=", "dsr=lower", "DSR", "DSR=a; DSR=b", `DSR="quoted"`,
		"DSR=a=b=c", ";;;DSR=x;;", "DSR=\xff", "DS R=x", "=DSR", "DSR=tok\x00", "",
		"flag", "consent={\"ads\":false}", "caf\u00e9=cr\u00e8me", "a b=c", "x=\"unterminated",
	} {
		f.Add(s, "eyJhbGciOiJFUzI1NiJ9.e30.sig")
	}
	f.Fuzz(func(t *testing.T, header, token string) {
		ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("grpcgateway-cookie", header))
		got := refreshCookie(ctx)
		if got != "" {
			if !strings.Contains(header, "DSR") {
				t.Fatalf("%q: found DSR %q without a DSR cookie", header, got)
			}
			for i := range len(got) {
				if b := got[i]; b < 0x20 || b >= 0x7f || b == '"' || b == ';' || b == '\\' {
					t.Fatalf("%q: DSR value %q holds byte %#x", header, got, b)
				}
			}
		}
		if token == "" || strings.ContainsFunc(token, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.", r))
		}) {
			return
		}
		// A JWT-shaped token in a DSR cookie is found ahead of, or after,
		// whatever else the header holds.
		for _, line := range []string{"DSR=" + token + "; " + header, header + "; DSR=" + token} {
			if line != "DSR="+token+"; "+header && strings.Contains(header, "DSR") {
				continue // an earlier DSR cookie may win
			}
			if strings.Count(line, ";") >= 3000 {
				continue // net/http ignores headers with more cookies (GODEBUG httpcookiemaxnum)
			}
			ctx = metadata.NewIncomingContext(context.Background(), metadata.Pairs("grpcgateway-cookie", line))
			if got := refreshCookie(ctx); got != token {
				t.Fatalf("Cookie %q: got DSR %q, want %q", line, got, token)
			}
		}
	})
}
