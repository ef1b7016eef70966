package e2e

import (
	"runtime"
	"strings"
	"testing"
)

// TestVersionAndUsageExit: `version` and `--version` print the module
// version, the commit line and the Go version; an unknown command is a
// usage error (exit 2, as documented), naming the command.
func TestVersionAndUsageExit(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{args: []string{"version"}, stdout: []string{"skyplane ", "commit ", runtime.Version()}},
		{args: []string{"--version"}, stdout: []string{"skyplane ", "commit ", runtime.Version()}},
		{args: []string{"copy", "a", "b"}, code: 2, stderr: []string{`unknown command "copy"`, "skyplane --help"}},
		{args: []string{"version", "extra"}, code: 2, stderr: []string{"version takes 0 argument(s)"}},
		{args: nil, stdout: []string{"Available Commands", "version"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			s := newSandbox(t)
			r := s.run(nil, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, m := range tt.stdout {
				if !strings.Contains(r.stdout, m) {
					t.Errorf("stdout lacks %q:\n%s", m, r.stdout)
				}
			}
			for _, m := range tt.stderr {
				if !strings.Contains(r.stderr, m) {
					t.Errorf("stderr lacks %q:\n%s", m, r.stderr)
				}
			}
		})
	}
}
