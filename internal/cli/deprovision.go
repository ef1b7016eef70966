package cli

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/skyplane-project/skyplane-go"
	"github.com/skyplane-project/skyplane-go/internal/config"
)

func newDeprovision(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "deprovision",
		Short: "Stop leftover gateways and abandon interrupted transfers",
		Long: `Stops gateways left behind by a client that died before it could tear them
down (local gateways also exit on their own when their client dies; this
finds any that did not), and aborts the multipart uploads that interrupted
transfers kept open so they could resume.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			res, err := skyplane.NewClient(cfg, skyplane.WithStoreCredentials(skyplane.StoreCredentialsFromEnv(os.Getenv)), skyplane.WithStateDir(config.StateDir(os.Getenv)), skyplane.WithSSHAgent(os.Getenv("SSH_AUTH_SOCK"))).Deprovision(cmd.Context(), skyplane.DeprovisionOptions{})
			if res.GatewaysFound == 0 {
				fmt.Fprintln(e.stdout, "No gateways running.")
			} else {
				fmt.Fprintf(e.stdout, "Stopped %d local gateway(s).\n", res.GatewaysStopped)
			}
			for _, g := range res.HostGateways {
				fmt.Fprintf(e.stdout, "Stopped gateway %s on host %s (region %s, dataplane %s, started %s) and removed its files.\n",
					g.Gateway, g.Host, g.Region, g.Dataplane, g.Started.Local().Format(time.DateTime))
			}
			ab := res.Abandoned
			for _, f := range ab.Failed {
				fmt.Fprintf(e.stderr, "abort upload %s of %s/%s: %v\n", f.UploadID, f.Bucket, f.Key, f.Err)
			}
			if ab.Transfers > 0 {
				fmt.Fprintf(e.stdout, "Abandoned %d interrupted transfer(s): aborted %d open multipart upload(s).\n", ab.Transfers, ab.UploadsAborted)
			}
			if errors.Is(err, skyplane.ErrAbortFailed) {
				return fmt.Errorf("%d upload(s) could not be aborted (see above); run deprovision again once the store is reachable", len(ab.Failed))
			}
			return err
		},
	}
}
