package store

import (
	"testing"
	"time"
)

// TestStartReply reads start.lua's one-string replies, an address holding
// the separator included, and refuses every other shape.
func TestStartReply(t *testing.T) {
	good := map[string]StartResult{
		"ok\n\nalice@x.io":            {Status: StartOK, Address: "alice@x.io"},
		"ok\nsends_per_ip\n+1415555":  {Status: StartOK, Address: "+1415555", WouldLimit: "sends_per_ip"},
		"ok\n\na\nb":                  {Status: StartOK, Address: "a\nb"},
		"limited\n1500\nsends_per_ip": {Status: StartLimited, Limit: "sends_per_ip", RetryAfter: 1500 * time.Millisecond},
		"exists":                      {Status: StartExists},
		"notfound":                    {Status: StartNotFound},
		"noaddress":                   {Status: StartNoAddress},
		"notowner":                    {Status: StartNotOwner},
		"disabled":                    {Status: StartDisabled},
	}
	for in, want := range good {
		if got, ok := startReply(in); !ok || got != want {
			t.Errorf("%q: %+v %v, want %+v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "ok", "ok\nx", "limited\nsoon\nb", "limited\n5", "exists\nx", "weird", "OK\n\na"} {
		if got, ok := startReply(in); ok {
			t.Errorf("%q read as %+v", in, got)
		}
	}
}
