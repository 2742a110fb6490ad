package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	otpv1 "github.com/otpd/otpd/gen/otp/v1"
)

// The sign-in verify scenarios (issue 21's performance requirement): a
// verify of an existing user's sign-in code, for users who hold nothing
// ("verify sign-in") and for users with 5 project roles of 3 permissions
// each and 3 tenants with 2 roles each ("verify-authz"). Both seed their
// users the same way (the management API's CreateUser, then a SignUpOrIn
// per user), so their ratio is the cost of the claims alone.

// benchMgmtKeysEnv is the variable the bench's otpd reads its management
// key from (managementKeysEnv in its config).
const benchMgmtKeysEnv = "BENCH_MGMT_KEYS"

const (
	authzRoles        = 5
	authzRolePerms    = 3
	authzTenants      = 3
	authzTenantRoles  = 2
	authzOpSignIn     = "verify-signin"
	authzOpAuthz      = "verify-authz"
	defaultSignInSeed = 40000
)

func (t *targets) mgmtCtx(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+t.projectID+":"+t.mgmtKey)
}

// authzModel creates the model the verify-authz users hold (on a flushed
// Redis) and returns the CreateUser fields that give a user all of it.
func (t *targets) authzModel(ctx context.Context, addr string) (string, error) {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", err
	}
	defer cc.Close()
	m := otpv1.NewManagementClient(cc)
	mctx := t.mgmtCtx(ctx)
	var roles []string
	for i := range authzRoles {
		var perms []string
		for j := range authzRolePerms {
			p := fmt.Sprintf("perm-%d-%d", i, j)
			if _, err := m.CreatePermission(mctx, &otpv1.MgmtPermissionRequest{Name: p}); err != nil {
				return "", fmt.Errorf("create permission: %w", err)
			}
			perms = append(perms, p)
		}
		r := fmt.Sprintf("role-%d", i)
		if _, err := m.CreateRole(mctx, &otpv1.MgmtRoleRequest{Name: r, PermissionNames: perms}); err != nil {
			return "", fmt.Errorf("create role: %w", err)
		}
		roles = append(roles, r)
	}
	var tenants []string
	for i := range authzTenants {
		id := fmt.Sprintf("tenant-%d", i)
		if _, err := m.CreateTenant(mctx, &otpv1.MgmtTenantRequest{Id: id, Name: "Tenant " + id}); err != nil {
			return "", fmt.Errorf("create tenant: %w", err)
		}
		tr := make([]string, authzTenantRoles)
		for j := range tr {
			tr[j] = fmt.Sprintf("%q", roles[(i+j)%len(roles)])
		}
		tenants = append(tenants, fmt.Sprintf(`{"tenantId":%q,"roleNames":[%s]}`, id, strings.Join(tr, ",")))
	}
	q := make([]string, len(roles))
	for i, r := range roles {
		q[i] = fmt.Sprintf("%q", r)
	}
	return fmt.Sprintf(`,"roleNames":[%s],"userTenants":[%s]`, strings.Join(q, ","), strings.Join(tenants, ",")), nil
}

// seedSignIns creates n users (login ids prefix0..prefix(n-1)@bench.test,
// with the model's roles and tenants when authz) and starts a sign-in
// code for each.
func (t *targets) seedSignIns(ctx context.Context, b binaries, addr, prefix string, n int, authz bool) error {
	extra := ""
	if authz {
		var err error
		if extra, err = t.authzModel(ctx, addr); err != nil {
			return err
		}
	}
	data := fmt.Sprintf(`{"loginId":"%s{{.RequestNumber}}@bench.test","email":"%s{{.RequestNumber}}@bench.test","verifiedEmail":true%s}`, prefix, prefix, extra)
	meta := fmt.Sprintf(`{"authorization":"Bearer %s:%s"}`, t.projectID, t.mgmtKey)
	if err := t.ghzRun(ctx, b, addr, "otp.v1.Management.CreateUser", data, meta, 100, n); err != nil {
		return fmt.Errorf("creating users: %w", err)
	}
	res, err := t.ghz(ctx, b, addr, "otp.v1.OtpEmail.SignUpOrIn", prefix, false, 100, 0, n)
	if err != nil {
		return fmt.Errorf("starting sign-ins: %w", err)
	}
	if res.errors > 0 {
		return fmt.Errorf("starting sign-ins: %d errors", res.errors)
	}
	return nil
}

// ghzRun runs n calls of call with data and metadata at concurrency conc,
// and fails on any error.
func (t *targets) ghzRun(ctx context.Context, b binaries, addr, call, data, meta string, conc, n int) error {
	args := []string{"--insecure", "--protoset", b.protoset, "--call", call, "-d", data, "-m", meta,
		"-c", strconv.Itoa(conc), "--connections", "2", "-n", strconv.Itoa(n), "-O", "json", addr}
	out, err := exec.CommandContext(ctx, b.ghz, args...).Output()
	if err != nil {
		return fmt.Errorf("ghz: %w", err)
	}
	var rep struct {
		Errors map[string]int `json:"errorDistribution"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return fmt.Errorf("ghz output: %w", err)
	}
	for msg, k := range rep.Errors {
		return fmt.Errorf("%d errors: %s", k, msg)
	}
	return nil
}
