package gcs

import (
	"os"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// withEnv adds to opts what a command takes from the environment, which the
// tests set with t.Setenv as a user would.
func withEnv(opts objstore.Options) objstore.Options {
	e := objstore.OptionsFromEnv(os.Getenv)
	opts.GCSEmulatorHost, opts.GCSProject = e.GCSEmulatorHost, e.GCSProject
	return opts
}
