package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	otpv1 "github.com/otpd/otpd/gen/otp/v1"
	"github.com/otpd/otpd/mgmt"
	"github.com/otpd/otpd/store"
)

// Issue 19 §3: a request does what it says, or is refused naming the field.

// refusedNaming asserts a 400 E011003 whose message names field.
func refusedNaming(t *testing.T, what string, s int, b map[string]any, field string) {
	t.Helper()
	if msg, _ := b["errorMessage"].(string); s != 400 || errCodeOf(b) != "E011003" || !strings.Contains(msg, field) {
		t.Fatalf("%s: %d %v, want 400 E011003 naming %s", what, s, b, field)
	}
}

// TestUnknownFieldsRefused: an undeclared JSON field with a value refuses
// the request and changes nothing; an empty one (what SDKs send for unset
// options) is accepted.
func TestUnknownFieldsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	s, b := e.mgmt("POST", "/v1/mgmt/user/create", `{"loginId":"inv@example.com","inviteUrl":"https://app.example/invite"}`)
	refusedNaming(t, "create with inviteUrl", s, b, `"inviteUrl"`)
	if s, _ := e.mgmt("GET", "/v1/mgmt/user?loginId=inv%40example.com", ""); s != 404 {
		t.Fatalf("a refused create made the user: %d", s)
	}
	// A typo of a filter never widens a search.
	s, b = e.mgmt("POST", "/v2/mgmt/user/search", `{"userIdz":["U1"]}`)
	refusedNaming(t, "search with a typo", s, b, `"userIdz"`)
	// Nested, and several at once (sorted, each named).
	s, b = e.post("/v1/auth/otp/signup-in/email", `{"loginId":"n@example.com","loginOptions":{"zeta":1,"alpha":"x"}}`)
	refusedNaming(t, "nested unknown", s, b, `"loginOptions.alpha", "loginOptions.zeta"`)
	if e.messages() != 0 {
		t.Fatal("a refused start sent a code")
	}
	// Empty values of undeclared fields are what SDKs send: accepted (the
	// Go and Python SDKs send ssoAppIDs null or [] on create).
	e.mustMgmt("POST", "/v1/mgmt/user/create", `{"loginId":"ok@example.com","ssoAppIDs":null,"inviteUrl":"","sendSMS":false,
		"templateOptions":{},"extra":{"a":"","b":[],"c":0}}`)
	e.login("email", "ok2@example.com", "ok2@example.com")
	// The error body is Descope's, and the field name is bounded.
	long := strings.Repeat("x", 500)
	s, b = e.mgmt("POST", "/v2/mgmt/user/search", fmt.Sprintf(`{%q:1}`, long))
	if msg, _ := b["errorMessage"].(string); s != 400 || len(msg) > 300 {
		t.Fatalf("long field name: %d %q", s, msg)
	}
}

// TestSearchByUserIDs: the filter the SDKs send as userIds selects those
// users (it used to be dropped, returning every user).
func TestSearchByUserIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	var uids []string
	for i := range 3 {
		u := userOf(t, e.mustMgmt("POST", "/v1/mgmt/user/create", fmt.Sprintf(`{"loginId":"id%d"}`, i)))
		uids = append(uids, u["userId"].(string))
	}
	ids, total := searchIDs(t, e, fmt.Sprintf(`{"userIds":[%q]}`, uids[1]))
	if fmt.Sprint(ids) != "[id1]" || total != 1 {
		t.Fatalf("userIds: %v (total %v)", ids, total)
	}
	ids, _ = searchIDs(t, e, fmt.Sprintf(`{"userIds":[%q,%q],"loginIds":["id2"]}`, uids[0], uids[2]))
	if fmt.Sprint(ids) != "[id2]" {
		t.Fatalf("userIds AND loginIds: %v", ids)
	}
	if ids, total := searchIDs(t, e, `{"userIds":["U2nobody"]}`); len(ids) != 0 || total != 0 {
		t.Fatalf("unknown id: %v %v", ids, total)
	}
	// Over gRPC too.
	m := otpv1.NewManagementClient(e.conn)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+pid+":"+mgmtKey)
	found, err := m.SearchUsers(ctx, &otpv1.MgmtSearchRequest{UserIds: []string{uids[2]}})
	if err != nil || found.GetTotal() != 1 || found.GetUsers()[0].GetUserId() != uids[2] {
		t.Fatalf("gRPC userIds: %v %v", found, err)
	}
	if _, err := m.SearchUsers(ctx, &otpv1.MgmtSearchRequest{SsoAppIds: []string{"A1"}}); status.Code(err) != codes.InvalidArgument || reasonOf(err) != "E011003" {
		t.Fatalf("gRPC ssoAppIds: %v", err)
	}
}

