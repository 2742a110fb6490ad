package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

// rawCodec sends a request's bytes as they are, so a test can send what a
// protobuf library never would.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), b...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// stringField is field n holding s, without any UTF-8 check.
func stringField(n protowire.Number, s string) []byte {
	b := protowire.AppendTag(nil, n, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// TestGRPCUndecodableRequests: a request whose message cannot be read gets
// InvalidArgument with ErrorInfo E011001, like REST's unparseable body, and
// is logged like every other call (grpc-go alone answers Internal or
// ResourceExhausted without ErrorInfo, before any interceptor runs).
func TestGRPCUndecodableRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	for _, c := range []struct {
		name string
		msg  []byte
	}{
		{"not protobuf", []byte{0xff, 0xff, 0xff, 0xff}},
		{"invalid UTF-8 in a string", stringField(1, "a\xff\xfeb@example.com")},
		{"truncated field", stringField(1, "someone@example.com")[:6]},
		{"larger than 64 KiB", stringField(1, strings.Repeat("a", 70<<10))},
	} {
		var out []byte
		err := e.conn.Invoke(e.authCtx(), "/otp.v1.OtpEmail/SignUpOrIn", &c.msg, &out, grpc.ForceCodec(rawCodec{}))
		st := status.Convert(err)
		var info *errdetails.ErrorInfo
		for _, d := range st.Details() {
			if i, ok := d.(*errdetails.ErrorInfo); ok {
				info = i
			}
		}
		if st.Code() != codes.InvalidArgument || info.GetReason() != "E011001" || info.GetDomain() != "otpd" {
			t.Errorf("%s: %v %q, ErrorInfo %v; want InvalidArgument with E011001", c.name, st.Code(), st.Message(), info)
		}
	}
	if n := strings.Count(e.logs.String(), `"errorCode":"E011001"`); n != 4 {
		t.Errorf("%d log lines with E011001, want 4:\n%s", n, e.logs.String())
	}
	// A valid message on the same connection still works.
	ok := stringField(1, "fine@example.com")
	var out []byte
	if err := e.conn.Invoke(e.authCtx(), "/otp.v1.OtpEmail/SignUpOrIn", &ok, &out, grpc.ForceCodec(rawCodec{})); err != nil {
		t.Fatal(err)
	}
	// Beyond twice the limit grpc-go refuses alone, before reading it.
	huge := stringField(1, strings.Repeat("a", 130<<10))
	if err := e.conn.Invoke(e.authCtx(), "/otp.v1.OtpEmail/SignUpOrIn", &huge, &out, grpc.ForceCodec(rawCodec{})); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("130 KiB message: %v, want ResourceExhausted", err)
	}
}

// TestRESTLargeHeaders: headers over 32 KiB get 431 in Descope's error
// shape (net/http's own limit answers in plain text, which the SDKs cannot
// read); headers under it are served.
func TestRESTLargeHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	send := func(size int) (int, string, string) {
		req, _ := http.NewRequest("POST", e.base+"/v1/auth/otp/signup-in/email", strings.NewReader(`{"loginId":"big@example.com"}`))
		req.Header.Set("Authorization", "Bearer "+e.project)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Padding", strings.Repeat("p", size))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	if st, _, b := send(20 << 10); st != 200 {
		t.Fatalf("20 KiB header: %d %s", st, b)
	}
	st, ct, b := send(70 << 10)
	var body map[string]any
	if st != 431 || ct != "application/json" || json.Unmarshal([]byte(b), &body) != nil ||
		body["errorCode"] != "E011431" || body["errorDescription"] == "" || body["errorMessage"] == "" {
		t.Fatalf("70 KiB header: %d %s %q, want 431 with Descope's JSON error", st, ct, b)
	}
	if !strings.Contains(e.logs.String(), `"errorCode":"E011431"`) {
		t.Errorf("the refusal was not logged")
	}
	// Beyond the server's own limit net/http refuses before otpd sees it.
	if st, _, _ := send(300 << 10); st != 431 {
		t.Fatalf("300 KiB header: %d, want 431", st)
	}
}
