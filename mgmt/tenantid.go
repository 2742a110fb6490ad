package mgmt

import (
	"slices"

	"github.com/otpd/otpd/apierr"
)

// jsObjectNames are the properties every JavaScript object inherits
// (Object.prototype's). Descope's Node SDK tells tenant membership by
// token.tenants[tenantId]: for a tenant id among these, any user whose
// token has a tenants claim (a member of any tenant) reads as a member,
// so validateTenantRoles(info, "constructor", []) is true for all of
// them. otpd refuses such ids when a tenant is created.
var jsObjectNames = []string{
	"__proto__", "constructor", "hasOwnProperty", "isPrototypeOf", "propertyIsEnumerable",
	"toLocaleString", "toString", "valueOf",
	"__defineGetter__", "__defineSetter__", "__lookupGetter__", "__lookupSetter__",
}

// checkTenantID refuses a new tenant's id that JavaScript objects inherit.
func checkTenantID(id string) error {
	if slices.Contains(jsObjectNames, id) {
		return apierr.ErrValidation.With("The tenant id %q is a property every JavaScript object has: the SDKs would count every user of any tenant as its member", id)
	}
	return nil
}
