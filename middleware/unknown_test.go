package middleware

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	otpv1 "github.com/otpd/otpd/gen/otp/v1"
)

// TestUnknownFieldFoundAtEveryDepth: an undeclared field is named wherever
// it is, in the message, a nested message, an element of a repeated
// message field or a value of a map (google.protobuf.Struct), and a
// message without one passes.
func TestUnknownFieldFoundAtEveryDepth(t *testing.T) {
	unknown := protowire.AppendString(protowire.AppendTag(nil, 77, protowire.BytesType), "x")
	with := func(m proto.Message) proto.Message { m.ProtoReflect().SetUnknown(unknown); return m }
	claims, err := structpb.NewStruct(map[string]any{"a": map[string]any{"b": []any{1, "two"}}})
	if err != nil {
		t.Fatal(err)
	}
	inner := &structpb.Struct{Fields: map[string]*structpb.Value{"k": structpb.NewStringValue("v")}}
	inner.ProtoReflect().SetUnknown(unknown)
	cases := []struct {
		name string
		msg  proto.Message
		want string // "" when nothing is undeclared
	}{
		{"clean start", &otpv1.StartRequest{LoginId: "a@example.com", LoginOptions: &otpv1.LoginOptions{CustomClaims: claims},
			User: &otpv1.SignUpUser{Name: "A"}}, ""},
		{"clean search", &otpv1.MgmtSearchRequest{Sort: []*otpv1.MgmtSearchSort{{Field: "name"}, {Field: "email"}}}, ""},
		{"top", with(&otpv1.StartRequest{LoginId: "a@example.com"}), "field number 77 of otp.v1.StartRequest"},
		{"nested", &otpv1.StartRequest{LoginOptions: with(&otpv1.LoginOptions{}).(*otpv1.LoginOptions)},
			"field number 77 of otp.v1.LoginOptions"},
		{"list element", &otpv1.MgmtSearchRequest{Sort: []*otpv1.MgmtSearchSort{{Field: "name"}, with(&otpv1.MgmtSearchSort{}).(*otpv1.MgmtSearchSort)}},
			"field number 77 of otp.v1.MgmtSearchSort"},
		{"map value", &otpv1.StartRequest{LoginOptions: &otpv1.LoginOptions{CustomClaims: &structpb.Struct{Fields: map[string]*structpb.Value{
			"deep": structpb.NewStructValue(inner)}}}}, "field number 77 of google.protobuf.Struct"},
		{"not otpd's", with(&structpb.Struct{}), ""},
	}
	for _, c := range cases {
		if got := unknownField(c.msg); got != c.want {
			t.Errorf("%s: unknownField = %q, want %q", c.name, got, c.want)
		}
	}
	// An unknown tag that does not parse still names the message.
	bad := &otpv1.StartRequest{}
	bad.ProtoReflect().SetUnknown([]byte{0xff})
	if got := unknownField(bad); !strings.HasSuffix(got, "otp.v1.StartRequest") {
		t.Errorf("unparsable unknown bytes: %q", got)
	}
}

// BenchmarkUnknownField is the check every otpd request goes through.
func BenchmarkUnknownField(b *testing.B) {
	req := &otpv1.VerifyRequest{LoginId: "a@example.com", Code: "000000"}
	b.ReportAllocs()
	for b.Loop() {
		if unknownField(req) != "" {
			b.Fatal("unknown field")
		}
	}
}
