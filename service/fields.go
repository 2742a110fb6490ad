package service

import (
	"errors"

	"golang.org/x/text/language"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/otpd/otpd/apierr"
	"github.com/otpd/otpd/flow"
	otpv1 "github.com/otpd/otpd/gen/otp/v1"
	"github.com/otpd/otpd/mgmt"
)

// Fields the SDKs send that otpd declares but cannot honour: a non-empty
// value is refused (E011003) naming the field, an empty one is accepted
// (the SDKs send them empty when the caller set nothing). The gateway
// refuses undeclared fields the same way (gateway/fields.go); the table of
// every field is in docs/api.md and docs/management.md.

func refuseField(field, why string) error {
	return apierr.ErrValidation.With("%s is not supported: %s", field, why)
}

// checkLoginOptions refuses the loginOptions a start cannot honour
// (tenantId is honoured: flow.Engine.Start checks the membership).
func checkLoginOptions(o *otpv1.LoginOptions) error {
	switch {
	case o.GetSsoAppId() != "":
		return refuseField("loginOptions.ssoAppId", "otpd has no SSO applications")
	case o.GetPkceChallenge() != "":
		return refuseField("loginOptions.pkceChallenge", "otpd issues no authorization codes to exchange")
	case len(o.GetRevokeOtherSessionsTypes()) > 0:
		return refuseField("loginOptions.revokeOtherSessionsTypes", "otpd has one kind of session; use revokeOtherSessions")
	}
	return checkLocale("loginOptions.locale", o.GetLocale())
}

// checkStart refuses what a sign-up, sign-in or sign-up-or-in body asks
// for that otpd cannot do.
func checkStart(r *otpv1.StartRequest) error {
	if r.GetSsoAppId() != "" {
		return refuseField("ssoAppId", "otpd has no SSO applications")
	}
	return checkLoginOptions(r.GetLoginOptions())
}

// checkUpdateOptions refuses contradictory update options: failOnConflict
// asks for the conflict to fail, onMergeUseExisting for it to merge.
func checkUpdateOptions(failOnConflict, mergeExisting bool, locale string) error {
	if failOnConflict && mergeExisting {
		return apierr.ErrValidation.With("failOnConflict and onMergeUseExisting contradict each other: set one")
	}
	return checkLocale("locale", locale)
}

// maxLocaleLen bounds a request's locale: it is sealed into the delivery
// job and kept with a pending update. Real tags are far shorter
// ("zh-Hant-TW" is 10).
const maxLocaleLen = 64

// checkLocale refuses a locale that is not a well-formed BCP 47 tag
// ("english", "en--US", "e"): the request asked for a language otpd
// cannot tell. A well-formed tag of an unknown language ("xx") is
// accepted and falls back along the chain (request, its language, the
// project's defaultLocale, English) like any locale without templates.
// '_' is read as '-' ("pt_BR"), as golang.org/x/text/language does.
func checkLocale(field, l string) error {
	if l == "" {
		return nil
	}
	if len(l) > maxLocaleLen {
		return apierr.ErrValidation.With("%s is longer than %d bytes", field, maxLocaleLen)
	}
	if _, err := language.Parse(l); err != nil {
		var unknown language.ValueError
		if !errors.As(err, &unknown) {
			return apierr.ErrValidation.With("%s %q is not a well-formed BCP 47 language tag (e.g. en, pt-BR, zh-Hant)", field, l)
		}
	}
	return nil
}

// testCodeOptions maps the loginOptions of a test user's code. Options
// about the message (templateId, templateOptions, locale) are accepted:
// no message is sent. Step-up and MFA need a signed-in caller, which a
// management call has not.
func testCodeOptions(o *otpv1.LoginOptions) (flow.TestCodeOptions, error) {
	if err := checkLoginOptions(o); err != nil {
		return flow.TestCodeOptions{}, err
	}
	switch {
	case o.GetTenantId() != "":
		return flow.TestCodeOptions{}, refuseField("loginOptions.tenantId", "a test user's code does not select a tenant; use tenant/select after the verify")
	case o.GetStepup():
		return flow.TestCodeOptions{}, refuseField("loginOptions.stepup", "a test user's code starts a new session; step up with a normal sign-in")
	case o.GetMfa():
		return flow.TestCodeOptions{}, refuseField("loginOptions.mfa", "a test user's code starts a new session; add a factor with a normal sign-in")
	}
	return flow.TestCodeOptions{CustomClaims: o.GetCustomClaims().AsMap(), RevokeOthers: o.GetRevokeOtherSessions()}, nil
}