// TestSearchTimesAndSort: created and modified time ranges (Unix ms,
// inclusive), verified flags and sort keys are honoured; users created in
// the same second come back in creation order.
func TestSearchTimesAndSort(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	// Five users 1 ms apart, in one second: random user ids must not
	// decide their order.
	e.clock.Add(time.UnixMilli(1_800_000_000_100).Sub(e.clock.Now()))
	for i := range 5 {
		e.mustMgmt("POST", "/v1/mgmt/user/create", fmt.Sprintf(`{"loginId":"s%d","displayName":"%c"}`, i, 'e'-i))
		e.clock.Add(time.Millisecond)
	}
	if ids, _ := searchIDs(t, e, `{}`); fmt.Sprint(ids) != "[s0 s1 s2 s3 s4]" {
		t.Fatalf("same-second users out of creation order: %v", ids)
	}
	if ids, _ := searchIDs(t, e, `{"sort":[{"field":"createdTime","desc":true}],"limit":2,"page":1}`); fmt.Sprint(ids) != "[s2 s1]" {
		t.Fatalf("newest first, page 1: %v", ids)
	}
	if ids, _ := searchIDs(t, e, `{"sort":[{"field":"name"}]}`); fmt.Sprint(ids) != "[s4 s3 s2 s1 s0]" {
		t.Fatalf("by name: %v", ids)
	}
	ids, total := searchIDs(t, e, `{"fromCreatedTime":1800000000101,"toCreatedTime":1800000000103}`)
	if fmt.Sprint(ids) != "[s1 s2 s3]" || total != 3 {
		t.Fatalf("created range: %v (total %v)", ids, total)
	}
	// A change an hour later moves the modified time only.
	e.clock.Add(time.Hour)
	u := userOf(t, e.mustMgmt("PATCH", "/v1/mgmt/user/patch", `{"loginId":"s3","givenName":"G"}`))
	if int64(u["modifiedTime"].(float64)) != time.UnixMilli(1_800_003_600_105).Unix() || int64(u["createdTime"].(float64)) != 1_800_000_000 {
		t.Fatalf("times after a patch: %v", u)
	}
	ids, total = searchIDs(t, e, `{"fromModifiedTime":1800003600000}`)
	if fmt.Sprint(ids) != "[s3]" || total != 1 {
		t.Fatalf("modified range: %v (total %v)", ids, total)
	}
	if ids, _ := searchIDs(t, e, `{"toModifiedTime":1800000000102,"sort":[{"field":"modifiedTime","desc":true}]}`); fmt.Sprint(ids) != "[s2 s1 s0]" {
		t.Fatalf("modified range, newest first: %v", ids)
	}
	// A sign-up by OTP has a modified time too, and the verified filter.
	e.login("email", "v@example.com", "v@example.com")
	if ids, _ := searchIDs(t, e, `{"verifiedEmail":true}`); fmt.Sprint(ids) != "[v@example.com]" {
		t.Fatalf("verifiedEmail: %v", ids)
	}
	for _, body := range []string{`{"sort":[{"field":"shoeSize"}]}`, `{"fromCreatedTime":-1}`} {
		if s, b := e.mgmt("POST", "/v2/mgmt/user/search", body); s != 400 || errCodeOf(b) == "" {
			t.Fatalf("%s: %d %v", body, s, b)
		}
	}
	s, b := e.mgmt("POST", "/v2/mgmt/user/search", `{"tenantRoleNames":{"T1":{"values":["admin"]}}}`)
	refusedNaming(t, "tenantRoleNames", s, b, "tenantRoleNames")
}

