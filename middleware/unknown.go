package middleware

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/otpd/otpd/apierr"
)

// unknownField names the first field of an otpd request message (package
// otp.v1, nested messages included) that the server's .proto does not
// declare, or "" when there is none. A gRPC client built from a newer
// .proto may send such a field; like the REST gateway, which refuses an
// undeclared JSON field with a value (gateway/fields.go), the server
// refuses it rather than silently doing less than asked. proto3 leaves
// default values off the wire, so a field present there carries a value.
func unknownField(v any) string {
	m, ok := v.(proto.Message)
	if !ok {
		return ""
	}
	r := m.ProtoReflect()
	if !strings.HasPrefix(string(r.Descriptor().FullName()), "otp.v1.") {
		return ""
	}
	return unknownIn(r)
}

func unknownIn(r protoreflect.Message) string {
	if u := r.GetUnknown(); len(u) > 0 {
		if num, _, n := protowire.ConsumeTag(u); n > 0 {
			return fmt.Sprintf("field number %d of %s", num, r.Descriptor().FullName())
		}
		return string(r.Descriptor().FullName())
	}
	// The message-typed fields, by descriptor rather than with r.Range,
	// whose callback (and the result it writes) cost two allocations on
	// every call.
	fds := r.Descriptor().Fields()
	for i := range fds.Len() {
		fd := fds.Get(i)
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind || !r.Has(fd) {
			continue
		}
		if found := unknownInValue(fd, r.Get(fd)); found != "" {
			return found
		}
	}
	return ""
}

// unknownInValue is unknownIn for the value v of the message-typed field fd.
func unknownInValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) string {
	var found string
	switch {
	case fd.IsList():
		l := v.List()
		for i := 0; i < l.Len() && found == ""; i++ {
			found = unknownIn(l.Get(i).Message())
		}
	case fd.IsMap():
		if fd.MapValue().Kind() == protoreflect.MessageKind {
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				found = unknownIn(mv.Message())
				return found == ""
			})
		}
	default:
		found = unknownIn(v.Message())
	}
	return found
}

// unknownRefusal is the error for a message with an undeclared field.
func unknownRefusal(field string) *apierr.Error {
	return apierr.ErrValidation.With("otpd does not support %s: remove it", field)
}
