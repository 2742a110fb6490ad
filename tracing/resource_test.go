package tracing

import (
	"context"
	"testing"

	"github.com/otpd/otpd/config"
)

func TestResourceNamesServiceAndVersion(t *testing.T) {
	env := func(m map[string]string) config.Env {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	get := func(m map[string]string) map[string]string {
		t.Setenv("OTEL_RESOURCE_ATTRIBUTES", m["OTEL_RESOURCE_ATTRIBUTES"]) // resource.WithFromEnv reads the process environment
		t.Setenv("OTEL_SERVICE_NAME", m["OTEL_SERVICE_NAME"])
		res, err := newResource(context.Background(), env(m), "v1.2.3")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, a := range res.Attributes() {
			out[string(a.Key)] = a.Value.Emit()
		}
		return out
	}
	if a := get(nil); a["service.name"] != "otpd" || a["service.version"] != "v1.2.3" {
		t.Errorf("defaults: %v", a)
	}
	a := get(map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "service.version=canary-7,deployment.environment=staging", "OTEL_SERVICE_NAME": "otpd-eu"})
	if a["service.name"] != "otpd-eu" || a["service.version"] != "canary-7" || a["deployment.environment"] != "staging" {
		t.Errorf("the environment does not win: %v", a)
	}
}