// TestPatchHonoursSDKFields: name (Go SDK), additionalLoginIds (Go) and
// additionalIdentifiers (Node), test (Python).
func TestPatchHonoursSDKFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	e.mustMgmt("POST", "/v1/mgmt/user/create", `{"loginId":"p@example.com","additionalLoginIds":["p1"]}`)
	u := userOf(t, e.mustMgmt("PATCH", "/v1/mgmt/user/patch", `{"loginId":"p@example.com","name":"Pat"}`))
	if u["name"] != "Pat" {
		t.Fatalf("patch name: %v", u)
	}
	u = userOf(t, e.mustMgmt("PATCH", "/v1/mgmt/user/patch", `{"loginId":"p1","additionalLoginIds":["p2","P3"]}`))
	if fmt.Sprint(u["loginIds"]) != "[p@example.com p2 p3]" {
		t.Fatalf("patch additionalLoginIds: %v", u)
	}
	if s, _ := e.mgmt("GET", "/v1/mgmt/user?loginId=p1", ""); s != 404 {
		t.Fatalf("a replaced login id still loads: %d", s)
	}
	u = userOf(t, e.mustMgmt("PATCH", "/v1/mgmt/user/patch", `{"loginId":"p2","additionalIdentifiers":["p4"]}`))
	if fmt.Sprint(u["loginIds"]) != "[p@example.com p4]" {
		t.Fatalf("patch additionalIdentifiers: %v", u)
	}
	u = userOf(t, e.mustMgmt("PATCH", "/v1/mgmt/user/patch", `{"loginId":"p4","additionalLoginIds":[]}`))
	if fmt.Sprint(u["loginIds"]) != "[p@example.com]" {
		t.Fatalf("patch additionalLoginIds []: %v", u)
	}
	// test=true patches only a test user; an ordinary one is untouched.
	s, b := e.mgmt("PATCH", "/v1/mgmt/user/patch", `{"loginId":"p@example.com","test":true,"name":"Changed"}`)
	if s != 400 || errCodeOf(b) != "E112104" {
		t.Fatalf("patch test=true of an ordinary user: %d %v", s, b)
	}
	if u := userOf(t, e.mustMgmt("GET", "/v1/mgmt/user?loginId=p%40example.com", "")); u["name"] != "Pat" {
		t.Fatalf("a refused patch changed the user: %v", u)
	}
	e.mustMgmt("POST", "/v1/mgmt/user/create/test", `{"loginId":"tp"}`)
	if u := userOf(t, e.mustMgmt("PATCH", "/v1/mgmt/user/patch", `{"loginId":"tp","test":true,"displayName":"T"}`)); u["name"] != "T" {
		t.Fatalf("patch of a test user: %v", u)
	}
	for field, body := range map[string]string{
		"ssoAppIds": `{"loginId":"tp","ssoAppIds":["A"]}`, "scim": `{"loginId":"tp","scim":true}`,
		"displayName": `{"loginId":"tp","name":"A","displayName":"B"}`,
	} {
		s, b := e.mgmt("PATCH", "/v1/mgmt/user/patch", body)
		refusedNaming(t, body, s, b, field)
	}
	// Update: a non-empty additionalLoginIds replaces, status is set.
	u = userOf(t, e.mustMgmt("POST", "/v1/mgmt/user/update", `{"loginId":"p@example.com","additionalLoginIds":["q1"],"status":"disabled"}`))
	if fmt.Sprint(u["loginIds"]) != "[p@example.com q1]" || u["status"] != "disabled" {
		t.Fatalf("update: %v", u)
	}
}

