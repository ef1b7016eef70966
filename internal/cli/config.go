package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skyplane-project/skyplane-go/internal/config"
)

func newConfig(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Get and set skyplane configuration (" + config.Path(os.Getenv) + ")",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "set KEY VALUE",
		Short: "Set a key",
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return keyNames(), cobra.ShellCompDirectiveNoFileComp
		},
		// A value may look like a flag (-5): everything after KEY is an argument.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 && (args[0] == "--help" || args[0] == "-h") {
				return cmd.Help()
			}
			if err := exactArgs(2)(cmd, args); err != nil {
				return err
			}
			cfg, err := loadConfigFile()
			if err != nil {
				return err
			}
			if err := cfg.Set(args[0], args[1]); err != nil {
				return usageErr(err)
			}
			if err := cfg.Save(config.Path(os.Getenv)); err != nil {
				return err
			}
			v, _ := cfg.Get(args[0])
			fmt.Fprintf(e.stdout, "%s = %s\n", strings.ToLower(args[0]), v)
			return nil
		},
	}, &cobra.Command{
		Use:   "get KEY",
		Short: "Print a key's value",
		Args:  exactArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return keyNames(), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfigFile()
			if err != nil {
				return err
			}
			v, err := cfg.Get(args[0])
			if err != nil {
				return usageErr(err)
			}
			fmt.Fprintln(e.stdout, v)
			return nil
		},
	}, &cobra.Command{
		Use:   "list",
		Short: "Print every key and its value",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfigFile()
			if err != nil {
				return err
			}
			for _, kv := range cfg.List() {
				if cloudOnlyKeys[kv[0]] {
					fmt.Fprintf(e.stdout, "%s = %s\t# %s\n", kv[0], kv[1], cloudOnlyNote)
					continue
				}
				fmt.Fprintf(e.stdout, "%s = %s\n", kv[0], kv[1])
			}
			return nil
		},
	})
	return cmd
}

// cloudOnlyKeys are the keys that change nothing in this build: they
// configure cloud gateway VMs and the native cloud copy (docs/config.md,
// "later"). They are accepted so configs from the original keep working;
// `config list` says so rather than let them look effective.
var cloudOnlyKeys = map[string]bool{
	"bbr":                true,
	"aws_default_region": true, "aws_instance_class": true, "aws_use_spot_instances": true,
	"azure_default_region": true, "azure_instance_class": true, "azure_use_spot_instances": true,
	"gcp_default_region": true, "gcp_instance_class": true, "gcp_service_account_name": true,
	"gcp_use_premium_network": true, "gcp_use_spot_instances": true,
	"native_cmd_enabled": true, "native_cmd_threshold_gb": true,
}

const cloudOnlyNote = "applies to cloud gateways (not in this build): no effect"

// loadConfigFile reads the config file to edit or list it: the public
// Config has no file of its own. A bad file is a usage error naming it.
func loadConfigFile() (config.Config, error) {
	cfg, err := config.Load(config.Path(os.Getenv))
	if err != nil {
		return cfg, usageErr(err)
	}
	return cfg, nil
}

func keyNames() []string {
	var out []string
	for _, k := range config.Keys() {
		out = append(out, k.Name)
	}
	return out
}

// exactArgs is cobra.ExactArgs with a usage-class error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErr(fmt.Errorf("%s takes %d argument(s), got %d: usage: %s", cmd.CommandPath(), n, len(args), cmd.UseLine()))
		}
		return nil
	}
}
