//go:build !skyplane_faults

package cli

import "github.com/skyplane-project/skyplane-go"

// faultOptions: the default build injects no faults (see faults_on.go).
func faultOptions() ([]skyplane.Option, error) { return nil, nil }
