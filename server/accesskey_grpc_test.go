package server_test

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	otpv1 "github.com/otpd/otpd/gen/otp/v1"
)

// Access keys over gRPC and on a real Redis Cluster.

// TestAccessKeysOverGRPC: the access-key methods of Management need the
// management key and do over gRPC what their REST paths do; the exchange
// over gRPC takes the key from the authorization metadata.
func TestAccessKeysOverGRPC(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	akModel(e)
	m := otpv1.NewManagementClient(e.conn)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+pid+":"+mgmtKey)
	list := func(vs ...any) *structpb.ListValue {
		l, err := structpb.NewList(vs)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	req := &otpv1.MgmtAccessKeyRequest{Name: "svc", RoleNames: list("viewer"),
		KeyTenants: list(map[string]any{"tenantId": "acme", "roleNames": []any{"admin"}})}
	if _, err := m.CreateAccessKey(e.authCtx(), req); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("without a management key: %v", err)
	}
	created, err := m.CreateAccessKey(ctx, req)
	if err != nil || created.GetCleartext() == "" || fmt.Sprint(created.GetKey().GetRoleNames()) != "[viewer]" ||
		created.GetKey().GetKeyTenants()[0].GetTenantName() != "Acme" {
		t.Fatalf("create: %v %v", created, err)
	}
	id := created.GetKey().GetId()
	s := otpv1.NewSessionClient(e.conn)
	kctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+pid+":"+created.GetCleartext())
	x, err := s.ExchangeAccessKey(kctx, &otpv1.ExchangeAccessKeyRequest{LoginOptions: &otpv1.AccessKeyLoginOptions{SelectedTenant: "acme"}})
	if err != nil || x.GetKeyId() != id {
		t.Fatalf("exchange: %v %v", x, err)
	}
	if c := jwtClaims(t, x.GetSessionJwt()); c["sub"] != id || c["dct"] != "acme" || fmt.Sprint(c["roles"]) != "[viewer]" {
		t.Fatalf("claims: %v", c)
	}
	if _, err := s.ExchangeAccessKey(e.authCtx(), &otpv1.ExchangeAccessKeyRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("exchange without a key: %v", err)
	}
	if k, err := m.LoadAccessKey(ctx, &otpv1.MgmtAccessKeyRef{Id: id}); err != nil || k.GetKey().GetName() != "svc" {
		t.Fatalf("load: %v %v", k, err)
	}
	if ks, err := m.SearchAccessKeys(ctx, &otpv1.MgmtAccessKeySearchRequest{TenantIds: []string{"acme"}}); err != nil || len(ks.GetKeys()) != 1 {
		t.Fatalf("search: %v %v", ks, err)
	}
	if _, err := m.DeactivateAccessKey(ctx, &otpv1.MgmtAccessKeyRef{Id: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ExchangeAccessKey(kctx, &otpv1.ExchangeAccessKeyRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("exchange of a deactivated key: %v", err)
	}
	if _, err := m.ActivateAccessKey(ctx, &otpv1.MgmtAccessKeyRef{Id: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.UpdateAccessKey(ctx, &otpv1.MgmtAccessKeyRequest{Id: id, Name: "svc", PermittedIps: list("192.0.2.0/24")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ExchangeAccessKey(kctx, &otpv1.ExchangeAccessKeyRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("exchange from outside permittedIps: %v", err)
	}
	_, err = m.CreateAccessKey(ctx, &otpv1.MgmtAccessKeyRequest{Name: "x", PermittedIps: list("not an ip")})
	if st, _ := status.FromError(err); st.Code() != codes.InvalidArgument || len(st.Details()) == 0 {
		t.Fatalf("a bad IP over gRPC: %v", err)
	}
	if _, err := m.DeleteAccessKey(ctx, &otpv1.MgmtAccessKeyRef{Id: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.LoadAccessKey(ctx, &otpv1.MgmtAccessKeyRef{Id: id}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("load after delete: %v", err)
	}
}

// TestClusterAccessKey: on a real Redis Cluster, a key created through one
// replica is exchanged on the other, with its claims.
func TestClusterAccessKey(t *testing.T) {
	t.Parallel()
	p := newClusterPair(t, defaultMgmtKeys())
	p.a.mustMgmt("POST", "/v1/mgmt/role/create", `{"name":"admin"}`)
	id, clear := createKey(p.a, `{"name":"svc","roleNames":["admin"]}`)
	s, x := p.b.exchange(clear, `{}`)
	if s != 200 || x["keyId"] != id || fmt.Sprint(jwtClaims(t, x["sessionJwt"])["roles"]) != "[admin]" {
		t.Fatalf("exchange on B: %d %v", s, x)
	}
	p.b.mustMgmt("POST", "/v1/mgmt/accesskey/deactivate", `{"id":"`+id+`"}`)
	if s, _ := p.a.exchange(clear, `{}`); s != 401 {
		t.Fatalf("exchange on A after a deactivate on B: %d", s)
	}
}
