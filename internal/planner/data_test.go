package planner

import (
	"errors"
	"strings"
	"testing"
)

// The expected prices are those of the providers' pricing pages as of
// 2024-06-01 (first tier), as docs/planner.md cites them.
func TestEgressPrices(t *testing.T) {
	d, err := DefaultData()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		src, dst string
		want     float64
	}{
		{"aws intra-region", "aws:us-east-1", "aws:us-east-1", 0},
		{"aws inter-region us", "aws:us-east-1", "aws:us-west-2", 0.02},
		{"aws us-east-1 to us-east-2", "aws:us-east-1", "aws:us-east-2", 0.01},
		{"aws inter-region europe", "aws:eu-west-1", "aws:eu-central-1", 0.02},
		{"aws inter-region from tokyo", "aws:ap-northeast-1", "aws:us-east-1", 0.09},
		{"aws inter-region from sao paulo", "aws:sa-east-1", "aws:us-east-1", 0.138},
		{"aws cross-cloud", "aws:us-east-1", "gcp:us-central1", 0.09},
		{"aws cross-cloud from seoul", "aws:ap-northeast-2", "azure:eastus", 0.126},
		{"aws internet", "aws:us-west-2", "internet", 0.09},
		{"aws internet from cape town", "aws:af-south-1", "internet", 0.154},

		{"gcp intra-region", "gcp:us-central1", "gcp:us-central1", 0},
		{"gcp intra-region from a zone", "gcp:us-central1-a", "gcp:us-central1", 0},
		{"gcp inter-region north america", "gcp:us-central1", "gcp:us-east4", 0.02},
		{"gcp inter-region europe", "gcp:europe-west1", "gcp:europe-west4", 0.02},
		{"gcp inter-region asia", "gcp:asia-east1", "gcp:asia-northeast1", 0.05},
		{"gcp intercontinental", "gcp:us-central1", "gcp:europe-west1", 0.08},
		{"gcp to oceania", "gcp:us-central1", "gcp:australia-southeast1", 0.15},
		{"gcp from oceania", "gcp:australia-southeast1", "gcp:asia-east1", 0.15},
		{"gcp within oceania", "gcp:australia-southeast1", "gcp:australia-southeast2", 0.08},
		{"gcp cross-cloud", "gcp:us-central1", "aws:us-east-1", 0.12},
		{"gcp cross-cloud to australia", "gcp:us-central1", "aws:ap-southeast-2", 0.19},
		{"gcp internet", "gcp:europe-west1", "internet", 0.12},
		{"gcp internet from tokyo", "gcp:asia-northeast1", "internet", 0.14},

		{"azure intra-region", "azure:eastus", "azure:eastus", 0},
		{"azure inter-region north america", "azure:eastus", "azure:westus2", 0.02},
		{"azure inter-region europe", "azure:westeurope", "azure:northeurope", 0.02},
		{"azure intercontinental from north america", "azure:eastus", "azure:westeurope", 0.05},
		{"azure inter-region asia", "azure:japaneast", "azure:koreacentral", 0.08},
		{"azure intercontinental from asia", "azure:japaneast", "azure:eastus", 0.08},
		{"azure cross-cloud", "azure:eastus", "aws:us-east-1", 0.087},
		{"azure cross-cloud from oceania", "azure:australiaeast", "gcp:us-central1", 0.12},
		{"azure internet", "azure:westeurope", "internet", 0.087},

		{"local", "local:src", "local:dst", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, row, err := d.EgressPrice(tt.src, tt.dst)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("EgressPrice(%s, %s) = %v (row %s,%s at %s), want %v", tt.src, tt.dst, got, row.A, row.B, row.Where, tt.want)
			}
		})
	}
}

