package aws

import (
	"fmt"
	"strings"
	"time"
)

// QuotaError is a VM the account's quota does not allow: it names the quota,
// the region and where to raise it.
type QuotaError struct {
	Region    string
	Class     string
	Quota     string // the quota's name in Service Quotas
	QuotaCode string // e.g. L-1216C47A
	Console   string // the page that raises it
	Err       error
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("aws %s: quota %q (%s) does not allow another %s; raise it at %s (or choose a smaller aws_instance_class or fewer gateways): %v",
		e.Region, e.Quota, e.QuotaCode, e.Class, e.Console, e.Err)
}
func (e *QuotaError) Unwrap() error { return e.Err }

// family maps an instance class's family to its vCPU quota: on-demand code,
// spot code, and the group's name in Service Quotas.
var families = []struct {
	prefixes       []string
	onDemand, spot string
	group          string
}{
	{[]string{"g", "vt"}, "L-DB2E81BA", "L-3819A6DF", "G and VT"},
	{[]string{"p"}, "L-417A185B", "L-7212CCBC", "P"},
	{[]string{"x"}, "L-7295265B", "L-E3A00192", "X"},
	{[]string{"f"}, "L-74FC7D96", "L-88CF9481", "F"},
	{[]string{"inf"}, "L-1945791B", "L-B5D1601B", "Inf"},
	{[]string{"dl"}, "L-6E869C2A", "L-85EED4F7", "DL"},
	{[]string{"trn"}, "L-2C3B7624", "L-6B0D517C", "Trn"},
}

func quotaError(region, class string, spot bool, err error) *QuotaError {
	code, group := "L-1216C47A", "Standard (A, C, D, H, I, M, R, T, Z)"
	if spot {
		code = "L-34B43A08"
	}
	fam := strings.ToLower(class)
	if i := strings.IndexAny(fam, "0123456789."); i > 0 {
		fam = fam[:i]
	}
	for _, f := range families {
		for _, pre := range f.prefixes {
			if fam == pre {
				code, group = f.onDemand, f.group
				if spot {
					code = f.spot
				}
			}
		}
	}
	name := "Running On-Demand " + group + " instances"
	if spot {
		name = "All " + group + " Spot Instance Requests"
	}
	return &QuotaError{Region: region, Class: class, Quota: name, QuotaCode: code, Err: err,
		Console: fmt.Sprintf("https://%s.console.aws.amazon.com/servicequotas/home/services/ec2/quotas/%s", region, code)}
}

// userData is the VM's cloud-init: the host key the client pins (so no
// first-seen key is ever trusted) and the shutdown timer that, with
// shutdown behaviour terminate, deletes the VM even if the client never
// comes back.
func userData(host *keyPair, shutdown time.Duration) []byte {
	var b strings.Builder
	b.WriteString("#cloud-config\nssh_deletekeys: true\nssh_genkeytypes: []\nssh_keys:\n  ed25519_private: |\n")
	for _, line := range strings.Split(strings.TrimSpace(string(host.privPEM)), "\n") {
		b.WriteString("    " + line + "\n")
	}
	fmt.Fprintf(&b, "  ed25519_public: %s\n", host.authorized)
	minutes := max(1, int(shutdown.Minutes()))
	fmt.Fprintf(&b, "bootcmd:\n  - [shutdown, -P, \"+%d\"]\n", minutes)
	return []byte(b.String())
}
