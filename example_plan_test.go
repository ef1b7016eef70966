package skyplane_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/skyplane-project/skyplane-go"
)

// PlanRegions plans between regions without buckets: here the least-cost
// plan that reaches 8 Gbit/s, with up to 4 gateways per region.
func ExampleClient_PlanRegions() {
	client := skyplane.NewClient(skyplane.DefaultConfig())
	p, err := client.PlanRegions(context.Background(), "aws:us-east-1", []string{"gcp:europe-west1"},
		skyplane.PlanOptions{Solver: "ilp", TargetGbps: 8, Gateways: 4, Bytes: 1 << 40})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s plan: %.0f Gbit/s, runs now: %v\n", p.Solver, p.ThroughputGbps, p.Executable)
	fmt.Printf("egress $%.2f\n", p.Estimate.EgressUSD)

	// A target out of reach says what is reachable.
	_, err = client.PlanRegions(context.Background(), "aws:us-east-1", []string{"gcp:europe-west1"},
		skyplane.PlanOptions{Solver: "ilp", TargetGbps: 100, Gateways: 1})
	var te *skyplane.TargetError
	fmt.Println(errors.As(err, &te), errors.Is(err, skyplane.ErrInvalidInput), te.BestGbps < 100)
	// Output:
	// ilp plan: 8 Gbit/s, runs now: true
	// egress $92.16
	// true true true
}
