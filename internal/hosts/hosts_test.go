package hosts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGuXz4nJGe1l3o2KUMB3z0b2j3mF3Y2C8xZQ0dKp7F6r"

func TestParseValid(t *testing.T) {
	const file = `
defaults:
  user: sky
  identity_file: ~/.ssh/id_ed25519
  known_hosts: keys/known_hosts
regions:
  onprem:eu:
    - name: eu-1
      address: 203.0.113.10
    - name: eu-2
      address: eu-2.example.net
      port: 2222
      user: other
      data_address: 10.0.0.2
      data_ports: 40000-40009
  onprem:us:
    - name: us-1
      address: 198.51.100.7
      agent: true
      identity_file: ""
      host_key: "` + hostKey + `"
      known_hosts: ""
`
	inv, err := Parse([]byte(file), "/etc/sky/hosts.yaml", "/home/me")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(inv.RegionTags(), ","); got != "onprem:eu,onprem:us" {
		t.Fatalf("regions %s", got)
	}
	want := []Host{
		{Name: "eu-1", Region: "onprem:eu", Address: "203.0.113.10", Port: 22, User: "sky",
			IdentityFile: "/home/me/.ssh/id_ed25519", KnownHosts: "/etc/sky/keys/known_hosts", Line: 8},
		{Name: "eu-2", Region: "onprem:eu", Address: "eu-2.example.net", Port: 2222, User: "other",
			IdentityFile: "/home/me/.ssh/id_ed25519", KnownHosts: "/etc/sky/keys/known_hosts",
			DataAddress: "10.0.0.2", DataPorts: PortRange{40000, 40009}, Line: 10},
		{Name: "us-1", Region: "onprem:us", Address: "198.51.100.7", Port: 22, User: "sky", Agent: true,
			HostKey: hostKey, Line: 17},
	}
	got := append(append([]Host{}, inv.Hosts("onprem:eu")...), inv.Hosts("onprem:us")...)
	if len(got) != len(want) {
		t.Fatalf("got %d hosts, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("host %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if a := got[1].SSHAddr(); a != "eu-2.example.net:2222" {
		t.Errorf("SSHAddr %s", a)
	}
	if d := got[1].DataHost(); d != "10.0.0.2" {
		t.Errorf("DataHost %s", d)
	}
	if d := got[0].DataHost(); d != "203.0.113.10" {
		t.Errorf("DataHost %s", d)
	}
}

func TestParseErrors(t *testing.T) {
	const head = "regions:\n  r1:\n    - name: a\n      address: 10.0.0.1\n      user: u\n      identity_file: /k\n      known_hosts: /kh\n"
	cases := []struct {
		name, file, want string
	}{
		{"empty", "", "empty hosts file"},
		{"not a map", "- a\n", "want a map with regions"},
		{"unknown top key", "hosts: []\n", `:1: unknown key "hosts"`},
		{"no regions", "defaults:\n  user: u\n", "regions: missing or empty"},
		{"region not a list", "regions:\n  r1: {}\n", `:2: region "r1": want a list of hosts`},
		{"bad tag", "regions:\n  \"r 1\":\n    - name: a\n", `region tag "r 1"`},
		{"unknown field", head + "      colour: red\n", `:8: unknown field "colour"`},
		{"port type", head + "      port: twenty\n", ":8: field port: cannot unmarshal"},
		{"port range", head + "      port: 70000\n", "host a: port: 70000: want 1..65535"},
		{"missing name", "regions:\n  r1:\n    - address: x\n", ":3: host (unnamed): name: missing"},
		{"missing address", "regions:\n  r1:\n    - name: a\n", "host a: address: missing"},
		{"address with port", "regions:\n  r1:\n    - name: a\n      address: u@h\n", `address: "u@h": want an IP or DNS name`},
		{"missing user", "regions:\n  r1:\n    - name: a\n      address: h\n", "host a: user: missing"},
		{"no auth", "regions:\n  r1:\n    - name: a\n      address: h\n      user: u\n", "identity_file: missing: name a private key, or set agent: true"},
		{"both auths", head + "      agent: true\n", "identity_file: set together with agent: true"},
		{"no host key", "regions:\n  r1:\n    - name: a\n      address: h\n      user: u\n      agent: true\n", "known_hosts: missing"},
		{"both host keys", head + "      host_key: \"" + hostKey + "\"\n", "host_key: set together with known_hosts"},
		{"bad host key", "regions:\n  r1:\n    - name: a\n      address: h\n      user: u\n      agent: true\n      host_key: nope\n", "host_key: not a public key"},
		{"bad data address", head + "      data_address: ten\n", `data_address: "ten": want an IP address`},
		{"bad data ports", head + "      data_ports: 9-1\n", `data_ports: "9-1": want PORT or LOW-HIGH`},
		{"duplicate name", head + "    - name: a\n      address: h2\n      user: u\n      agent: true\n      known_hosts: /kh\n", `:8: host name "a" already used at line 3`},
		{"name in defaults", "defaults:\n  name: x\nregions:\n  r1:\n    - name: a\n", "defaults: name and address are per host"},
		{"yaml syntax", "regions:\n  r1:\n   - name: [\n", "hosts.yaml: yaml:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.file), "/x/hosts.yaml", "/home/me")
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "/x/hosts.yaml") {
				t.Fatalf("error %q, want it to name the file and contain %q", err, c.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.yaml"), "/home/me")
	if !os.IsNotExist(err) && (err == nil || !strings.Contains(err.Error(), "no such file")) {
		t.Fatalf("err %v", err)
	}
}
