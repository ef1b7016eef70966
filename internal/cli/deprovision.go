package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/skyplane-project/skyplane-go/internal/compute/local"
	"github.com/skyplane-project/skyplane-go/internal/config"
	"github.com/skyplane-project/skyplane-go/internal/dataplane"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// abandonJournals aborts the multipart uploads interrupted transfers kept
// open for a resume, and forgets those transfers.
func abandonJournals(ctx context.Context, e *env) error {
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	journals, err := dataplane.Journals(dataplane.JournalDir(config.StateDir()))
	if err != nil {
		return err
	}
	aborted, failed := 0, 0
	for path, ups := range journals {
		ok := true
		for _, u := range ups {
			if err := abortUpload(ctx, cfg, u); err != nil {
				fmt.Fprintf(e.stderr, "abort upload %s of %s/%s: %v\n", u.UploadID, u.Bucket, u.Key, err)
				ok = false
				failed++
				continue
			}
			aborted++
		}
		if ok {
			os.Remove(path)
		}
	}
	if len(journals) > 0 {
		fmt.Fprintf(e.stdout, "Abandoned %d interrupted transfer(s): aborted %d open multipart upload(s).\n", len(journals), aborted)
	}
	if failed > 0 {
		return fmt.Errorf("%d upload(s) could not be aborted (see above); run deprovision again once the store is reachable", failed)
	}
	return nil
}

func abortUpload(ctx context.Context, cfg config.Config, u dataplane.JournalUpload) error {
	loc, err := objstore.ParseURL(u.Bucket)
	if err != nil {
		return err
	}
	opts := objstore.OptionsFromEnv(os.Getenv)
	opts.RequesterPays = cfg.RequesterPays
	if loc.Scheme == objstore.SchemeS3 {
		opts.Endpoint = cfg.S3EndpointFor(loc.Bucket)
	}
	st, err := objstore.Open(ctx, loc, opts)
	if err != nil {
		return err
	}
	return st.AbortMultipart(ctx, u.Key, u.UploadID)
}

func newDeprovision(e *env) *cobra.Command {
	var all bool
	var clientID string
	cmd := &cobra.Command{
		Use:   "deprovision",
		Short: "Stop leftover gateways and abandon interrupted transfers",
		Long: `Stops gateways left behind by a client that died before it could tear them
down (local gateways also exit on their own when their client dies; this
finds any that did not), and aborts the multipart uploads that interrupted
transfers kept open so they could resume.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			pids := local.Running(filepath.Join(config.StateDir(), "dataplanes"))
			if len(pids) == 0 {
				fmt.Fprintln(e.stdout, "No gateways running.")
			} else {
				fmt.Fprintf(e.stdout, "Stopped %d local gateway(s).\n", local.Kill(pids))
			}
			return abandonJournals(cmd.Context(), e)
		},
	}
	// Cloud gateways (a later issue) are found by these; local ones are all
	// this user's already.
	cmd.Flags().BoolVar(&all, "all", false, "all gateways, whichever client started them")
	cmd.Flags().StringVar(&clientID, "filter-client-id", "", "only gateways started by this client id")
	return cmd
}