// TestTestUserOTPLoginOptions: the test-user code's customClaims reach the
// tokens as a normal start's do; what it cannot do is refused.
func TestTestUserOTPLoginOptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	e.mustMgmt("POST", "/v1/mgmt/user/create/test", `{"loginId":"qa@example.com","email":"qa@example.com","verifiedEmail":true}`)
	b := e.mustMgmt("POST", "/v1/mgmt/tests/generate/otp",
		`{"deliveryMethod":"email","loginId":"qa@example.com","loginOptions":{"customClaims":{"plan":"pro"},"templateOptions":{"x":"y"}}}`)
	s, v := e.post("/v1/auth/otp/verify/email", fmt.Sprintf(`{"loginId":"qa@example.com","code":%q}`, b["code"]))
	if s != 200 {
		t.Fatalf("verify: %d %v", s, v)
	}
	for _, tok := range []string{v["sessionJwt"].(string), v["refreshJwt"].(string)} {
		if c := verifyWithJWKS(t, e, tok); fmt.Sprint(c["nsec"]) != "map[plan:pro]" {
			t.Fatalf("customClaims of a test user's code: nsec %v", c["nsec"])
		}
	}
	for field, opts := range map[string]string{
		"loginOptions.stepup": `{"stepup":true}`, "loginOptions.tenantId": `{"tenantId":"T1"}`,
		"reserved claim": `{"customClaims":{"sub":"U2other"}}`,
	} {
		s, b := e.mgmt("POST", "/v1/mgmt/tests/generate/otp", `{"deliveryMethod":"email","loginId":"qa@example.com","loginOptions":`+opts+`}`)
		if msg, _ := b["errorMessage"].(string); s != 400 || (field != "reserved claim" && !strings.Contains(msg, field)) {
			t.Fatalf("%s: %d %v", opts, s, b)
		}
	}
}

// TestStartRefusesUnsupportedOptions: ssoAppId and pkceChallenge in a
// start are refused naming the field (nothing sent); empty ones are
// accepted. Over REST and gRPC. (loginOptions.tenantId is honoured:
// TestStartWithTenant, TestAuthz*.)
func TestStartRefusesUnsupportedOptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	for field, body := range map[string]string{
		"loginOptions.ssoAppId":                 `{"loginId":"a@example.com","loginOptions":{"ssoAppId":"S1"}}`,
		"loginOptions.pkceChallenge":            `{"loginId":"a@example.com","loginOptions":{"pkceChallenge":"abc"}}`,
		"loginOptions.revokeOtherSessionsTypes": `{"loginId":"a@example.com","loginOptions":{"revokeOtherSessionsTypes":["web"]}}`,
		"ssoAppId":                              `{"loginId":"a@example.com","ssoAppId":"S1"}`,
	} {
		s, b := e.post("/v1/auth/otp/signup-in/email", body)
		refusedNaming(t, body, s, b, field)
	}
	if e.messages() != 0 {
		t.Fatal("a refused start sent a code")
	}
	// The Go SDK's sign-up-or-in always sends these keys, empty.
	if s, b := e.post("/v1/auth/otp/signup-in/email", `{"loginId":"a@example.com","loginOptions":{"tenantId":"","customClaims":null,"templateOptions":null,"templateId":""}}`); s != 200 {
		t.Fatalf("empty options: %d %v", s, b)
	}
	_, err := otpv1.NewOtpEmailClient(e.conn).SignIn(e.authCtx(), &otpv1.StartRequest{LoginId: "a@example.com", LoginOptions: &otpv1.LoginOptions{SsoAppId: "S1"}})
	if status.Code(err) != codes.InvalidArgument || reasonOf(err) != "E011003" || !strings.Contains(status.Convert(err).Message(), "ssoAppId") {
		t.Fatalf("gRPC ssoAppId: %v", err)
	}
}

// TestRefreshRefusesExternalToken: the web SDK's externalToken (an
// exchange otpd does not do) is refused, not ignored; an empty one works.
func TestRefreshRefusesExternalToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	r := e.login("email", "x@example.com", "x@example.com")["refreshJwt"].(string)
	for _, path := range []string{"/v1/auth/refresh", "/v1/auth/try-refresh"} {
		s, b := e.do("POST", path, `{"externalToken":"ext"}`, e.bearer(r))
		refusedNaming(t, path, s, b, "externalToken")
	}
	if s, b := e.do("POST", "/v1/auth/refresh", `{"externalToken":""}`, e.bearer(r)); s != 200 {
		t.Fatalf("empty externalToken: %d %v", s, b)
	}
}

