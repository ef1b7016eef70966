package cli

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/skyplane-project/skyplane-go"
	"github.com/skyplane-project/skyplane-go/internal/config"
	"github.com/skyplane-project/skyplane-go/internal/usage"
)

// transferFlags are the flags cp and sync share.
type transferFlags struct {
	recursive   bool
	confirm     bool
	gateways    int
	connections int
	multipart   bool
	noMultipart bool
	jsonOut     bool
	noResume    bool
	gatewaysOn  bool // --gateways
	solver      string
	target      float64
	include     []string
	exclude     []string
	filesFrom   string
	// sync only
	del    bool
	dryRun bool
}

func (f *transferFlags) register(cmd *cobra.Command, isSync bool) {
	fl := cmd.Flags()
	if !isSync {
		fl.BoolVarP(&f.recursive, "recursive", "r", false, "copy every object under the source prefix")
	} else {
		fl.BoolVar(&f.del, "delete", false, "delete destination objects that the source does not have")
		fl.BoolVar(&f.dryRun, "dry-run", false, "print what would be copied and deleted, change nothing")
	}
	fl.BoolVarP(&f.confirm, "confirm", "y", false, "do not ask for confirmation")
	fl.BoolP("force", "f", false, "same as -y")
	fl.IntVarP(&f.gateways, "max-instances", "n", 0, "gateways per region (default: config max_instances)")
	fl.IntVar(&f.connections, "max-connections", 0, "TCP connections per gateway pair (default: config num_connections)")
	fl.BoolVar(&f.multipart, "multipart", false, "stripe big objects into parts (default: config multipart_enabled)")
	fl.BoolVar(&f.noMultipart, "no-multipart", false, "send every object whole")
	fl.BoolVar(&f.jsonOut, "json", false, "print NDJSON events instead of text")
	fl.BoolVar(&f.noResume, "no-resume", false, "send everything again, even if an interrupted run of this transfer left work to continue")
	fl.BoolVar(&f.gatewaysOn, "gateways", false, "start gateways even when every one would run on this machine (default: copy in process; config in_process)")
	fl.StringVar(&f.solver, "solver", "", "planner whose plan is shown: direct, ron or ilp (default: config solver); transfers run the direct plan until relays execute")
	fl.Float64VarP(&f.target, "throughput", "t", 0, "throughput target of the ilp plan shown, Gbit/s")
	fl.StringArrayVar(&f.include, "include", nil, "copy only keys (relative to the source folder) matching this glob; repeatable (* within a path element, ** across)")
	fl.StringArrayVar(&f.exclude, "exclude", nil, "leave out keys matching this glob, and never delete them with sync --delete; repeatable")
	fl.StringVar(&f.filesFrom, "files-from", "", "copy only the keys listed in FILE, one per line relative to the source folder (- reads stdin)")
}

// filter builds the --include/--exclude/--files-from filter (nil: none).
// The list is read whole before the transfer starts.
func (f *transferFlags) filter(e *env, prompts bool) (*skyplane.Filter, error) {
	if len(f.include) == 0 && len(f.exclude) == 0 && f.filesFrom == "" {
		return nil, nil
	}
	var from io.Reader
	switch f.filesFrom {
	case "":
	case "-":
		if prompts {
			return nil, usageErr(errors.New("--files-from - reads the keys from stdin, which the confirmation question needs too: pass -y"))
		}
		from = e.stdin
	default:
		file, err := os.Open(f.filesFrom)
		if err != nil {
			return nil, usageErr(fmt.Errorf("--files-from: %w", err))
		}
		defer file.Close()
		from = file
	}
	flt, err := skyplane.NewFilter(f.include, f.exclude, from)
	if err != nil {
		return nil, usageErr(err)
	}
	return flt, nil
}

func newCp(e *env) *cobra.Command {
	var f transferFlags
	cmd := &cobra.Command{
		Use:   "cp SRC DST [DST2 ...]",
		Short: "Copy an object or a prefix (-r); several destinations broadcast",
		Example: `  skyplane cp -r ./data /tmp/copy
  skyplane cp -r -y s3://bucket/prefix gs://other/prefix`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageErr(fmt.Errorf("cp needs a source and at least one destination: usage: %s", cmd.UseLine()))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTransfer(cmd, e, &f, args[0], args[1:], false)
		},
	}
	f.register(cmd, false)
	return cmd
}

func newSync(e *env) *cobra.Command {
	var f transferFlags
	cmd := &cobra.Command{
		Use:   "sync SRC DST",
		Short: "Copy only what is missing, newer or of another size at the destination",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageErr(fmt.Errorf("sync takes a source and a destination: usage: %s", cmd.UseLine()))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			f.recursive = true
			return runTransfer(cmd, e, &f, args[0], args[1:], true)
		},
	}
	f.register(cmd, true)
	return cmd
}

