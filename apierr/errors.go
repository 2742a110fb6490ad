// Package apierr holds every error otpd shows to a caller, and the one place
// that maps them to gRPC status and to Descope's REST error body.
//
// A domain error is an *Error: a Descope error code (E0xxxxx), the gRPC code,
// the HTTP status REST callers get, a fixed description and a message. The
// service returns these (possibly wrapped); ToStatus turns any error into a
// gRPC status carrying an ErrorInfo whose reason is the Descope code; the
// REST gateway reads that back with FromStatus. Anything that is not an
// *Error becomes E010500 Internal with a generic message, so internal
// details never reach a caller.
package apierr

import (
	"errors"
	"fmt"
	"net/http"

	"google.golang.org/grpc/codes"
)

// Error is a caller-visible error. Values are immutable templates; use With
// to attach a request-specific message.
type Error struct {
	// Code is Descope's error code, e.g. "E061102".
	Code string
	// GRPC is the status code gRPC callers see.
	GRPC codes.Code
	// HTTP is the status REST callers see.
	HTTP int
	// Description is the short, fixed text for the code.
	Description string
	// Message is the human-readable detail.
	Message string
	// RetryAfterSeconds, when > 0, becomes RetryInfo and Retry-After.
	RetryAfterSeconds int
	// AttemptsLeft, when set, tells a wrong-code caller how many guesses
	// the code has left (ErrorInfo metadata and an extra REST field).
	AttemptsLeft *int
}

// WithRetryAfter returns a copy that asks the caller to wait.
func (e *Error) WithRetryAfter(seconds int) *Error {
	c := *e
	c.RetryAfterSeconds = max(seconds, 1)
	return &c
}

