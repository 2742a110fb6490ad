package server_test

import (
	"context"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	otpv1 "github.com/otpd/otpd/gen/otp/v1"
)

func reasonOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok {
			return i.GetReason()
		}
	}
	return ""
}

// TestMgmtOverGRPC: the Management service with the key in the
// authorization metadata: create, load, search, status, test OTP, delete.
func TestMgmtOverGRPC(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	m := otpv1.NewManagementClient(e.conn)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+pid+":"+mgmtKeyRotated)

	if _, err := m.LoadUser(e.authCtx(), &otpv1.MgmtUserRef{LoginId: "x"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("without a key: %v", err)
	}
	created, err := m.CreateTestUser(ctx, &otpv1.MgmtUserRequest{LoginId: "grpc@example.com", Email: "grpc@example.com", DisplayName: "G"})
	if err != nil || !created.GetUser().GetTest() || created.GetUser().GetName() != "G" {
		t.Fatalf("create: %v %v", created, err)
	}
	got, err := m.LoadUser(ctx, &otpv1.MgmtUserRef{UserId: created.GetUser().GetUserId()})
	if err != nil || got.GetUser().GetEmail() != "grpc@example.com" {
		t.Fatalf("load: %v %v", got, err)
	}
	found, err := m.SearchUsers(ctx, &otpv1.MgmtSearchRequest{TestUsersOnly: true, Emails: []string{"GRPC@example.com"}})
	if err != nil || found.GetTotal() != 1 || len(found.GetUsers()) != 1 {
		t.Fatalf("search: %v %v", found, err)
	}
	otp, err := m.GenerateOtpForTestUser(ctx, &otpv1.MgmtGenerateOtpRequest{DeliveryMethod: "email", LoginId: "grpc@example.com"})
	if err != nil || len(otp.GetCode()) != 6 {
		t.Fatalf("generate: %v %v", otp, err)
	}
	if _, err := otpv1.NewOtpEmailClient(e.conn).Verify(e.authCtx(), &otpv1.VerifyRequest{LoginId: "grpc@example.com", Code: otp.GetCode()}); err != nil {
		t.Fatalf("verify of a generated code: %v", err)
	}
	hist, err := m.UsersHistory(ctx, &otpv1.MgmtHistoryRequest{UserIds: []string{created.GetUser().GetUserId()}})
	if err != nil || len(hist.GetHistory()) != 1 || hist.GetHistory()[0].GetUserAgent() == "" {
		t.Fatalf("history: %v %v", hist, err)
	}
	if _, err := m.UpdateStatus(ctx, &otpv1.MgmtStatusRequest{LoginId: "grpc@example.com", Status: "disabled"}); err != nil {
		t.Fatal(err)
	}
	_, err = otpv1.NewOtpEmailClient(e.conn).SignIn(e.authCtx(), &otpv1.StartRequest{LoginId: "grpc@example.com"})
	if status.Code(err) != codes.PermissionDenied || reasonOf(err) != "E062109" {
		t.Fatalf("sign-in of a disabled user over gRPC: %v", err)
	}
	if _, err := m.DeleteUser(ctx, &otpv1.MgmtUserRef{LoginId: "grpc@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.LoadUser(ctx, &otpv1.MgmtUserRef{LoginId: "grpc@example.com"}); status.Code(err) != codes.NotFound || reasonOf(err) != "E112102" {
		t.Fatalf("load after delete: %v", err)
	}
}
