package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/otpd/otpd/gateway"
)

// recordConn stands in for the in-process channel: it keeps the request
// the gateway decoded and answers with an empty response.
type recordConn struct{ got proto.Message }

func (c *recordConn) Invoke(_ context.Context, _ string, args, _ any, _ ...grpc.CallOption) error {
	c.got = proto.Clone(args.(proto.Message))
	return nil
}

func (c *recordConn) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	panic("no streams")
}

// fuzzRoutes are the POST routes whose body the gateway decodes, one per
// request message type.
var fuzzRoutes = []string{
	"/v1/auth/otp/signup/email",     // StartRequest
	"/v1/auth/otp/verify/sms",       // VerifyRequest
	"/v1/auth/otp/update/email",     // UpdateEmailRequest
	"/v1/auth/otp/update/phone/sms", // UpdatePhoneRequest
	"/v1/auth/refresh",              // RefreshRequest
	"/v1/auth/logout",               // LogoutRequest
}

// FuzzRESTBody sends arbitrary bodies through the real REST handler. A
// body is either decoded into a request that reaches the services, or
// refused with 400 in Descope's error shape: never a panic, never a 5xx,
// never a request holding invalid UTF-8 (Redis scripts, JSON encoders and
// logs downstream assume valid strings).
func FuzzRESTBody(f *testing.F) {
	for _, s := range []string{
		`{"loginId":"ada@example.com","user":{"name":"Ada"},"loginOptions":{"stepup":false,"mfa":false,"customClaims":null,"templateOptions":{"app":"Acme"}},"providerId":""}`,
		`{"loginId":"+14155550123","code":"123456"}`,
		`{"loginId":"ada@example.com","email":"new@example.com","addToLoginIDs":true,"onMergeUseExisting":true}`,
		`{"loginId":"ada","phone":"+33612345678","providerId":"twilio"}`,
		`{"loginOptions":{"customClaims":{"a":{"b":[1,2,{"c":null}]},"n":1e308}}}`,
		`{"loginOptions":{"templateOptions":{"":"\u0000","k":"\ud800"}}}`,
		`{"loginId":"\xff"}`,
		`{"loginId":1}`,
		`{"unknown":{"deep":[[[[]]]]}}`,
		`null`, `[]`, `"x"`, ``, ` `, `{`, `{"loginId":"a","loginId":"b"}`,
	} {
		for i := range fuzzRoutes {
			f.Add(uint8(i), []byte(s))
		}
	}
	conn := &recordConn{}
	h, err := gateway.New(context.Background(), gateway.Options{Conn: conn})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		conn.got = nil
		path := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		if rec.Code == http.StatusOK {
			if conn.got == nil {
				if len(bytes.TrimSpace(body)) == 0 {
					return // an empty body is an empty request, as the Go SDK sends on refresh
				}
				t.Fatalf("200 without a request reaching the services for %q", body)
			}
			checkUTF8(t, conn.got.ProtoReflect())
			// What the services saw survives a JSON round trip unchanged.
			b, err := protojson.Marshal(conn.got)
			if err != nil {
				t.Fatalf("re-marshal %q: %v", body, err)
			}
			again := conn.got.ProtoReflect().New().Interface()
			if err := protojson.Unmarshal(b, again); err != nil || !proto.Equal(again, conn.got) {
				t.Fatalf("round trip of %q changed the request: %v", body, err)
			}
			return
		}
		if conn.got != nil {
			t.Fatalf("refused %q with %d after it reached the services", body, rec.Code)
		}
		if rec.Code != http.StatusBadRequest {
			t.Fatalf("body %q: status %d, want 200 or 400: %s", body, rec.Code, rec.Body)
		}
		var e gateway.Body
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.ErrorCode == "" || e.ErrorDescription == "" {
			t.Fatalf("body %q: refusal not in Descope's shape: %s (%v)", body, rec.Body, err)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("refusal Content-Type %q", ct)
		}
	})
}

// checkUTF8 walks m and fails on any string (field, list item, map key or
// value) that is not valid UTF-8.
func checkUTF8(t *testing.T, m protoreflect.Message) {
	t.Helper()
	var str func(v protoreflect.Value, fd protoreflect.FieldDescriptor)
	str = func(v protoreflect.Value, fd protoreflect.FieldDescriptor) {
		switch fd.Kind() {
		case protoreflect.StringKind:
			if !utf8.ValidString(v.String()) {
				t.Fatalf("field %s holds invalid UTF-8 %q", fd.FullName(), v.String())
			}
		case protoreflect.MessageKind, protoreflect.GroupKind:
			checkUTF8(t, v.Message())
		}
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				str(l.Get(i), fd)
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				if s, ok := k.Interface().(string); ok && !utf8.ValidString(s) {
					t.Fatalf("map %s has an invalid UTF-8 key %q", fd.FullName(), s)
				}
				str(mv, fd.MapValue())
				return true
			})
		default:
			str(v, fd)
		}
		return true
	})
}
