package flow_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/otpd/otpd/config"
	"github.com/otpd/otpd/flow"
)

// TestLimitNamesAreConfigKeys: every name a refusal, a log line or a metric
// reports is the key of a setting under a project's limits:, so an operator
// can find what to change (issue 22: "sendsPerIp", not "sends_per_ip").
func TestLimitNamesAreConfigKeys(t *testing.T) {
	keys := map[string]bool{}
	lt := reflect.TypeFor[config.Limits]()
	for i := range lt.NumField() {
		name, _, _ := strings.Cut(lt.Field(i).Tag.Get("json"), ",")
		keys[name] = true
	}
	for _, n := range []string{flow.LimitSendsPerLoginID, flow.LimitSendsPerRecipient, flow.LimitResendCooldown,
		flow.LimitSendsPerIP, flow.LimitSendsPerPrefix, flow.LimitSendsPerCountry, flow.LimitProjectBudget,
		flow.LimitVerifiesPerIP, flow.LimitVerifiesPerID, flow.LimitRefreshesPerIP, flow.LimitRefreshesPerUser} {
		if !keys[n] {
			t.Errorf("limit name %q is not a key of config.Limits", n)
		}
	}
}
