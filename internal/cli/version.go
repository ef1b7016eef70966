package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// buildVersion is the module version the binary was built as: a tag
// (v1.2.3), a pseudo-version from the VCS stamp, or "(devel)".
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// versionText is what `skyplane version` and `--version` print: the module
// version, the commit when the build recorded one, and the Go toolchain.
func versionText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "skyplane %s\n", buildVersion())
	commit, when, dirty := "unknown (built without VCS information)", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if dirty {
		commit += " (with uncommitted changes)"
	}
	if when != "" {
		commit += ", " + when
	}
	fmt.Fprintf(&b, "commit %s\n", commit)
	fmt.Fprintf(&b, "%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return b.String()
}

func newVersion(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the skyplane version, commit and Go version",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprint(e.stdout, versionText())
			return nil
		},
	}
}
