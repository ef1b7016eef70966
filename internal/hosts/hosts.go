// Package hosts reads the inventory of machines skyplane may run gateways on
// over SSH: hosts grouped by region tag. The file is YAML:
//
//	defaults:                      # optional; every field of a host but name/address
//	  user: skyplane
//	  identity_file: ~/.ssh/id_ed25519
//	  known_hosts: ~/.ssh/known_hosts
//	regions:
//	  onprem:eu-west:              # region tag, as plans name regions
//	    - name: eu-1               # unique across the file
//	      address: 203.0.113.10    # where SSH reaches it (IP or DNS name)
//	      port: 22                 # SSH port (default 22)
//	      user: skyplane           # SSH user
//	      identity_file: ~/.ssh/id_ed25519   # private key, or:
//	      agent: true              # use the ssh-agent the caller names
//	      known_hosts: ~/.ssh/known_hosts    # file with the host's key, or:
//	      host_key: "ssh-ed25519 AAAA..."    # the key itself
//	      data_address: 10.0.0.10  # optional: address peers send data to
//	      data_ports: 40000-40099  # optional: ports gateways may listen on
//
// "~/" expands against the home directory the caller passes; relative paths
// are relative to the inventory file. Errors name the file, line and field.
package hosts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
	"gopkg.in/yaml.v3"
)

// Inventory is a parsed hosts file.
type Inventory struct {
	Path    string
	Regions map[string][]Host // region tag → hosts, in file order
}

// Host is one machine.
type Host struct {
	Name         string
	Region       string
	Address      string
	Port         int
	User         string
	IdentityFile string // absolute path, empty when Agent
	Agent        bool
	KnownHosts   string // absolute path, empty when HostKey is set
	HostKey      string // authorized_keys-format public key
	DataAddress  string // empty: Address
	DataPorts    PortRange
	Line         int // where the host starts in the file
}

// PortRange is an inclusive range; the zero value means "any port".
type PortRange struct{ Lo, Hi int }

func (r PortRange) IsZero() bool { return r.Lo == 0 && r.Hi == 0 }

// SSHAddr is host:port for dialling.
func (h Host) SSHAddr() string {
	return strings.TrimSuffix(strings.TrimPrefix(h.Address, "["), "]") + ":" + strconv.Itoa(h.Port)
}

// DataHost is where peers reach this host's gateways.
func (h Host) DataHost() string {
	if h.DataAddress != "" {
		return h.DataAddress
	}
	return h.Address
}

// Hosts lists the region's hosts; nil if the region has none.
func (inv *Inventory) Hosts(region string) []Host { return inv.Regions[region] }

// RegionTags lists the regions in sorted order.
func (inv *Inventory) RegionTags() []string {
	tags := make([]string, 0, len(inv.Regions))
	for t := range inv.Regions {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	return tags
}

// fields is what a host entry and the defaults block may set.
type fields struct {
	Name         *string `yaml:"name"`
	Address      *string `yaml:"address"`
	Port         *int    `yaml:"port"`
	User         *string `yaml:"user"`
	IdentityFile *string `yaml:"identity_file"`
	Agent        *bool   `yaml:"agent"`
	KnownHosts   *string `yaml:"known_hosts"`
	HostKey      *string `yaml:"host_key"`
	DataAddress  *string `yaml:"data_address"`
	DataPorts    *string `yaml:"data_ports"`
}

// Load reads and validates an inventory file. home expands "~/".
func Load(path, home string) (*Inventory, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hosts file: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("hosts file: %w", err)
	}
	return Parse(b, abs, home)
}

// Parse validates an inventory read from path (used to name it in errors
// and to resolve relative paths).
func Parse(data []byte, path, home string) (*Inventory, error) {
	p := parser{path: path, home: home, dir: filepath.Dir(path)}
	return p.parse(data)
}

type parser struct{ path, home, dir string }

