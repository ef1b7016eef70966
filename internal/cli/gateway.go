package cli

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/skyplane-project/skyplane-go/internal/gateway"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// newGateway is the daemon entry point the compute providers start.
func newGateway(e *env) *cobra.Command {
	var boot, cpuProfileDir string
	cmd := &cobra.Command{
		Use:    "gateway --boot FILE",
		Short:  "Run a gateway (started by skyplane itself)",
		Hidden: true,
		Args:   exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			// stderr is the gateway's log file: keep operational detail.
			slog.SetDefault(slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
			return gateway.Main(cmd.Context(), boot, e.stdout, os.Stdin, cpuProfileDir, objstore.OptionsFromEnv(os.Getenv))
		},
	}
	cmd.Flags().StringVar(&boot, "boot", "", "boot file (deleted once read)")
	// Gateways inherit the client's environment: the variable reaches every one.
	cmd.Flags().StringVar(&cpuProfileDir, "cpuprofile-dir", os.Getenv("SKYPLANE_GATEWAY_CPUPROFILE_DIR"), "write a CPU profile <dir>/<id>.cpu.prof")
	_ = cmd.MarkFlagRequired("boot")
	return cmd
}