// verifyError marks a transfer whose destination check failed.
type verifyError struct{ err error }

func (v verifyError) Error() string { return v.err.Error() }
func (v verifyError) Unwrap() error { return v.err }

func runTransfer(cmd *cobra.Command, e *env, f *transferFlags, src string, dsts []string, isSync bool) (err error) {
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	start := time.Now()
	skyplane.PruneState(config.StateDir(os.Getenv), start)
	var res *skyplane.Result
	defer func() {
		rec := usage.Record{Command: anonymousCommand(cmd), RuntimeS: time.Since(start).Seconds(), SrcRegion: schemeOf(src)}
		for _, d := range dsts {
			rec.DstRegions = append(rec.DstRegions, schemeOf(d))
		}
		if res != nil {
			rec.Bytes = res.Bytes
			if s := res.Duration.Seconds(); s > 0 {
				rec.ThroughputGbps = float64(res.Bytes) * 8 / s / 1e9
			}
		}
		if err != nil {
			// The class only: messages name paths and buckets.
			rec.Error = exitKind(exitCode(err))
		}
		usage.Save(config.Config(cfg), rec, os.Getenv)
	}()
	if force, _ := cmd.Flags().GetBool("force"); force {
		f.confirm = true
	}
	if err := applyFlagKeys(cmd, &cfg); err != nil {
		return err
	}
	switch {
	case f.multipart && f.noMultipart:
		return usageErr(errors.New("--multipart and --no-multipart contradict each other"))
	case f.multipart:
		cfg.MultipartEnabled = true
	case f.noMultipart:
		cfg.MultipartEnabled = false
	}
	if f.gatewaysOn {
		cfg.InProcess = false
	}
	if err := cfg.Validate(); err != nil {
		return usageErr(err)
	}

	// Ctrl-C cancels the transfer; teardown still runs (it ignores cancellation).
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	opts, err := faultOptions()
	if err != nil {
		return err
	}
	out := newPrinter(e, f.jsonOut)
	flt, err := f.filter(e, !f.confirm && !cfg.Autoconfirm && !f.dryRun)
	if err != nil {
		return err
	}
	if flt != nil {
		opts = append(opts, skyplane.WithFilter(flt))
	}
	if d, err := time.ParseDuration(os.Getenv("SKYPLANE_CHUNK_TIMEOUT")); err == nil && d > 0 {
		opts = append(opts, skyplane.WithChunkTimeout(d))
	}
	cfg.GatewayBinary = cmp.Or(cfg.GatewayBinary, os.Getenv("SKYPLANE_GATEWAY_BIN"))
	opts = append(opts, skyplane.WithStoreCredentials(skyplane.StoreCredentialsFromEnv(os.Getenv)), skyplane.WithStateDir(config.StateDir(os.Getenv)))
	opts = append(opts, hostOptions(out)...)
	client := skyplane.NewClient(cfg, opts...)
	// early classifies an error met before any gateway started.
	early := func(err error) error {
		if ctx.Err() != nil && cmd.Context().Err() == nil {
			return errNothingStarted
		}
		return classify(err, f.recursive)
	}

	if f.dryRun {
		p, err := client.PreviewSync(ctx, src, dsts[0], skyplane.PreviewOptions{Delete: f.del, Each: out.dryRunLine})
		if err != nil {
			return early(err)
		}
		out.dryRunSummary(p)
		return nil
	}

	gateways := cfg.MaxInstances
	var preview *skyplane.Preview
	if !f.confirm && !cfg.Autoconfirm {
		var p skyplane.Preview
		if isSync {
			p, err = client.PreviewSync(ctx, src, dsts[0], skyplane.PreviewOptions{Delete: f.del, MaxSamples: 5})
		} else {
			p, err = client.PreviewCopy(ctx, src, dsts, skyplane.PreviewOptions{Recursive: f.recursive, MaxSamples: 5})
		}
		if err != nil {
			return early(err)
		}
		preview = &p
	}
	run, alt, err := transferPlans(ctx, client, src, dsts, f, cmp.Or(f.solver, cfg.Solver), gateways, preview)
	if err != nil {
		return early(err)
	}
	out.plan(src, dsts, run, alt, preview)
	if preview != nil {
		if preview.Objects == 0 && preview.Deletes == 0 {
			out.note("Nothing to do: the destination is up to date.")
			return nil
		}
		ok, err := confirm(ctx, e)
		if err != nil {
			return err
		}
		if !ok {
			return usageErr(errors.New("transfer not confirmed; pass -y to skip the question"))
		}
	}

	if isSync {
		res, err = client.Sync(ctx, src, dsts[0], skyplane.SyncOptions{Delete: f.del, NoResume: f.noResume, Gateways: gateways, Progress: out.progress})
	} else {
		res, err = client.Broadcast(ctx, src, dsts, skyplane.CopyOptions{Recursive: f.recursive, NoResume: f.noResume, Gateways: gateways, Progress: out.progress})
	}
	out.endProgress()
	if errors.Is(err, skyplane.ErrObjectsFailed) && res != nil {
		// Everything else landed: say what did, then what did not.
		out.summary(res, len(dsts))
		return err
	}
	if err != nil {
		if ctx.Err() != nil && cmd.Context().Err() == nil {
			// Our own signal context: report an interruption.
			return fmt.Errorf("%w: gateways were torn down; nothing partial is visible. Run the same command again to resume (or `skyplane deprovision` to abort what was kept)", errInterrupted)
		}
		return classify(err, f.recursive)
	}
	out.summary(res, len(dsts))
	return nil
}

