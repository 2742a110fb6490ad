package gateway

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	otpv1 "github.com/otpd/otpd/gen/otp/v1"
)

// TestUnsupportedFields: which undeclared fields refuse a body, and how
// they are named; declared fields by JSON or proto name, well-known types
// (any JSON inside) and empty values never do.
func TestUnsupportedFields(t *testing.T) {
	start := (&otpv1.StartRequest{}).ProtoReflect().Descriptor()
	search := (&otpv1.MgmtSearchRequest{}).ProtoReflect().Descriptor()
	for _, tc := range []struct {
		body string
		want string
	}{
		{`{"loginId":"a","login_id":"a","loginOptions":{"customClaims":{"anything":{"deep":1}}}}`, "[]"},
		{`{"x":null,"y":"","z":0,"w":false,"v":[],"u":{},"t":{"a":{"b":[]}},"s":-0.0}`, "[]"},
		{`{"loginOptions":{"templateOptions":{"k":"v"},"tenantIdd":"T1"},"b":[0],"a":true}`, "[a b loginOptions.tenantIdd]"},
		{`{"user":{"username":"u"}}`, "[user.username]"},
		{`{"sort":[{"field":"name"},{"field":"x","order":"asc"}]}`, "[sort[1].order]"},
		{`[1,2]`, "[]"},
		{`not json`, "[]"},
	} {
		md := start
		if strings.HasPrefix(tc.body, `{"sort"`) {
			md = search
		}
		if got := fmt.Sprint(unsupportedFields([]byte(tc.body), md)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.body, got, tc.want)
		}
	}
	e := refusal([]string{"a", "b", "c", "d", "e", "f", "g"})
	if e.Code != "E011003" || e.Message != `otpd does not support the field "a", "b", "c", "d", "e" and 2 more: remove it or leave it empty` {
		t.Errorf("refusal: %+v", e)
	}
}

// FuzzUnsupportedFields: any body, nothing panics, and a name is reported
// only for a body that protojson cannot read strictly.
func FuzzUnsupportedFields(f *testing.F) {
	for _, s := range []string{`{}`, `{"loginOptions":{"x":[{"y":1}]}}`, `{"user":{"name":"n","z":{"a":[[[]]]}}}`, `[`, `{"a":1e400}`} {
		f.Add([]byte(s))
	}
	md := (&otpv1.StartRequest{}).ProtoReflect().Descriptor()
	f.Fuzz(func(t *testing.T, b []byte) {
		if fields := unsupportedFields(b, md); len(fields) > 0 {
			if protojson.Unmarshal(b, &otpv1.StartRequest{}) == nil {
				t.Fatalf("%q: named %v, but it parses strictly", b, fields)
			}
		}
	})
}
