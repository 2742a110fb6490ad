package flow

import "github.com/otpd/otpd/store"

// Channel is a delivery method: the last segment of the REST path.
type Channel string

// The four channels.
const (
	Email    Channel = "email"
	SMS      Channel = "sms"
	Voice    Channel = "voice"
	WhatsApp Channel = "whatsapp"
)

// Contact is the user field the channel delivers to.
func (c Channel) Contact() store.Contact {
	if c == Email {
		return store.ContactEmail
	}
	return store.ContactPhone
}

// AMR is the authentication-method reference the session token records.
// Descope documents email, sms and whatsapp; voice is otpd's choice.
func (c Channel) AMR() string { return string(c) }

// Op is a start operation.
type Op string

// The start operations; their values are the purposes bound into the hash.
const (
	SignUp     Op = "signup"
	SignIn     Op = "signin"
	SignUpOrIn Op = "signup-in"
)

// update is the purpose of an email/phone change.
const update Op = "update"

// purposes are every purpose a verify may meet, for candidate hashes.
var purposes = []string{string(SignUp), string(SignIn), string(SignUpOrIn), string(update)}

func (o Op) rule() store.Rule {
	switch o {
	case SignUp:
		return store.RuleNew
	case SignIn:
		return store.RuleExisting
	default:
		return store.RuleAny
	}
}