// flagKeys are the flags that stand for a config key for one run. Their
// values go through the key's own parser and range check, so a flag cannot
// accept what `skyplane config set` refuses.
var flagKeys = []struct{ flag, key string }{
	{"max-instances", "max_instances"},
	{"max-connections", "num_connections"},
}

// applyFlagKeys sets each given flag's config key in cfg.
func applyFlagKeys(cmd *cobra.Command, cfg *skyplane.Config) error {
	for _, fk := range flagKeys {
		fl := cmd.Flags().Lookup(fk.flag)
		if fl == nil || !fl.Changed {
			continue
		}
		name := "--" + fl.Name
		if fl.Shorthand != "" {
			name = "-" + fl.Shorthand + "/" + name
		}
		if err := cfg.Set(fk.key, fl.Value.String()); err != nil {
			return usageErr(fmt.Errorf("%s %s: %w", name, fl.Value.String(), err))
		}
	}
	return nil
}

// classify maps library errors to exit classes.
func classify(err error, recursive bool) error {
	switch {
	case !recursive && (errors.Is(err, skyplane.ErrIsPrefix) || errors.Is(err, skyplane.ErrNotFound)):
		// The flag advice is the CLI's to give: the library names the
		// problem, the command says which flag fixes it.
		return fmt.Errorf("%w; to copy a folder or prefix, use -r (--recursive)", err)
	case errors.Is(err, skyplane.ErrFilterNotRecursive):
		return usageErr(errors.New("--include, --exclude and --files-from select objects under a folder: use them with cp -r or sync"))
	case errors.Is(err, skyplane.ErrVerify):
		return verifyError{err}
	case errors.Is(err, skyplane.ErrInvalidInput):
		return usageErr(err)
	}
	return err
}

// errNothingStarted: the user stopped skyplane before any gateway started.
var errNothingStarted = fmt.Errorf("%w before the transfer started: nothing was transferred", errInterrupted)

// confirm asks the question and waits for the answer or a Ctrl-C, whichever
// comes first: a terminal read cannot be cancelled, so the read runs aside
// and is abandoned on interruption (the process exits right after).
func confirm(ctx context.Context, e *env) (bool, error) {
	// The question goes to stderr: stdout is for the plan and, with
	// --json, for events only.
	fmt.Fprint(e.stderr, "Continue? [Y/n] ")
	answer := make(chan string, 1)
	go func() {
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && line == "" {
			close(answer)
			return
		}
		answer <- line
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(e.stderr)
		return false, errNothingStarted
	case line, ok := <-answer:
		if !ok {
			fmt.Fprintln(e.stderr)
			return false, nil
		}
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "", "y", "yes":
			return true, nil
		}
		return false, nil
	}
}

// anonymousCommand is the command as usage statistics record it: its name
// and the flags given, with the values of numeric and boolean flags only
// (a string flag may hold a path), never the arguments (paths, buckets).
func anonymousCommand(cmd *cobra.Command) []string {
	out := []string{cmd.Name()}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		switch f.Value.Type() {
		case "int", "bool":
			out = append(out, "--"+f.Name+"="+f.Value.String())
		default:
			out = append(out, "--"+f.Name)
		}
	})
	return out
}

// schemeOf names where a URL points, for usage statistics (no bucket or path).
func schemeOf(u string) string {
	if i := strings.Index(u, "://"); i > 0 {
		return u[:i]
	}
	return "local"
}
