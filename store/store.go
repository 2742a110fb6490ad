package store

import (
	"context"
	"errors"
	"time"
)

// ErrUnavailable wraps every failure to reach the backing store, so callers
// can tell "the store is down" (503) from a logical outcome.
var ErrUnavailable = errors.New("store: unavailable")

// Rule is the user-existence rule a start enforces.
type Rule string

// The rules of the three start operations.
const (
	RuleNew      Rule = "new"      // sign-up: the login id must have no user
	RuleExisting Rule = "existing" // sign-in: the login id must have a user
	RuleAny      Rule = "any"      // sign-up-or-in
	RuleOwner    Rule = "owner"    // the login id must belong to NewCode.OwnerID
)

// Contact is which user field a channel delivers to.
type Contact string

// The two contact fields.
const (
	ContactEmail Contact = "email"
	ContactPhone Contact = "phone"
)

// CodeKey names one pending code: a login id on a channel of a project.
type CodeKey struct {
	Project string
	LoginID string
	Channel string
}

// Profile is the optional name data a sign-up carries to the user record.
type Profile struct {
	Name       string `json:"name,omitempty"`
	GivenName  string `json:"givenName,omitempty"`
	MiddleName string `json:"middleName,omitempty"`
	FamilyName string `json:"familyName,omitempty"`
}

// NewCode is a start: the code's keyed hash and what verify will need.
type NewCode struct {
	Key  CodeKey
	Rule Rule
	// Purpose is bound into Hash (otpcode); the record does not keep it.
	Purpose string
	Hash    []byte
	Contact Contact
	// NewUserAddress is where the code goes when the login id has no user
	// yet (normalised); "" when there is none. An existing user's code goes
	// to the address the login index holds, never to this or the login id.
	NewUserAddress string
	// OwnerID is the user the login id must belong to under RuleOwner.
	// With RuleOwner, a non-empty NewUserAddress is where an update's code
	// goes (the new address).
	OwnerID string
	// Payload is opaque data handed back by a successful verify.
	Payload     []byte
	MaxAttempts int
	ExpiresAt   time.Time
	// Now is the start's time (rate limits, cooldown hints).
	Now time.Time
	// Limits are charged atomically with the start.
	Limits Limits
	// Job, when set, is enqueued for delivery in the same round trip, with
	// the address the start decides.
	Job *Job
	// Retain is how long the record outlives ExpiresAt, so that a late
	// verify is told "expired" rather than "wrong code".
	Retain time.Duration
	// Guard, when set, is the pumping guard's judgement of the
	// destination (package fraud; nil: not judged).
	Guard *Guard
}

// Job is a sealed delivery job for the queue's stream.
type Job struct {
	ID      string
	Payload string // sealed, base64
	Stream  string
	MaxLen  int64
}

// StartStatus is the outcome of StartCode.
type StartStatus string

// Start outcomes.
const (
	StartOK        StartStatus = "ok"
	StartExists    StartStatus = "exists"    // RuleNew, but the user exists
	StartNotFound  StartStatus = "notfound"  // RuleExisting, but no user
	StartNoAddress StartStatus = "noaddress" // nowhere to send the code
	StartNotOwner  StartStatus = "notowner"  // RuleOwner, but another user (or none) owns the login id
	StartLimited   StartStatus = "limited"   // a rate limit refused: nothing sent, no code replaced
	StartDisabled  StartStatus = "disabled"  // the user is disabled (management API): nothing sent
	StartBlocked   StartStatus = "blocked"   // the pumping guard refused the destination: nothing charged, stored or sent
)

// StartResult says what happened and where the code goes.
type StartResult struct {
	Status  StartStatus
	Address string
	// Limit is the refusing bucket (StartLimited), RetryAfter when it allows again.
	Limit      string
	RetryAfter time.Duration
	// WouldLimit names the bucket that would have refused in a dry run.
	WouldLimit string
	// Blocked is the guard's entity that refused (StartBlocked) and
	// BlockedUntil when its block lifts; WouldBlock the one that would
	// have, in shadow mode (the start went ahead).
	Blocked      string
	BlockedUntil time.Time
	WouldBlock   string
}

// Attempt is one verify: the candidate hashes of the submitted code.
type Attempt struct {
	Key        CodeKey
	Candidates [][]byte
	Now        time.Time
	// NewUserID is bound to the login id if it has no user yet.
	NewUserID string
	// Limits are charged on every attempt (Login buckets too).
	Limits Limits
}

// VerifyStatus is the outcome of VerifyCode.
type VerifyStatus string

// Verify outcomes.
const (
	VerifyOK       VerifyStatus = "ok"
	VerifyNoCode   VerifyStatus = "nocode"
	VerifyExpired  VerifyStatus = "expired"
	VerifyDead     VerifyStatus = "dead" // attempts used up
	VerifyWrong    VerifyStatus = "wrong"
	VerifyExists   VerifyStatus = "exists"   // sign-up code, but a user appeared meanwhile
	VerifyNotFound VerifyStatus = "notfound" // sign-in code, but the user is gone
	VerifyLimited  VerifyStatus = "limited"  // a rate limit refused: no attempt counted
	VerifyDisabled VerifyStatus = "disabled" // right code, but the user is disabled: code spent, no session
)

// VerifyResult is what a verify attempt found.
type VerifyResult struct {
	Status       VerifyStatus
	Address      string
	Contact      Contact
	Payload      []byte
	UserID       string
	NewUser      bool
	AttemptsLeft int
	// Limit, RetryAfter: as in StartResult (VerifyLimited).
	Limit      string
	RetryAfter time.Duration
	WouldLimit string
	// CreatedAt is when the dead code was issued (VerifyDead).
	CreatedAt time.Time
}