// errAt is a validation error at a line of the file.
func (p parser) errAt(line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", p.path, line, fmt.Sprintf(format, args...))
}

var tagRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]*$`)

func (p parser) parse(data []byte) (*Inventory, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty hosts file: want a regions: map of region tag to hosts", p.path)
		}
		return nil, fmt.Errorf("%s: %w", p.path, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, p.errAt(doc.Line, "want a map with regions: (and optionally defaults:)")
	}
	top := doc.Content[0]
	var defaults fields
	var regions *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		switch k.Value {
		case "defaults":
			if err := p.decodeFields(v, &defaults); err != nil {
				return nil, err
			}
			if defaults.Name != nil || defaults.Address != nil {
				return nil, p.errAt(v.Line, "defaults: name and address are per host")
			}
		case "regions":
			regions = v
		default:
			return nil, p.errAt(k.Line, "unknown key %q: want defaults or regions", k.Value)
		}
	}
	if regions == nil || regions.Kind != yaml.MappingNode || len(regions.Content) == 0 {
		return nil, p.errAt(top.Line, "regions: missing or empty: want a map of region tag to a list of hosts")
	}
	inv := &Inventory{Path: p.path, Regions: map[string][]Host{}}
	names := map[string]int{}
	for i := 0; i+1 < len(regions.Content); i += 2 {
		k, v := regions.Content[i], regions.Content[i+1]
		tag := k.Value
		if !tagRE.MatchString(tag) {
			return nil, p.errAt(k.Line, "region tag %q: letters, digits and _.:- only, e.g. onprem:eu-west", tag)
		}
		if _, dup := inv.Regions[tag]; dup {
			return nil, p.errAt(k.Line, "region %q listed twice", tag)
		}
		if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
			return nil, p.errAt(v.Line, "region %q: want a list of hosts (- name: ...)", tag)
		}
		for _, hn := range v.Content {
			var f fields
			if err := p.decodeFields(hn, &f); err != nil {
				return nil, err
			}
			h, err := p.host(tag, hn.Line, merge(defaults, f))
			if err != nil {
				return nil, err
			}
			if prev, dup := names[h.Name]; dup {
				return nil, p.errAt(hn.Line, "host name %q already used at line %d: names must be unique", h.Name, prev)
			}
			names[h.Name] = hn.Line
			inv.Regions[tag] = append(inv.Regions[tag], h)
		}
	}
	return inv, nil
}

// decodeFields decodes a mapping strictly: unknown keys are errors.
func (p parser) decodeFields(n *yaml.Node, f *fields) error {
	if n.Kind != yaml.MappingNode {
		return p.errAt(n.Line, "want a map of host fields (name, address, user, ...)")
	}
	known := map[string]bool{"name": true, "address": true, "port": true, "user": true, "identity_file": true,
		"agent": true, "known_hosts": true, "host_key": true, "data_address": true, "data_ports": true}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !known[k.Value] {
			return p.errAt(k.Line, "unknown field %q", k.Value)
		}
		var one fields
		single := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{k, v}}
		if err := single.Decode(&one); err != nil {
			return p.errAt(v.Line, "field %s: %v", k.Value, typeErr(err))
		}
	}
	if err := n.Decode(f); err != nil {
		return p.errAt(n.Line, "%v", typeErr(err))
	}
	return nil
}

// typeErr shortens yaml's "yaml: unmarshal errors:\n  line N: ..." text.
func typeErr(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		s := te.Errors[0]
		if _, rest, ok := strings.Cut(s, ": "); ok && strings.HasPrefix(s, "line ") {
			return rest
		}
		return s
	}
	return err.Error()
}

func merge(d, f fields) fields {
	pick := func(dst **string, def *string) {
		if *dst == nil {
			*dst = def
		}
	}
	pick(&f.User, d.User)
	pick(&f.IdentityFile, d.IdentityFile)
	pick(&f.KnownHosts, d.KnownHosts)
	pick(&f.HostKey, d.HostKey)
	pick(&f.DataAddress, d.DataAddress)
	pick(&f.DataPorts, d.DataPorts)
	if f.Port == nil {
		f.Port = d.Port
	}
	if f.Agent == nil {
		f.Agent = d.Agent
	}
	return f
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return strings.TrimSpace(*p)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

func (p parser) host(region string, line int, f fields) (Host, error) {
	h := Host{Region: region, Line: line, Name: str(f.Name), Address: str(f.Address), User: str(f.User),
		Port: 22, DataAddress: str(f.DataAddress), HostKey: str(f.HostKey)}
	at := func(field, format string, args ...any) error {
		who := h.Name
		if who == "" {
			who = "(unnamed)"
		}
		return p.errAt(line, "host %s: %s: %s", who, field, fmt.Sprintf(format, args...))
	}
	if h.Name == "" {
		return h, at("name", "missing: every host needs a unique name")
	}
	if !nameRE.MatchString(h.Name) {
		return h, at("name", "%q: letters, digits and _.- only", h.Name)
	}
	if h.Address == "" {
		return h, at("address", "missing: the IP or DNS name SSH connects to")
	}
	if strings.ContainsAny(h.Address, " /@") {
		return h, at("address", "%q: want an IP or DNS name (port goes in port:, user in user:)", h.Address)
	}
	if f.Port != nil {
		h.Port = *f.Port
	}
	if h.Port < 1 || h.Port > 65535 {
		return h, at("port", "%d: want 1..65535", h.Port)
	}
	if h.User == "" {
		return h, at("user", "missing: set user: on the host or under defaults:")
	}
	h.Agent = f.Agent != nil && *f.Agent
	idf := str(f.IdentityFile)
	switch {
	case h.Agent && idf != "":
		return h, at("identity_file", "set together with agent: true: choose one")
	case !h.Agent && idf == "":
		return h, at("identity_file", "missing: name a private key, or set agent: true")
	case idf != "":
		h.IdentityFile = p.expand(idf)
	}
	kh := str(f.KnownHosts)
	switch {
	case kh != "" && h.HostKey != "":
		return h, at("host_key", "set together with known_hosts: choose one")
	case kh == "" && h.HostKey == "":
		return h, at("known_hosts", "missing: name a known_hosts file or give host_key (host keys are always verified)")
	case kh != "":
		h.KnownHosts = p.expand(kh)
	default:
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(h.HostKey)); err != nil {
			return h, at("host_key", "not a public key (want e.g. \"ssh-ed25519 AAAA...\"): %v", err)
		}
	}
	if h.DataAddress != "" {
		if _, err := netip.ParseAddr(h.DataAddress); err != nil {
			return h, at("data_address", "%q: want an IP address", h.DataAddress)
		}
	}
	if dp := str(f.DataPorts); dp != "" {
		r, err := parsePorts(dp)
		if err != nil {
			return h, at("data_ports", "%v", err)
		}
		h.DataPorts = r
	}
	return h, nil
}

func parsePorts(s string) (PortRange, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err1 := strconv.Atoi(strings.TrimSpace(lo))
	b := a
	var err2 error
	if isRange {
		b, err2 = strconv.Atoi(strings.TrimSpace(hi))
	}
	if err1 != nil || err2 != nil || a < 1 || b > 65535 || a > b {
		return PortRange{}, fmt.Errorf("%q: want PORT or LOW-HIGH within 1..65535, e.g. 40000-40099", s)
	}
	return PortRange{Lo: a, Hi: b}, nil
}

func (p parser) expand(path string) string {
	switch {
	case path == "~":
		return p.home
	case strings.HasPrefix(path, "~/"):
		return filepath.Join(p.home, path[2:])
	case filepath.IsAbs(path):
		return filepath.Clean(path)
	default:
		return filepath.Join(p.dir, path)
	}
}
