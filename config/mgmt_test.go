package config_test

import (
	"fmt"
	"testing"

	"github.com/otpd/otpd/config"
)

// TestManagementKeys: keys come from the environment or a file named by
// the config, never from the config file itself.
func TestManagementKeys(t *testing.T) {
	t.Parallel()
	c, err := config.Load(envOf(map[string]string{
		"OTPD_MANAGEMENT_KEYS":      "a=key-a-0123456789abcdef0123456789abcdef, key-b-0123456789abcdef0123456789abcdef",
		"OTPD_MANAGEMENT_KEYS_FILE": "/keys",
	}), filesOf(map[string]string{"/keys": "c=key-c-0123456789abcdef0123456789abcdef\n\n"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.Projects[0].ManagementKeys); got != "[a=key-a-0123456789abcdef0123456789abcdef key-b-0123456789abcdef0123456789abcdef c=key-c-0123456789abcdef0123456789abcdef]" {
		t.Fatalf("single project: %s", got)
	}
	file := `projects:
  - id: P1
    managementKeysEnv: P1_KEYS
  - id: P2
    managementKeysFile: /p2
  - id: P3
`
	c, err = config.Load(envOf(map[string]string{"OTPD_CONFIG": "/c.yaml", "P1_KEYS": "one-0123456789abcdef0123456789abcdef,two-0123456789abcdef0123456789abcdef"}),
		filesOf(map[string]string{"/c.yaml": file, "/p2": "three-0123456789abcdef0123456789abcdef"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.Projects[0].ManagementKeys, c.Projects[1].ManagementKeys, c.Projects[2].ManagementKeys); got != "[one-0123456789abcdef0123456789abcdef two-0123456789abcdef0123456789abcdef] [three-0123456789abcdef0123456789abcdef] []" {
		t.Fatalf("per project: %s", got)
	}
	// Keys inline in the config file are not a setting.
	_, err = config.Load(envOf(map[string]string{"OTPD_CONFIG": "/c.yaml"}),
		filesOf(map[string]string{"/c.yaml": "projects:\n  - id: P1\n    managementKeys: [secret]\n"}))
	if err == nil {
		t.Fatal("managementKeys in the config file was accepted")
	}
	// A named file that cannot be read stops the start.
	_, err = config.Load(envOf(map[string]string{"OTPD_MANAGEMENT_KEYS_FILE": "/missing"}), filesOf(nil))
	if err == nil {
		t.Fatal("a missing management keys file was accepted")
	}
}