// WithAttemptsLeft returns a copy carrying the attempts left.
func (e *Error) WithAttemptsLeft(n int) *Error {
	c := *e
	c.AttemptsLeft = &n
	return &c
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is matches any *Error with the same code, so errors.Is(err, ErrX) works on
// values made by With.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

// With returns a copy with a request-specific message. The message must not
// contain codes, tokens or full addresses.
func (e *Error) With(format string, args ...any) *Error {
	c := *e
	c.Message = fmt.Sprintf(format, args...)
	return &c
}

func def(code string, g codes.Code, h int, desc, msg string) *Error {
	return &Error{Code: code, GRPC: g, HTTP: h, Description: desc, Message: msg}
}

// Request errors (E011xxx): the request itself is wrong. Nothing was changed.
var (
	// ErrBadRequest: the body is not valid JSON for the operation.
	ErrBadRequest = def("E011001", codes.InvalidArgument, http.StatusBadRequest,
		"Bad request", "The request could not be parsed")
	// ErrInvalidArgument: a field is present but invalid (bad email, bad phone).
	ErrInvalidArgument = def("E011002", codes.InvalidArgument, http.StatusBadRequest,
		"Invalid argument", "A request argument is invalid")
	// ErrValidation: the request is well formed but fails a rule.
	ErrValidation = def("E011003", codes.InvalidArgument, http.StatusBadRequest,
		"Request validation failed", "The request failed validation")
	// ErrMissingArgument: a required field is missing.
	ErrMissingArgument = def("E011004", codes.InvalidArgument, http.StatusBadRequest,
		"Missing arguments", "A required argument is missing")
	// ErrUnauthorized: no project, an unknown project, or a malformed
	// Authorization header. (Descope does not document its code for this;
	// otpd uses E011401.)
	ErrUnauthorized = def("E011401", codes.Unauthenticated, http.StatusUnauthorized,
		"Unauthorized", "The project is missing or unknown")
	// ErrNumberNotAllowed: the phone number's country or type may not
	// receive this channel (project phone policy).
	ErrNumberNotAllowed = def("E011403", codes.PermissionDenied, http.StatusForbidden,
		"Number not allowed", "This phone number cannot receive codes on this channel")
	// ErrNotFound: no such REST path.
	ErrNotFound = def("E011404", codes.NotFound, http.StatusNotFound,
		"Not found", "No such API path")
	// ErrMethodNotAllowed: the path exists with another HTTP method.
	ErrMethodNotAllowed = def("E011405", codes.Unimplemented, http.StatusMethodNotAllowed,
		"Method not allowed", "The path does not accept this HTTP method")
	// ErrHeadersTooLarge: the request's headers exceed the REST limit.
	// (otpd's code; Descope documents none.)
	ErrHeadersTooLarge = def("E011431", codes.InvalidArgument, http.StatusRequestHeaderFieldsTooLarge,
		"Request headers too large", "The request headers are too large")
	// ErrUnimplemented: the operation is declared but not served yet.
	ErrUnimplemented = def("E011501", codes.Unimplemented, http.StatusNotImplemented,
		"Not implemented", "This operation is not implemented by this server")
)

// OTP errors (E061xxx) and user errors (E062xxx).
var (
	// ErrWrongCode: the code does not match, or there is no pending code.
	ErrWrongCode = def("E061102", codes.Unauthenticated, http.StatusUnauthorized,
		"Invalid one time code", "One time code is invalid")
	// ErrTooManyAttempts: the code used up its attempts and is dead.
	ErrTooManyAttempts = def("E061103", codes.Unauthenticated, http.StatusUnauthorized,
		"Too many attempts", "Too many wrong attempts; request a new code")
	// ErrCodeExpired: the code's lifetime is over.
	ErrCodeExpired = def("E061104", codes.Unauthenticated, http.StatusUnauthorized,
		"One time code expired", "One time code expired; request a new code")
	// ErrUserExists: sign-up for a login id that already has a user.
	ErrUserExists = def("E062107", codes.AlreadyExists, http.StatusBadRequest,
		"User already exists", "A user with this login id already exists")
	// ErrUserNotFound: sign-in for a login id that has no user.
	ErrUserNotFound = def("E062108", codes.NotFound, http.StatusBadRequest,
		"User not found", "Cannot find user")
	// ErrUpdateConflict: the new email/phone is another user's login id and
	// onMergeUseExisting is false.
	ErrUpdateConflict = def("E062125", codes.AlreadyExists, http.StatusConflict,
		"Auth user update conflict", "The address belongs to another user; set onMergeUseExisting to merge")
)

// ErrUserDisabled: the user was disabled through the management API; no
// code is sent and no session is issued or refreshed. (Descope's code for
// this is unconfirmed; otpd uses E062109.)
var ErrUserDisabled = def("E062109", codes.PermissionDenied, http.StatusForbidden,
	"User disabled", "The user is disabled")

// ErrTenantNotFound: tenant/select or loginOptions.tenantId named a
// tenant the user is not in.
var ErrTenantNotFound = def("E011002", codes.InvalidArgument, http.StatusBadRequest,
	"Invalid argument", "The user is not a member of this tenant")

// Management errors (E112xxx).
var (
	// ErrMgmtUnauthorized: no management key, or not a key of the project.
	ErrMgmtUnauthorized = def("E011401", codes.Unauthenticated, http.StatusUnauthorized,
		"Unauthorized", "A valid management key is required: 'Bearer <ProjectID>:<ManagementKey>'")
	// ErrMgmtUserNotFound: the management API found no such user.
	ErrMgmtUserNotFound = def("E112102", codes.NotFound, http.StatusNotFound,
		"User not found", "Cannot find user")
	// ErrMgmtUserExists: create for a login id that already has a user.
	ErrMgmtUserExists = def("E112103", codes.AlreadyExists, http.StatusConflict,
		"User already exists", "A user with this login id already exists")
	// ErrMgmtNotTestUser: a test-only operation on an ordinary user.
	ErrMgmtNotTestUser = def("E112104", codes.FailedPrecondition, http.StatusBadRequest,
		"Not a test user", "This operation is allowed for test users only")
)

// Session errors (E064xxx).
var (
	// ErrRefreshRevoked: the refresh token was logged out, revoked, or
	// rotated away (the Go SDK's ErrTokenExpiredByLoggedOut).
	ErrRefreshRevoked = def("E064001", codes.Unauthenticated, http.StatusUnauthorized,
		"Token revoked", "The refresh token was revoked; sign in again")
	// ErrRefreshInvalid: missing, malformed, tampered, expired or foreign
	// refresh JWT.
	ErrRefreshInvalid = def("E064002", codes.Unauthenticated, http.StatusUnauthorized,
		"Invalid refresh token", "A valid refresh token is required")
	// ErrStepUpRequired: the refresh JWT is valid, but the sign-in that
	// started its session is older than the project's recentSignInMaxAge,
	// and the request changes a verified contact or a login id. The client
	// steps up (sign-in with loginOptions.stepup and this refresh JWT),
	// then retries with the refresh JWT the step-up returns. Nothing was
	// stored, charged or sent. (otpd's code; Descope documents none.)
	ErrStepUpRequired = def("E064403", codes.PermissionDenied, http.StatusForbidden,
		"Step-up required", "Changing a verified email, phone or login id needs a recent sign-in: step up "+
			"(sign in with loginOptions.stepup and this refresh JWT), then retry with the refresh JWT the step-up returns")
	// ErrContactNewerThanSession: a step-up or MFA code would go to a
	// contact that was changed after the session signed in (perhaps by
	// whoever holds this refresh JWT). Nothing was stored, charged or
	// sent. (otpd's code.)
	ErrContactNewerThanSession = def("E064409", codes.PermissionDenied, http.StatusForbidden,
		"Contact changed after sign-in", "The contact was changed after this session signed in; "+
			"a step-up or MFA code goes only to a contact the user had then")
)

// ErrRateLimited: a rate limit refused; nothing was sent or changed.
var ErrRateLimited = def("E130429", codes.ResourceExhausted, http.StatusTooManyRequests,
	"https://docs.descope.com/rate-limit", "API rate limit exceeded.")

// ErrPumpingBlocked: the pumping guard (package fraud) paused sends to
// this number's prefix or country, whose codes are not being verified
// (SMS pumping). Nothing was charged, stored or sent; the pause lifts on
// its own after the project's fraudGuard.coolOff. 403 rather than 429:
// retrying sooner does not help, and the SDKs do not retry it. (otpd's
// code; Descope documents none.)
var ErrPumpingBlocked = def("E130403", codes.PermissionDenied, http.StatusForbidden,
	"Destination paused", "Codes to this phone number range are paused because recent codes sent to it were not used; try another channel or later")

// Server errors.
var (
	// ErrInternal: anything unexpected. Details go to the log, not the caller.
	ErrInternal = def("E010500", codes.Internal, http.StatusInternalServerError,
		"Internal error", "Internal server error")
	// ErrUnavailable: a dependency (Redis) is unreachable. The SDKs retry 503.
	ErrUnavailable = def("E010503", codes.Unavailable, http.StatusServiceUnavailable,
		"Service unavailable", "Service temporarily unavailable")
	// ErrOverloaded: the budget for request bytes not yet decoded is spent
	// (package membudget); nothing was read or done, retry after the
	// Retry-After delay. RESOURCE_EXHAUSTED on gRPC, 503 on REST.
	ErrOverloaded = def("E010529", codes.ResourceExhausted, http.StatusServiceUnavailable,
		"Server busy", "The server is busy; retry after the Retry-After delay")
)

// All lists every defined error, for documentation tests and lookups.
func All() []*Error {
	return []*Error{
		ErrBadRequest, ErrInvalidArgument, ErrValidation, ErrMissingArgument,
		ErrUnauthorized, ErrNotFound, ErrMethodNotAllowed, ErrHeadersTooLarge, ErrUnimplemented,
		ErrWrongCode, ErrTooManyAttempts, ErrCodeExpired, ErrUserExists, ErrUserNotFound,
		ErrUpdateConflict, ErrRefreshRevoked, ErrRefreshInvalid, ErrStepUpRequired, ErrContactNewerThanSession, ErrNumberNotAllowed, ErrRateLimited,
		ErrPumpingBlocked,
		ErrUserDisabled, ErrMgmtUserNotFound, ErrMgmtUserExists, ErrMgmtNotTestUser,
		ErrInternal, ErrUnavailable, ErrOverloaded,
	}
}

// ByCode returns the template for a Descope code, or nil.
func ByCode(code string) *Error {
	for _, e := range All() {
		if e.Code == code {
			return e
		}
	}
	return nil
}
