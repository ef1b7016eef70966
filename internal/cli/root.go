// Package cli is the skyplane command line: a thin shell over the public
// skyplane package.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/skyplane-project/skyplane-go"
	"github.com/skyplane-project/skyplane-go/internal/config"
	"github.com/skyplane-project/skyplane-go/internal/usage"
)

// Exit codes (documented in the README).
const (
	ExitOK          = 0
	ExitFailed      = 1 // the transfer failed; nothing half-written is left visible
	ExitUsage       = 2 // bad flags, URL or config value
	ExitIncomplete  = 3 // the transfer ran but verification found missing or wrong objects
	ExitInterrupted = 130
)

// errInterrupted: the user stopped the transfer (SIGINT/SIGTERM).
var errInterrupted = errors.New("interrupted")

// usageError marks an error as the user's input, not the transfer.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErr(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// env is what commands print to and read from.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	isTTY          bool
}

// Run executes the CLI and returns the process exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	usage.Version = buildVersion()
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, isTTY: isTerminal(stdout)}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(stderr, "Error: %v\n", err)
	code := exitCode(err)
	if wantsJSON(cmd, args) {
		// Every failure, a usage error included, ends the event stream
		// with an error event.
		(&printer{e: e, json: true}).event("error", map[string]any{"error": err.Error(), "exit_code": code, "kind": exitKind(code)})
	}
	return code
}

// wantsJSON reports whether --json was asked for. A flag error stops
// parsing before --json is seen, so the arguments are read too.
func wantsJSON(cmd *cobra.Command, args []string) bool {
	if cmd != nil {
		if v, err := cmd.Flags().GetBool("json"); err == nil && v {
			return true
		}
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "--json" || a == "--json=true" {
			return true
		}
	}
	return false
}

func exitKind(code int) string {
	switch code {
	case ExitUsage:
		return "usage"
	case ExitIncomplete:
		return "incomplete"
	case ExitInterrupted:
		return "interrupted"
	}
	return "failed"
}

func exitCode(err error) int {
	var ue usageError
	var ve verifyError
	switch {
	case errors.Is(err, errInterrupted):
		return ExitInterrupted
	case errors.As(err, &ue), errors.Is(err, config.ErrInvalidValue), errors.Is(err, config.ErrUnknownKey):
		return ExitUsage
	case errors.As(err, &ve):
		return ExitIncomplete
	}
	return ExitFailed
}

func newRoot(e *env) *cobra.Command {
	var debug bool
	root := &cobra.Command{
		Use:   "skyplane",
		Short: "Blazing-fast bulk data transfers between object stores",
		Long: `skyplane copies data between object stores (S3, GCS, Azure Blob, S3-compatible
stores, local disk) through gateways that stream chunks over many TCP
connections, compressed, encrypted and checksummed.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildVersion(),
		// The root runs only when no command matched: an unknown command
		// is a usage error (exit 2), no command prints help.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return usageErr(fmt.Errorf("unknown command %q for %q (see `skyplane --help`)", args[0], cmd.CommandPath()))
		},
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			level := slog.LevelWarn
			if debug {
				level = slog.LevelDebug
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level})))
		},
	}
	root.PersistentFlags().BoolVar(&debug, "debug", false, "print debug logs")
	root.SetVersionTemplate(versionText())
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErr(fmt.Errorf("%w (see `%s --help`)", err, c.CommandPath()))
	})
	root.AddCommand(newCp(e), newSync(e), newConfig(e), newInit(e), newDeprovision(e), newGateway(e), newVersion(e), newHosts(e), newSSH(e))
	root.AddCommand(newPlan(e))
	return root
}

// loadConfig reads the config file through the public API, as a library
// user would; a bad file is a usage error naming it.
func loadConfig() (skyplane.Config, error) {
	cfg, err := skyplane.LoadConfig(config.Path(os.Getenv))
	if err != nil {
		return cfg, usageErr(err)
	}
	if f := os.Getenv(envHostsFile); f != "" {
		cfg.HostsFile = f
	}
	return cfg, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
