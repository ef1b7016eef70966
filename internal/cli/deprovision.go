package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/skyplane-project/skyplane-go/internal/compute/local"
	"github.com/skyplane-project/skyplane-go/internal/config"
)

func newDeprovision(e *env) *cobra.Command {
	var all bool
	var clientID string
	cmd := &cobra.Command{
		Use:   "deprovision",
		Short: "Stop every gateway skyplane started that is still running",
		Long: `Stops gateways left behind by a client that died before it could tear them
down. Local gateways also exit on their own when their client dies; this
finds any that did not.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			pids := local.Running(filepath.Join(config.StateDir(), "dataplanes"))
			if len(pids) == 0 {
				fmt.Fprintln(e.stdout, "No gateways running.")
				return nil
			}
			n := local.Kill(pids)
			fmt.Fprintf(e.stdout, "Stopped %d local gateway(s).\n", n)
			return nil
		},
	}
	// Cloud gateways (a later issue) are found by these; local ones are all
	// this user's already.
	cmd.Flags().BoolVar(&all, "all", false, "all gateways, whichever client started them")
	cmd.Flags().StringVar(&clientID, "filter-client-id", "", "only gateways started by this client id")
	return cmd
}
