package ssh

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/skyplane-project/skyplane-go/internal/compute"
	"github.com/skyplane-project/skyplane-go/internal/hosts"
)

func TestPlatform(t *testing.T) {
	for _, c := range []struct{ uname, want string }{
		{"Linux x86_64\n", "linux/amd64"},
		{"Linux aarch64", "linux/arm64"},
		{"Darwin arm64", "darwin/arm64"},
		{"Linux riscv64", "linux/riscv64"},
		{"", "unknown()"},
	} {
		if got := platform(c.uname); got != c.want {
			t.Errorf("platform(%q) = %s, want %s", c.uname, got, c.want)
		}
	}
}

func TestPlace(t *testing.T) {
	const file = `
defaults: {user: u, identity_file: /k, known_hosts: /kh}
regions:
  a:
    - {name: a1, address: 10.0.0.1, data_ports: 4000-4001}
    - {name: a2, address: 10.0.0.2}
  b:
    - {name: b1, address: 10.0.1.1, data_ports: "5000"}
`
	inv, err := hosts.Parse([]byte(file), "/x/hosts.yaml", "/h")
	if err != nil {
		t.Fatal(err)
	}
	p := New(inv, Options{})
	spec := func(ids ...string) []compute.Spec {
		var out []compute.Spec
		for _, id := range ids {
			r, _, _ := strings.Cut(id, "-")
			out = append(out, compute.Spec{ID: id, Region: r})
		}
		return out
	}
	for _, c := range []struct {
		name  string
		specs []compute.Spec
		want  string // host:port per spec
		err   string
	}{
		{"round robin", spec("a-0", "a-1", "a-2", "b-0"), "a1:4000 a2:0 a1:4001 b1:5000", ""},
		{"ports exhausted", spec("b-0", "b-1"), "", "host b1: 2 gateways do not fit its data_ports 5000-5000"},
		{"no such region", spec("c-0"), "", `gateway c-0: region "c" has no hosts in /x/hosts.yaml`},
	} {
		t.Run(c.name, func(t *testing.T) {
			hs, ports, err := p.place(c.specs)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i := range hs {
				got = append(got, fmt.Sprintf("%s:%d", hs[i].Name, ports[i]))
			}
			if strings.Join(got, " ") != c.want {
				t.Fatalf("placed %v, want %s", got, c.want)
			}
		})
	}
}

// TestHostKeyAlgorithms: the client asks for the algorithms of the keys on
// record, so a host with several keys presents the recorded one.
func TestHostKeyAlgorithms(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := gossh.NewPublicKey(pub)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	line := "[h.example]:2222 " + string(gossh.MarshalAuthorizedKey(k))
	if err := os.WriteFile(kh, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		host hosts.Host
		want []string
	}{
		{"known_hosts entry", hosts.Host{Address: "h.example", Port: 2222, KnownHosts: kh}, []string{gossh.KeyAlgoED25519}},
		{"no entry", hosts.Host{Address: "other.example", Port: 22, KnownHosts: kh}, nil},
		{"pinned", hosts.Host{Address: "h.example", Port: 22, HostKey: string(gossh.MarshalAuthorizedKey(k))}, []string{gossh.KeyAlgoED25519}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, algos, err := hostKeyCallback(c.host)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(algos, c.want) {
				t.Fatalf("algorithms %v, want %v", algos, c.want)
			}
		})
	}
}
