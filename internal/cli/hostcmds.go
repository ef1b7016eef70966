package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/skyplane-project/skyplane-go"
	"github.com/skyplane-project/skyplane-go/internal/config"
)

// hostsClient is a client for the commands that only talk to inventory hosts.
func hostsClient() (*skyplane.Client, error) {
	cfg, err := loadConfig()
	if err != nil {
		return nil, err
	}
	return skyplane.NewClient(cfg, skyplane.WithStateDir(config.StateDir(os.Getenv)), skyplane.WithSSHAgent(os.Getenv("SSH_AUTH_SOCK"))), nil
}

func newHosts(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hosts",
		Short: "Your own gateway hosts (the hosts_file inventory)",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Connect to every inventory host; show its platform and free disk",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := hostsClient()
			if err != nil {
				return err
			}
			checks, err := client.CheckHosts(cmd.Context())
			if err != nil {
				return usageErr(err)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "HOST\tREGION\tADDRESS\tPLATFORM\tFREE\tSTATUS")
			bad := 0
			for _, c := range checks {
				status := "ok"
				switch {
				case c.Err != nil:
					status = "error: " + c.Err.Error()
					bad++
				case !c.Supported:
					status = "platform differs from this client's: gateways cannot run there yet"
					bad++
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Host, c.Region, c.Addr, orDash(c.Platform), humanBytes(c.FreeBytes), status)
			}
			tw.Flush()
			if bad > 0 {
				return fmt.Errorf("%d of %d host(s) not ready (see the table)", bad, len(checks))
			}
			return nil
		},
	})
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newSSH(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "ssh [GATEWAY] [-- COMMAND...]",
		Short: "List gateways on inventory hosts, or open a shell on one's host",
		Long: `Without GATEWAY, lists the gateways on the hosts of the inventory
(hosts_file or SKYPLANE_HOSTS_FILE): region, host, uptime. With GATEWAY (its
id, or DATAPLANE/ID when several dataplanes use the id), opens a shell on its
host in the gateway's folder, or runs COMMAND there.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var command []string
			if at := cmd.ArgsLenAtDash(); at >= 0 {
				args, command = args[:at], args[at:]
			}
			if len(args) > 1 {
				return usageErr(fmt.Errorf("want at most one GATEWAY, got %d: %s", len(args), strings.Join(args, " ")))
			}
			client, err := hostsClient()
			if err != nil {
				return err
			}
			gws, err := client.HostGateways(cmd.Context())
			if errors.Is(err, skyplane.ErrNoHostsFile) {
				return usageErr(err)
			}
			if len(args) == 0 {
				listGateways(e, gws)
				return err
			}
			var match []skyplane.RunningGateway
			for _, g := range gws {
				if args[0] == g.Gateway || args[0] == g.Dataplane+"/"+g.Gateway {
					match = append(match, g)
				}
			}
			switch {
			case len(match) == 0 && err != nil:
				return fmt.Errorf("gateway %s not found (%w)", args[0], err)
			case len(match) == 0:
				return usageErr(fmt.Errorf("no gateway %s on the inventory's hosts: run `skyplane ssh` for the list", args[0]))
			case len(match) > 1:
				return usageErr(fmt.Errorf("gateway id %s is on %d dataplanes: name it DATAPLANE/%s", args[0], len(match), args[0]))
			}
			g := match[0]
			dir := "~/.skyplane/gateways/" + g.Dataplane + "/" + g.Gateway
			line := "cd " + dir + " && exec ${SHELL:-/bin/sh} -l"
			if len(command) > 0 {
				line = "cd " + dir + " && " + strings.Join(command, " ")
			}
			opts := skyplane.ShellOptions{Stdin: e.stdin, Stdout: e.stdout, Stderr: e.stderr}
			if len(command) == 0 {
				// An interactive shell: the local terminal goes raw, the
				// remote one does the line editing.
				restore, rows, cols, ok := rawTerminal(e.stdin)
				if ok {
					defer restore()
					opts.Terminal, opts.Rows, opts.Cols = true, rows, cols
				}
			}
			return client.HostShell(cmd.Context(), g.Host, line, opts)
		},
	}
}

func listGateways(e *env, gws []skyplane.RunningGateway) {
	if len(gws) == 0 {
		fmt.Fprintln(e.stdout, "No gateways on the inventory's hosts.")
		return
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GATEWAY\tDATAPLANE\tREGION\tHOST\tUPTIME\tSTATE")
	for _, g := range gws {
		state := "running"
		if !g.Alive {
			state = "stopped (files left: skyplane deprovision removes them)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", g.Gateway, g.Dataplane, g.Region, g.Host, time.Since(g.Started).Round(time.Second), state)
	}
	tw.Flush()
}
