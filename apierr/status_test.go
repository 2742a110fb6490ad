package apierr_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/otpd/otpd/apierr"
)

func TestRoundTripEveryError(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, e := range apierr.All() {
		if seen[e.Code] {
			t.Errorf("code %s defined twice", e.Code)
		}
		seen[e.Code] = true
		if e.HTTP == 503 && e != apierr.ErrUnavailable && e != apierr.ErrOverloaded {
			t.Errorf("%s uses 503, which the SDKs retry; only real unavailability (a dependency down, the request budget spent) may", e.Code)
		}
		wrapped := fmt.Errorf("context: %w", e.With("detail %d", 7))
		st := apierr.ToStatus(wrapped)
		if st.Code() != e.GRPC || st.Message() != "detail 7" {
			t.Errorf("%s: status %s %q", e.Code, st.Code(), st.Message())
		}
		back := apierr.FromStatus(st)
		if back.Code != e.Code || back.HTTP != e.HTTP || back.Description != e.Description || back.Message != "detail 7" {
			t.Errorf("%s: round trip gave %+v", e.Code, back)
		}
		if !errors.Is(wrapped, e) {
			t.Errorf("%s: errors.Is fails through With and wrapping", e.Code)
		}
	}
}

func TestRetryAfterSurvives(t *testing.T) {
	t.Parallel()
	e := *apierr.ErrUnavailable
	e.RetryAfterSeconds = 30
	if got := apierr.FromStatus(apierr.ToStatus(&e)).RetryAfterSeconds; got != 30 {
		t.Fatalf("RetryAfterSeconds = %d, want 30", got)
	}
}

func TestInternalErrorsDoNotLeak(t *testing.T) {
	t.Parallel()
	st := apierr.ToStatus(errors.New("redis: password=hunter2 refused"))
	if st.Code() != codes.Internal || st.Message() != apierr.ErrInternal.Message {
		t.Fatalf("got %s %q", st.Code(), st.Message())
	}
	// A status without otpd details (the gateway's own decode errors) maps by code.
	if e := apierr.FromStatus(status.New(codes.InvalidArgument, "bad json at offset 3")); e.Code != "E011001" {
		t.Fatalf("gateway decode error mapped to %s", e.Code)
	}
}

// TestRedisTimeoutIsUnavailable: a Redis command that ran out of otpd's own
// per-command deadline reaches ToStatus as ErrUnavailable joined with
// context.DeadlineExceeded; the caller must get 503 E010503 (retried by the
// SDKs), not 504. A bare context error keeps its own code.
func TestRedisTimeoutIsUnavailable(t *testing.T) {
	t.Parallel()
	st := apierr.ToStatus(errors.Join(apierr.ErrUnavailable, fmt.Errorf("store: unavailable: %w", context.DeadlineExceeded)))
	if st.Code() != codes.Unavailable || apierr.FromStatus(st).Code != "E010503" {
		t.Fatalf("Redis timeout: %s %+v, want Unavailable E010503", st.Code(), apierr.FromStatus(st))
	}
	if st := apierr.ToStatus(fmt.Errorf("x: %w", context.DeadlineExceeded)); st.Code() != codes.DeadlineExceeded {
		t.Fatalf("bare deadline: %s", st.Code())
	}
	if st := apierr.ToStatus(context.Canceled); st.Code() != codes.Canceled {
		t.Fatalf("bare cancel: %s", st.Code())
	}
}