// searchQuery maps a search body, refusing the filters otpd has no data for
// (tenantRoleIds, tenantRoleNames, sub-tenants, SSO apps, custom
// attributes, text).
func searchQuery(r *otpv1.MgmtSearchRequest) (mgmt.Query, error) {
	switch {
	case len(r.GetTenantRoleIds().GetFields()) > 0:
		return mgmt.Query{}, refuseField("tenantRoleIds", "otpd does not search by a role in a given tenant: use roleNames and tenantIds")
	case len(r.GetTenantRoleNames().GetFields()) > 0:
		return mgmt.Query{}, refuseField("tenantRoleNames", "otpd does not search by a role in a given tenant: use roleNames and tenantIds")
	case r.GetIncludeSubTenants():
		return mgmt.Query{}, refuseField("includeSubTenants", "otpd has no sub-tenants")
	case len(r.GetSsoAppIds()) > 0:
		return mgmt.Query{}, refuseField("ssoAppIds", "otpd has no SSO applications")
	case len(r.GetCustomAttributes().GetFields()) > 0:
		return mgmt.Query{}, refuseField("customAttributes", "otpd does not index custom attributes")
	case r.GetText() != "":
		return mgmt.Query{}, refuseField("text", "otpd has no free-text index")
	}
	q := mgmt.Query{
		Limit: int(r.GetLimit()), Page: int(r.GetPage()), TestOnly: r.GetTestUsersOnly(), WithTest: r.GetWithTestUser(),
		Statuses: r.GetStatuses(), Emails: r.GetEmails(), Phones: r.GetPhones(), LoginIDs: r.GetLoginIds(),
		UserIDs:     r.GetUserIds(),
		FromCreated: r.GetFromCreatedTime(), ToCreated: r.GetToCreatedTime(),
		FromModified: r.GetFromModifiedTime(), ToModified: r.GetToModifiedTime(),
		VerifiedEmail: r.VerifiedEmail, VerifiedPhone: r.VerifiedPhone,
		RoleNames: r.GetRoleNames(), TenantIDs: r.GetTenantIds(),
	}
	for _, s := range r.GetSort() {
		q.Sort = append(q.Sort, mgmt.SortKey{Field: s.GetField(), Desc: s.GetDesc()})
	}
	return q, nil
}

// patchOf maps a patch body. name (the Go SDK) and displayName (Python,
// Node) both set the display name; additionalLoginIds and the Node SDK's
// additionalIdentifiers both replace the additional login ids.
func patchOf(r *otpv1.MgmtPatchRequest) (mgmt.Patch, error) {
	switch {
	case len(r.GetSsoAppIds()) > 0:
		return mgmt.Patch{}, refuseField("ssoAppIds", "otpd has no SSO applications")
	case r.GetScim():
		return mgmt.Patch{}, refuseField("scim", "otpd has no SCIM provisioning")
	}
	name := r.DisplayName
	if r.Name != nil {
		if name != nil && *name != *r.Name {
			return mgmt.Patch{}, apierr.ErrValidation.With("name and displayName differ: send one")
		}
		name = r.Name
	}
	ids, err := stringList("additionalLoginIds", r.GetAdditionalLoginIds())
	if err != nil {
		return mgmt.Patch{}, err
	}
	alt, err := stringList("additionalIdentifiers", r.GetAdditionalIdentifiers())
	if err != nil {
		return mgmt.Patch{}, err
	}
	if alt != nil {
		if ids != nil && !equalStrings(*ids, *alt) {
			return mgmt.Patch{}, apierr.ErrValidation.With("additionalLoginIds and additionalIdentifiers differ: send one")
		}
		ids = alt
	}
	return mgmt.Patch{
		Email: r.Email, Phone: r.Phone, Name: name, GivenName: r.GivenName, MiddleName: r.MiddleName,
		FamilyName: r.FamilyName, Picture: r.Picture, Status: r.Status,
		VerifiedEmail: r.VerifiedEmail, VerifiedPhone: r.VerifiedPhone, CustomAttributes: r.GetCustomAttributes().AsMap(),
		AdditionalLoginIDs: ids, Test: r.GetTest(),
		Assignments: assignments(r.GetRoleNames(), r.GetUserTenants(), false),
	}, nil
}

// stringList reads a JSON array of strings (nil: the field was absent).
func stringList(field string, l *structpb.ListValue) (*[]string, error) {
	if l == nil {
		return nil, nil
	}
	out := make([]string, 0, len(l.GetValues()))
	for _, v := range l.GetValues() {
		s, ok := v.GetKind().(*structpb.Value_StringValue)
		if !ok {
			return nil, apierr.ErrInvalidArgument.With("%s must be an array of strings", field)
		}
		out = append(out, s.StringValue)
	}
	return &out, nil
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
