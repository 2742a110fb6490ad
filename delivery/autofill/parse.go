package autofill

import (
	"net/url"
	"strings"
)

// Bound is an origin-bound one-time code read from a message.
type Bound struct {
	Host, IframeHost, Code string
}

// Parse reads the origin-bound one-time code of msg as the WICG format's
// parsing algorithm does: the last line (after the last LF) must be
// "@" host, one U+0020, "#" code, and optionally one U+0020, "@" iframe
// host, with no other characters; host and code are runs of non-white-space
// characters, the code non-empty, and each host a valid URL host. ok is
// false when msg carries no such line. It is how the tests check what
// Append writes, and what a custom template's SMS may be checked with.
func Parse(msg string) (b Bound, ok bool) {
	line := msg[strings.LastIndexByte(msg, '\n')+1:]
	rest, ok := strings.CutPrefix(line, "@")
	if !ok {
		return Bound{}, false
	}
	host, rest := collect(rest)
	rest, ok = strings.CutPrefix(rest, " #")
	if !ok {
		return Bound{}, false
	}
	code, rest := collect(rest)
	if code == "" {
		return Bound{}, false
	}
	b = Bound{Host: host, Code: code}
	if rest != "" {
		if rest, ok = strings.CutPrefix(rest, " @"); !ok {
			return Bound{}, false
		}
		if b.IframeHost, rest = collect(rest); rest != "" {
			return Bound{}, false
		}
		if !urlHost(b.IframeHost) {
			return Bound{}, false
		}
	}
	if !urlHost(host) {
		return Bound{}, false
	}
	return b, true
}

// collect splits s at its first ASCII white space (the Infra standard's:
// tab, LF, FF, CR, space).
func collect(s string) (run, rest string) {
	i := strings.IndexAny(s, "\t\n\f\r ")
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}

// urlHost reports whether h parses as the host of an https URL.
func urlHost(h string) bool {
	if h == "" {
		return false
	}
	u, err := url.Parse("https://" + h)
	return err == nil && u.Host == h && u.Path == "" && u.RawQuery == "" && u.Fragment == "" && u.User == nil
}
