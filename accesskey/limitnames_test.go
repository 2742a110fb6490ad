package accesskey

import (
	"reflect"
	"strings"
	"testing"

	"github.com/otpd/otpd/config"
)

// TestLimitNamesAreConfigKeys: the names a refusal, a log line and the
// refusals metric report are keys of a project's limits: settings.
func TestLimitNamesAreConfigKeys(t *testing.T) {
	keys := map[string]bool{}
	lt := reflect.TypeFor[config.Limits]()
	for i := range lt.NumField() {
		name, _, _ := strings.Cut(lt.Field(i).Tag.Get("json"), ",")
		keys[name] = true
	}
	for _, n := range []string{LimitPerKey, LimitPerIP} {
		if !keys[n] {
			t.Errorf("limit name %q is not a key of config.Limits", n)
		}
	}
}
