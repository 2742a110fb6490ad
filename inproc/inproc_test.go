package inproc_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	otpv1 "github.com/otpd/otpd/gen/otp/v1"
	"github.com/otpd/otpd/inproc"
)

type keys struct{}

func (keys) GetKeys(ctx context.Context, req *otpv1.GetKeysRequest) (*otpv1.GetKeysResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	_ = grpc.SetHeader(ctx, metadata.Pairs("Set-Cookie", "DS=x"))
	req.ProjectId = "mutated" // must not reach the caller's message
	return &otpv1.GetKeysResponse{Keys: []*otpv1.Jwk{{Kid: md.Get("authorization")[0]}}}, nil
}

func TestInvokeRunsInterceptorAndCarriesMetadata(t *testing.T) {
	t.Parallel()
	var intercepted string
	ch := inproc.New(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		intercepted = info.FullMethod
		if !inproc.IsInProcess(ctx) {
			t.Error("IsInProcess is false inside an in-process call")
		}
		return h(ctx, req)
	})
	otpv1.RegisterSessionServer(ch, sessionOnlyKeys{})
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer P1")
	var header metadata.MD
	req := &otpv1.GetKeysRequest{ProjectId: "P1"}
	resp, err := otpv1.NewSessionClient(ch).GetKeys(ctx, req, grpc.Header(&header))
	if err != nil {
		t.Fatal(err)
	}
	if intercepted != otpv1.Session_GetKeys_FullMethodName {
		t.Errorf("interceptor saw %q", intercepted)
	}
	if resp.GetKeys()[0].GetKid() != "Bearer P1" {
		t.Errorf("outgoing metadata did not arrive as incoming: %v", resp)
	}
	if got := header.Get("set-cookie"); len(got) != 1 || got[0] != "DS=x" {
		t.Errorf("header set by the handler: %v", header)
	}
	if req.GetProjectId() != "P1" {
		t.Error("the handler's mutation reached the caller's request")
	}
	if _, err := otpv1.NewOtpEmailClient(ch).SignUp(ctx, &otpv1.StartRequest{}); err == nil {
		t.Error("an unregistered method must fail")
	}
}

// sessionOnlyKeys serves GetKeys; the other methods are unused here.
type sessionOnlyKeys struct {
	otpv1.UnimplementedSessionServer
	keys
}

func (s sessionOnlyKeys) GetKeys(ctx context.Context, r *otpv1.GetKeysRequest) (*otpv1.GetKeysResponse, error) {
	return s.keys.GetKeys(ctx, r)
}
