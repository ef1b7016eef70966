package e2e

import (
	"os"
	"strings"
	"testing"
)

// TestConfigSetKeepsPythonSections: `config set` on a config file written
// by the Python original changes the one line it must and keeps every
// other byte: the [aws], [azure] and [gcp] sections with their keys
// (gcp_project_id among them) included.
func TestConfigSetKeepsPythonSections(t *testing.T) {
	s := newSandbox(t)
	python := "[aws]\naws_enabled = True\n\n" +
		"[azure]\nazure_enabled = False\nazure_subscription_id = 1234\n\n" +
		"[gcp]\ngcp_enabled = True\ngcp_project_id = my-project-123\n\n" +
		"[flags]\nautoconfirm = False\nnum_connections = 8\n"
	writeFile(t, s.path("config"), []byte(python))

	s.mustRun("config", "set", "num_connections", "16")
	s.mustRun("config", "set", "max_instances", "4")

	got, err := os.ReadFile(s.path("config"))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(python, "num_connections = 8\n", "num_connections = 16\nmax_instances = 4\n", 1)
	if string(got) != want {
		t.Errorf("config file after config set:\n%s\nwant:\n%s", got, want)
	}
	for key, v := range map[string]string{"num_connections": "16", "max_instances": "4", "autoconfirm": "false"} {
		if r := s.mustRun("config", "get", key); strings.TrimSpace(r.stdout) != v {
			t.Errorf("config get %s = %q, want %s", key, r.stdout, v)
		}
	}
}