// Codes holds pending codes and the login-id index.
type Codes interface {
	// StartCode applies the existence rule and stores the code's hash,
	// replacing any earlier code for the same key. It changes nothing unless
	// the status is StartOK.
	StartCode(ctx context.Context, c NewCode) (StartResult, error)
	// VerifyCode counts one attempt, then compares. On a match it consumes
	// the code atomically (one success under any concurrency) and binds the
	// login id to a user id.
	VerifyCode(ctx context.Context, a Attempt) (VerifyResult, error)
	// UndoVerify gives back the code a successful VerifyCode (or
	// VerifyLogin) consumed, when the login's next step failed: the retry
	// of the verify then succeeds. It also unbinds the login id if that
	// verify bound it to a fresh user id, with the user VerifyLogin created
	// (even when a newer code has replaced the consumed one meanwhile).
	// Best effort, right after the verify (the consumed record lasts until
	// the code's expiry plus the grace); it runs with its own
	// short deadline.
	UndoVerify(ctx context.Context, k CodeKey, u Undo) error
}

// Undo is what a successful verify did, for UndoVerify.
type Undo struct {
	// UserID is the user the verify signed in.
	UserID string
	// Fresh: the verify bound the login id to UserID, a new user id
	// (VerifyResult.NewUser), under the contact field Contact.
	Fresh   bool
	Contact Contact
	// LoginRan: VerifyLogin also completed the login (it returned a
	// LoginDone), so a fresh user's record, tokens, history and index
	// entry are removed too.
	LoginRan bool
}

// User is the stored user record.
type User struct {
	UserID        string
	LoginIDs      []string
	Email         string
	Phone         string
	VerifiedEmail bool
	VerifiedPhone bool
	Profile
	CreatedTime time.Time
	// ModifiedTime is the last change of the record (management writes, a
	// login that verified an address, a verified contact update); zero on
	// records older than the field: see Modified.
	ModifiedTime time.Time
	Status       string
	// Management fields (package mgmt): a test user, a picture URL, and
	// custom attributes (JSON object).
	Test             bool
	Picture          string
	CustomAttributes map[string]any
	// Version counts management writes (UserWrite.Expect "mv").
	Version string
	// EmailChangedAt and PhoneChangedAt are when an update last changed
	// the verified email / phone (zero: not since the user was created,
	// or before otpd recorded it).
	EmailChangedAt, PhoneChangedAt time.Time
	// Authz is what the user holds of the project's authorization model
	// (role ids, tenant memberships; see authz.go).
	Authz UserAuthz
}

// ContactChangedAt is when the verified contact c last changed by an
// update (zero when it did not).
func (u User) ContactChangedAt(c Contact) time.Time {
	if c == ContactPhone {
		return u.PhoneChangedAt
	}
	return u.EmailChangedAt
}

// Modified is when the record last changed: ModifiedTime, or the creation
// time of a record written before otpd kept one.
func (u User) Modified() time.Time {
	if u.ModifiedTime.IsZero() {
		return u.CreatedTime
	}
	return u.ModifiedTime
}

// StatusDisabled is the status of a user who may not sign in.
const StatusDisabled = "disabled"

// Login is a verified login to record on the user.
type Login struct {
	Project string
	UserID  string
	LoginID string
	Contact Contact
	Address string
	Profile Profile
	// Unverified is an address of the other contact type than Contact,
	// stored on a new user as not verified ("" for none).
	Unverified string
	RefreshID  string
	// RefreshExpiry is when RefreshID's token expires.
	RefreshExpiry time.Time
	Now           time.Time
	// RevokeOthers drops every other refresh token of the user.
	RevokeOthers bool
	// Session, when set, is a token family of UserID that must still be
	// live at Now (an update's verify: the session that started it):
	// else ErrSessionEnded and nothing changes, in the same script.
	Session string
	// MaxRefreshTokens caps the user's live refresh tokens (token
	// families): registering one more evicts the oldest. 0 means
	// DefaultMaxRefreshTokens.
	MaxRefreshTokens int
	// History is recorded in the user's login history (zero: nothing).
	History LoginRecord
	// Index, for a user this login creates, is indexed for the management
	// API's search in the same round trip.
	Index *User
	// New: UserID is a fresh id the verify bound to LoginID just now
	// (VerifyResult.NewUser), so its record is created here. Otherwise the
	// record must exist: a login never recreates a user that is gone
	// (erased, merged away), and CompleteLogin answers ErrNoUser.
	New bool
}

// LoginRecord is one successful login in a user's history.
type LoginRecord struct {
	Time      time.Time
	IP        string
	UserAgent string
	Channel   string
}

// DefaultMaxRefreshTokens is the cap on a user's live refresh tokens when
// Login.MaxRefreshTokens is 0 (there is always one).
const DefaultMaxRefreshTokens = 100

// Users holds user records and their refresh-token ids.
type Users interface {
	// CompleteLogin creates the user on first sight (Login.New), marks the
	// address verified, registers the refresh token id and records the
	// login in the user's history. It returns the user and whether this was
	// the user's first login; ErrDisabled when the user is disabled;
	// ErrNoUser, changing nothing, when the record is missing and not New,
	// or when the user was erased.
	CompleteLogin(ctx context.Context, l Login) (User, bool, error)
}
