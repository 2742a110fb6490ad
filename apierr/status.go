package apierr

import (
	"context"
	"errors"
	"strconv"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Domain is the ErrorInfo domain of every otpd error.
const Domain = "otpd"

// metadata keys inside ErrorInfo.
const (
	mdDescription = "description"
	mdHTTPStatus  = "httpStatus"
	mdAttempts    = "attemptsLeft"
)

// As extracts the *Error from err. Errors that are not domain errors become
// ErrInternal; context cancellation becomes a Canceled/DeadlineExceeded
// flavoured internal error so logs stay honest.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return ErrInternal
}

// ToStatus maps any error to the gRPC status a caller sees. It is the only
// mapping from domain errors to gRPC.
func ToStatus(err error) *status.Status {
	if err == nil {
		return status.New(codes.OK, "")
	}
	if s, ok := status.FromError(err); ok && !isDomain(err) {
		// Already a status (e.g. from grpc itself); keep it unless it would
		// leak as an unexplained Unknown.
		if s.Code() != codes.Unknown {
			return s
		}
	}
	// A domain error wins over a context error in its chain: Redis timing
	// out under otpd's own per-command deadline is ErrUnavailable (503,
	// retried by the SDKs), not the caller's deadline (504).
	switch {
	case isDomain(err):
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, "deadline exceeded")
	}
	e := As(err)
	st := status.New(e.GRPC, e.Message)
	md := map[string]string{
		mdDescription: e.Description,
		mdHTTPStatus:  strconv.Itoa(e.HTTP),
	}
	if e.AttemptsLeft != nil {
		md[mdAttempts] = strconv.Itoa(*e.AttemptsLeft)
	}
	details := []protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: e.Code, Domain: Domain, Metadata: md}}
	if e.RetryAfterSeconds > 0 {
		details = append(details, &errdetails.RetryInfo{
			RetryDelay: durationpb.New(time.Duration(e.RetryAfterSeconds) * time.Second),
		})
	}
	withDetails, derr := st.WithDetails(details...)
	if derr != nil {
		return st
	}
	return withDetails
}

func isDomain(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// HasInfo reports whether st carries otpd's ErrorInfo, i.e. whether it came
// through ToStatus.
func HasInfo(st *status.Status) bool {
	for _, d := range st.Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok && i.GetDomain() == Domain {
			return true
		}
	}
	return false
}

// FromStatus reads a status back into an *Error: the REST gateway's view.
// Statuses without otpd ErrorInfo (transport errors, decode errors raised by
// the gateway itself) are mapped by their gRPC code.
func FromStatus(st *status.Status) *Error {
	var e *Error
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			if d.GetDomain() != Domain {
				continue
			}
			tmpl := ByCode(d.GetReason())
			c := Error{Code: d.GetReason(), GRPC: st.Code(), HTTP: 500}
			if tmpl != nil {
				c = *tmpl
			}
			if h, err := strconv.Atoi(d.GetMetadata()[mdHTTPStatus]); err == nil {
				c.HTTP = h
			}
			if desc := d.GetMetadata()[mdDescription]; desc != "" {
				c.Description = desc
			}
			if n, err := strconv.Atoi(d.GetMetadata()[mdAttempts]); err == nil {
				c.AttemptsLeft = &n
			}
			c.Message = st.Message()
			e = &c
		case *errdetails.RetryInfo:
			if e != nil {
				secs := int(d.GetRetryDelay().AsDuration().Round(time.Second) / time.Second)
				e.RetryAfterSeconds = max(secs, 1)
			}
		}
	}
	if e != nil {
		return e
	}
	return byGRPCCode(st)
}

func byGRPCCode(st *status.Status) *Error {
	var tmpl *Error
	switch st.Code() {
	case codes.InvalidArgument, codes.OutOfRange:
		// The gateway's own decode failures land here.
		return ErrBadRequest.With("The request body is not valid JSON for this operation")
	case codes.Unauthenticated, codes.PermissionDenied:
		tmpl = ErrUnauthorized
	case codes.NotFound:
		tmpl = ErrNotFound
	case codes.Unimplemented:
		tmpl = ErrUnimplemented
	case codes.Unavailable:
		tmpl = ErrUnavailable
	case codes.Canceled:
		return &Error{Code: "E010499", GRPC: codes.Canceled, HTTP: 499, Description: "Canceled", Message: "Request canceled"}
	case codes.DeadlineExceeded:
		return &Error{Code: "E010504", GRPC: codes.DeadlineExceeded, HTTP: 504, Description: "Timeout", Message: "Request timed out"}
	default:
		tmpl = ErrInternal
	}
	return tmpl
}
