package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/otpd/otpd/apierr"
)

// A request must do what it says or be refused: a JSON field otpd does not
// declare is accepted only when its value is empty (null, "", 0, false,
// [], {} or an object of such values), which is what the SDKs send for
// options nobody set. Any other value of an undeclared field refuses the
// request with E011003 naming the field, so a typo or a filter otpd does
// not know never widens what a request does (a search by "userIds" that
// otpd dropped would return every user). Declared fields otpd cannot honour
// are refused by the services, which gRPC callers reach too.

// maxNamedFields bounds the fields one refusal names; maxFieldName the
// length of each name (client-controlled text in an error message).
const (
	maxNamedFields = 5
	maxFieldName   = 64
)

// refusable is a request body the decoder can mark as refused: the error
// handler then answers with that error instead of grpc-gateway's generic
// InvalidArgument (which would lose the code and the field's name).
type refusable struct {
	io.ReadCloser
	refused *apierr.Error
}

// refusedBy returns the error the decoder recorded on the body, if any.
func refusedBy(body io.Reader) *apierr.Error {
	if rb, ok := body.(*refusable); ok {
		return rb.refused
	}
	return nil
}

// unsupportedFields returns the paths of the fields of the JSON object b
// that md does not declare and whose values are not empty, sorted. A body
// that is not a JSON object yields none (protojson reports it).
func unsupportedFields(b []byte, md protoreflect.MessageDescriptor) []string {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil
	}
	var out []string
	walkMessage(v, md, "", &out)
	slices.Sort(out)
	return out
}

// refusal is the E011003 naming fields.
func refusal(fields []string) *apierr.Error {
	names := make([]string, 0, min(len(fields), maxNamedFields))
	for _, f := range fields[:min(len(fields), maxNamedFields)] {
		if len(f) > maxFieldName {
			f = f[:maxFieldName] + "..."
		}
		names = append(names, strconv.Quote(f))
	}
	more := ""
	if len(fields) > maxNamedFields {
		more = " and " + strconv.Itoa(len(fields)-maxNamedFields) + " more"
	}
	return apierr.ErrValidation.With("otpd does not support the field %s%s: remove it or leave it empty",
		strings.Join(names, ", "), more)
}

func walkMessage(v any, md protoreflect.MessageDescriptor, path string, out *[]string) {
	obj, ok := v.(map[string]any)
	if !ok || isWellKnown(md) {
		return
	}
	for k, val := range obj {
		fd := md.Fields().ByJSONName(k)
		if fd == nil {
			fd = md.Fields().ByTextName(k)
		}
		if fd == nil {
			if !empty(val) {
				*out = append(*out, path+k)
			}
			continue
		}
		if val == nil || fd.Kind() != protoreflect.MessageKind {
			continue
		}
		switch {
		case fd.IsMap():
			if vd := fd.MapValue(); vd.Kind() == protoreflect.MessageKind {
				if m, ok := val.(map[string]any); ok {
					for mk, mv := range m {
						walkMessage(mv, vd.Message(), path+k+"."+mk+".", out)
					}
				}
			}
		case fd.IsList():
			if l, ok := val.([]any); ok {
				for i, e := range l {
					walkMessage(e, fd.Message(), path+k+"["+strconv.Itoa(i)+"].", out)
				}
			}
		default:
			walkMessage(val, fd.Message(), path+k+".", out)
		}
	}
}

// isWellKnown: Struct, Value, ListValue and the like take any JSON.
func isWellKnown(md protoreflect.MessageDescriptor) bool {
	return md.ParentFile() != nil && md.ParentFile().Package() == "google.protobuf"
}

// empty reports whether a JSON value is a default: null, "", 0, false, an
// empty array, or an object whose values are all empty.
func empty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case bool:
		return !v
	case json.Number:
		f, err := v.Float64()
		return err == nil && f == 0
	case []any:
		return len(v) == 0
	case map[string]any:
		for _, e := range v {
			if !empty(e) {
				return false
			}
		}
		return true
	}
	return false
}