// TestGRPCUnknownFieldsRefused: a gRPC client built from a newer .proto
// sends fields this server does not declare; they are refused naming the
// field number, never dropped.
func TestGRPCUnknownFieldsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	c := otpv1.NewOtpEmailClient(e.conn)
	unknown := protowire.AppendString(protowire.AppendTag(nil, 99, protowire.BytesType), "T1")
	top := &otpv1.StartRequest{LoginId: "g@example.com"}
	top.ProtoReflect().SetUnknown(unknown)
	nested := &otpv1.StartRequest{LoginId: "g@example.com", LoginOptions: &otpv1.LoginOptions{}}
	nested.GetLoginOptions().ProtoReflect().SetUnknown(unknown)
	for name, req := range map[string]*otpv1.StartRequest{"otp.v1.StartRequest": top, "otp.v1.LoginOptions": nested} {
		_, err := c.SignUpOrIn(e.authCtx(), req)
		if status.Code(err) != codes.InvalidArgument || reasonOf(err) != "E011003" || !strings.Contains(status.Convert(err).Message(), "field number 99 of "+name) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if e.messages() != 0 {
		t.Fatal("a refused start sent a code")
	}
	if _, err := c.SignUpOrIn(e.authCtx(), &otpv1.StartRequest{LoginId: "g@example.com"}); err != nil {
		t.Fatalf("declared fields only: %v", err)
	}
}

// TestSearchEveryHolderOfAnEmail: more than 1,000 users with one email are
// all found (the search used to stop at 1,000 and report 1,000 as the
// total); beyond MaxCandidates the search is refused naming the filter,
// never cut short.
func TestSearchEveryHolderOfAnEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false, defaultMgmtKeys())
	const n = 1050
	for i := range n {
		e.mustMgmt("POST", "/v1/mgmt/user/create", fmt.Sprintf(`{"loginId":"h%d","email":"shared@example.com"}`, i))
		e.clock.Add(time.Millisecond)
	}
	b := e.mustMgmt("POST", "/v2/mgmt/user/search", `{"emails":["shared@example.com"],"limit":50,"page":20}`)
	if us := b["users"].([]any); b["total"] != float64(n) || len(us) != 50 {
		t.Fatalf("holders: total %v, page of %d", b["total"], len(us))
	}
	if last := b["users"].([]any)[49].(map[string]any)["loginIds"].([]any)[0]; last != "h1049" {
		t.Fatalf("the last page ends with %v, want h1049", last)
	}
	// Bare records (a user id only) with their index entries stand for
	// mgmt.MaxCandidates more holders: refused, naming the filter. (An
	// index entry without any record is dropped by the index write
	// itself: an erasure raced it.)
	st := store.NewRedisStore(e.redis)
	pipe := e.redis.Pipeline()
	for i := range mgmt.MaxCandidates {
		id := fmt.Sprintf("U2ghost%05d", i)
		pipe.HSet(context.Background(), store.UserKey(e.project, id), "userId", id)
	}
	if _, err := pipe.Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range mgmt.MaxCandidates {
		u := store.User{UserID: fmt.Sprintf("U2ghost%05d", i), Email: "many@example.com", Status: "enabled", CreatedTime: time.UnixMilli(int64(i))}
		if err := st.Index(context.Background(), e.project, u); err != nil {
			t.Fatal(err)
		}
	}
	e.mustMgmt("POST", "/v1/mgmt/user/create", `{"loginId":"real-many","email":"many@example.com"}`)
	s, b := e.mgmt("POST", "/v2/mgmt/user/search", `{"emails":["many@example.com"]}`)
	refusedNaming(t, "10,001 holders", s, b, "emails")
	// A search that reads users one by one (by modified time) over a
	// created-time range of more than 10,000 users is refused the same
	// way; narrowed by created time, it answers.
	s, b = e.mgmt("POST", "/v2/mgmt/user/search", `{"fromModifiedTime":1}`)
	refusedNaming(t, "modified time over 11,051 users", s, b, "fromModifiedTime")
	body := fmt.Sprintf(`{"fromModifiedTime":1,"fromCreatedTime":%d,"limit":5}`, time.UnixMilli(int64(mgmt.MaxCandidates)).UnixMilli())
	if b := e.mustMgmt("POST", "/v2/mgmt/user/search", body); b["total"] != float64(n+1) {
		t.Fatalf("narrowed: total %v, want %d", b["total"], n+1)
	}
}
