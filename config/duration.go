package config

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Duration is a time.Duration written as "5m", "90s" in files.
type Duration time.Duration

// UnmarshalJSON reads "5m" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q", s)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("duration must be a string like \"5m\" or a number of seconds")
	}
	// Converting an out-of-range float is implementation-defined (amd64
	// gives a negative duration, arm64 the largest): refuse it instead.
	if secs > maxDurationSecs || secs < -maxDurationSecs {
		return fmt.Errorf("duration %g seconds is out of range", secs)
	}
	*d = Duration(time.Duration(secs * float64(time.Second)))
	return nil
}

// maxDurationSecs is about the longest time.Duration, in seconds (292 years).
const maxDurationSecs = float64(math.MaxInt64/int64(time.Second)) - 1

// MarshalJSON writes the Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
