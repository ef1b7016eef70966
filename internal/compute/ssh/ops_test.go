package ssh

import (
	"bytes"
	"strings"
	"testing"
)

// TestShell runs commands on a lab host through Shell: plainly, and asking
// for a terminal, which the lab's sshd refuses (PermitTTY no), so the
// command runs without one; an unknown host is an error naming it.
func TestShell(t *testing.T) {
	l := lab(t)
	h := l.Hosts["r1-h1"]
	inv := l.inventory(t, "", map[string][]string{"aws:lab-r1": {h.Name}}, "")
	cases := []struct {
		name, host string
		terminal   bool
		want       string // on stdout; "" wants an error
	}{
		{name: "command", host: h.Name, want: "user=" + h.User},
		{name: "terminal refused", host: h.Name, terminal: true, want: "user=" + h.User},
		{name: "unknown host", host: "nope"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := Shell(t.Context(), inv, Options{}, c.host, "echo user=$(id -un)", ShellIO{Stdout: &out, Stderr: &errb, Terminal: c.terminal})
			if c.want == "" {
				if err == nil || !strings.Contains(err.Error(), `no host "nope"`) {
					t.Errorf("err = %v, want one naming the host", err)
				}
				return
			}
			if err != nil || strings.TrimSpace(out.String()) != c.want {
				t.Errorf("out %q, err %v (stderr %q), want %q", out.String(), err, errb.String(), c.want)
			}
		})
	}
}