func TestVMPricesAndCaps(t *testing.T) {
	d, err := DefaultData()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		region, class   string
		price           float64
		egress, ingress float64
	}{
		{"aws:us-east-1", "m5.8xlarge", 1.536, 5, 10},
		{"gcp:us-central1-a", "n2-standard-32", 1.554, 7, 16},
		{"azure:eastus", "Standard_D32_v5", 1.536, 16, 16},
		{"local:src", "any", 0, 10, 10},
	}
	for _, tt := range tests {
		t.Run(tt.region, func(t *testing.T) {
			p, _, err := d.VMPrice(tt.region, tt.class)
			if err != nil || p != tt.price {
				t.Errorf("VMPrice = %v, %v; want %v", p, err, tt.price)
			}
			e, i, err := d.Caps(tt.region)
			if err != nil || e != tt.egress || i != tt.ingress {
				t.Errorf("Caps = %v, %v, %v; want %v, %v", e, i, err, tt.egress, tt.ingress)
			}
		})
	}
	if _, _, err := d.VMPrice("aws:us-east-1", "p5.48xlarge"); !errors.Is(err, ErrNoData) || !strings.Contains(err.Error(), "planner_data_file") {
		t.Errorf("unknown class: %v", err)
	}
}

func TestThroughputGrid(t *testing.T) {
	d, err := DefaultData()
	if err != nil {
		t.Fatal(err)
	}
	regions := d.Regions()
	if len(regions) < 60 {
		t.Fatalf("%d regions", len(regions))
	}
	// Every ordered pair has a row, and says where it comes from.
	for _, a := range regions {
		for _, b := range regions {
			g, row, ok := d.Throughput(a, b)
			if !ok || g <= 0 || (row.Source != "measured" && row.Source != "modelled") {
				t.Fatalf("%s → %s: %v %+v %v", a, b, g, row, ok)
			}
			if (a == b) != (row.Source == "modelled") && !(a == b && a == "azure:germanywestcentral") {
				t.Errorf("%s → %s is %s", a, b, row.Source)
			}
		}
	}
	if g, _, _ := d.Throughput("gcp:us-central1-a", "gcp:us-central1"); g != 16 {
		t.Errorf("gcp intra-region = %v, want the modelled 16", g)
	}
}

func TestOverride(t *testing.T) {
	user := `# mine
throughput,aws:us-east-1,gcp:us-central1,1.5,iperf3 by me
egress,aws:us-east-1,*,0.05,my contract
vm,aws:us-east-1,m5.8xlarge,1.0,reserved
throughput,lab:a,lab:b,2,lab
`
	d, err := LoadData(strings.NewReader(user), "mine.csv")
	if err != nil {
		t.Fatal(err)
	}
	if g, row, _ := d.Throughput("aws:us-east-1", "gcp:us-central1"); g != 1.5 || row.Where != "mine.csv:2" {
		t.Errorf("throughput = %v from %s", g, row.Where)
	}
	if p, _, _ := d.EgressPrice("aws:us-east-1", "internet"); p != 0.05 {
		t.Errorf("internet egress = %v", p)
	}
	// A user's "any destination" row does not beat the shipped inter-region row.
	if p, _, _ := d.EgressPrice("aws:us-east-1", "aws:us-west-2"); p != 0.02 {
		t.Errorf("inter-region egress = %v", p)
	}
	if p, _, _ := d.VMPrice("aws:us-east-1", "m5.8xlarge"); p != 1.0 {
		t.Errorf("vm = %v", p)
	}
	if g, _, ok := d.Throughput("lab:a", "lab:b"); !ok || g != 2 {
		t.Errorf("new pair = %v %v", g, ok)
	}
}

func TestBadData(t *testing.T) {
	tests := []struct{ name, line, want string }{
		{"unknown kind", "speed,a,b,1,x", "unknown kind"},
		{"negative", "egress,a,b,-1,x", "≥ 0"},
		{"not a number", "vm,aws:*,m5,cheap,x", "number"},
		{"short", "egress,a", "kind,a,b,value,source"},
		{"pattern in grid", "throughput,aws:*,gcp:x,1,x", "not patterns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadData(strings.NewReader("# x\n"+tt.line+"\n"), "f.csv")
			if !errors.Is(err, ErrBadData) || !strings.Contains(err.Error(), "f.csv:2") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want f.csv:2 and %q", err, tt.want)
			}
		})
	}
}
