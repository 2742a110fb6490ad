package server_test

import (
	"encoding/json"
	"testing"
)

// Management keys of the test project: the current one and the one being
// rotated in (both active).
const (
	mgmtKey        = "mk-current-0123456789abcdef0123456789"
	mgmtKeyRotated = "mk-rotated-0123456789abcdef0123456789"
)

// withMgmtKeys gives the first project management keys (as the config
// reads them from OTPD_MANAGEMENT_KEYS or a file).
func withMgmtKeys(entries ...string) envOption {
	return func(s *envSetup) { s.cfg.Projects[0].ManagementKeys = entries }
}

// defaultMgmtKeys: the current key named "current", the rotated one bare.
func defaultMgmtKeys() envOption { return withMgmtKeys("current="+mgmtKey, mgmtKeyRotated) }

// mgmt calls the management API with the current key.
func (e *env) mgmt(method, path, body string) (int, map[string]any) {
	e.t.Helper()
	return e.do(method, path, body, "Bearer "+e.project+":"+mgmtKey)
}

// mustMgmt is mgmt that fails the test unless the answer is 200.
func (e *env) mustMgmt(method, path, body string) map[string]any {
	e.t.Helper()
	s, b := e.mgmt(method, path, body)
	if s != 200 {
		e.t.Fatalf("%s %s: %d %v\n%s", method, path, s, b, grepLines(e.logs.String(), `"level":"ERROR"`))
	}
	return b
}

// rawJSON sends a call and decodes any JSON answer (arrays too).
func (e *env) rawJSON(method, path, body, auth string, hdr map[string]string) (int, any) {
	e.t.Helper()
	resp, raw := e.send(method, path, body, auth, hdr)
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("%s %s: body is not JSON: %q", method, path, raw)
	}
	return resp.StatusCode, out
}

func userOf(t *testing.T, b map[string]any) map[string]any {
	t.Helper()
	u, ok := b["user"].(map[string]any)
	if !ok {
		t.Fatalf("no user in %v", b)
	}
	return u
}

func errCodeOf(b map[string]any) string { s, _ := b["errorCode"].(string); return s }

// raw2 is rawJSON for calls that answer a JSON object.
func (e *env) raw2(method, path, auth string, hdr map[string]string) (int, any) {
	e.t.Helper()
	return e.rawJSON(method, path, "", auth, hdr)
}
