package e2e

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBadInputs: more mistakes than TestBadInput, through the built binary.
// Each gets the documented exit code (1 transfer failed, 2 usage), a message
// naming the problem, no hang, and nothing written anywhere: the source
// tree is unchanged and the destination stays empty.
func TestBadInputs(t *testing.T) {
	type paths = badPaths
	tests := []badInputCase{
		// The destination overlaps the source.
		{
			name: "destination inside source",
			args: func(p paths) []string { return []string{"cp", "-r", "-y", p.src, p.src + "/sub"} },
			code: 2,
			messages: func(p paths) []string {
				return []string{"inside the source", p.src + "/sub", "choose a destination outside"}
			},
		},
		{
			name:     "destination deep inside source, trailing slashes",
			args:     func(p paths) []string { return []string{"cp", "-r", "-y", p.src + "/", p.src + "/dir/sub/"} },
			code:     2,
			messages: func(p paths) []string { return []string{"inside the source"} },
		},
		{
			name:     "sync into its own source",
			args:     func(p paths) []string { return []string{"sync", "-y", p.src, p.src} },
			code:     2,
			messages: func(p paths) []string { return []string{"same as the source", p.src} },
		},
		{
			name:     "sync into a folder of its source",
			args:     func(p paths) []string { return []string{"sync", "-y", "--delete", p.src, p.src + "/dir"} },
			code:     2,
			messages: func(p paths) []string { return []string{"inside the source", p.src + "/dir"} },
		},
		{
			name: "destination inside source through a symlink",
			setup: func(t *testing.T, s *sandbox, p paths) {
				if err := os.Symlink(p.src, s.path("alias")); err != nil {
					t.Fatal(err)
				}
			},
			args: func(p paths) []string {
				return []string{"cp", "-r", "-y", p.src, filepath.Join(filepath.Dir(p.src), "alias", "inner")}
			},
			code: 2,
			messages: func(p paths) []string {
				return []string{"inside the source", "symbolic links resolved", p.src + "/inner"}
			},
		},
		{
			name: "source through a symlink onto its real folder",
			setup: func(t *testing.T, s *sandbox, p paths) {
				if err := os.Symlink(p.src, s.path("alias")); err != nil {
					t.Fatal(err)
				}
			},
			args: func(p paths) []string {
				return []string{"sync", "-y", filepath.Join(filepath.Dir(p.src), "alias"), p.src + "/dir"}
			},
			code:     2,
			messages: func(p paths) []string { return []string{"inside the source"} },
		},
		{
			name:     "file onto itself",
			args:     func(p paths) []string { return []string{"cp", "-y", p.src + "/file", p.src + "/file"} },
			code:     2,
			messages: func(p paths) []string { return []string{"onto itself", p.src + "/file"} },
		},
		{
			name:     "file into its own folder",
			args:     func(p paths) []string { return []string{"cp", "-y", p.src + "/file", p.src + "/"} },
			code:     2,
			messages: func(p paths) []string { return []string{"onto itself", p.src + "/file"} },
		},
		{
			name:     "broadcast to the same destination twice",
			args:     func(p paths) []string { return []string{"cp", "-r", "-y", p.src, p.dst, p.dst} },
			code:     2,
			messages: func(p paths) []string { return []string{"given twice", p.dst, "remove the duplicate"} },
		},
		{
			name:     "broadcast to the same destination spelled two ways",
			args:     func(p paths) []string { return []string{"cp", "-r", "-y", p.src, p.dst + "/", "file://" + p.dst} },
			code:     2,
			messages: func(p paths) []string { return []string{"given twice"} },
		},

		// Negative and zero sizes in the config file: the transfer refuses
		// to start and names the file, line and key.
		configFileCase("multipart_chunk_size_mb", "-1"),
		configFileCase("multipart_max_chunks", "0"),
		configFileCase("max_instances", "0"),
		configFileCase("autoshutdown_minutes", "-3"),
		// ... and through config set.
		{
			name:     "config set negative part size",
			args:     func(p paths) []string { return []string{"config", "set", "multipart_chunk_size_mb", "-1"} },
			code:     2,
			messages: func(p paths) []string { return []string{"multipart_chunk_size_mb", "-1"} },
		},
		{
			name:     "config set zero instances",
			args:     func(p paths) []string { return []string{"config", "set", "max_instances", "0"} },
			code:     2,
			messages: func(p paths) []string { return []string{"max_instances", "must be ≥ 1"} },
		},

		// Malformed URLs.
		{
			name:     "gs without bucket",
			args:     func(p paths) []string { return []string{"cp", "-r", "-y", p.src, "gs://"} },
			code:     2,
			messages: func(p paths) []string { return []string{`"gs://"`, "missing bucket name"} },
		},
		{
			name:     "azure without container",
			args:     func(p paths) []string { return []string{"cp", "-r", "-y", "azure://account", p.dst} },
			code:     2,
			messages: func(p paths) []string { return []string{`"azure://account"`, "missing container"} },
		},
		{
			name:     "https URL that is not Azure Blob",
			args:     func(p paths) []string { return []string{"cp", "-r", "-y", p.src, "https://example.com/x"} },
			code:     2,
			messages: func(p paths) []string { return []string{"https://example.com/x", "only Azure Blob"} },
		},
		{
			name:     "hdfs with a bad port",
			args:     func(p paths) []string { return []string{"cp", "-r", "-y", "hdfs://namenode:80a/data", p.dst} },
			code:     2,
			messages: func(p paths) []string { return []string{"invalid namenode address", "namenode:80a"} },
		},
		{
			name:     "s3 bucket with spaces",
			args:     func(p paths) []string { return []string{"cp", "-r", "-y", "s3://bucket with space/x", p.dst} },
			code:     2,
			messages: func(p paths) []string { return []string{`invalid S3 bucket name "bucket with space"`} },
		},

		// Valid URLs this build or this tree cannot serve.
		{
			name: "hdfs source",
			args: func(p paths) []string { return []string{"cp", "-r", "-y", "hdfs://namenode:8020/data", p.dst} },
			code: 1,
			messages: func(p paths) []string {
				return []string{"hdfs://namenode:8020/data", "HDFS backend is not available in this build"}
			},
		},
		{
			name:     "hdfs destination",
			args:     func(p paths) []string { return []string{"cp", "-r", "-y", p.src, "hdfs://namenode:8020/out"} },
			code:     1,
			messages: func(p paths) []string { return []string{"HDFS backend is not available in this build"} },
		},
		{
			name: "empty source directory",
			setup: func(t *testing.T, s *sandbox, p paths) {
				if err := os.MkdirAll(s.path("empty", "sub"), 0o755); err != nil {
					t.Fatal(err)
				}
			},
			args: func(p paths) []string {
				return []string{"cp", "-r", "-y", filepath.Join(filepath.Dir(p.src), "empty"), p.dst}
			},
			code: 1,
			messages: func(p paths) []string {
				return []string{"no objects found at prefix", filepath.Join(filepath.Dir(p.src), "empty")}
			},
		},
		{
			name:     "regular file with -r and a trailing slash",
			args:     func(p paths) []string { return []string{"cp", "-r", "-y", p.src + "/file/", p.dst} },
			code:     1,
			messages: func(p paths) []string { return []string{"no objects found at prefix", p.src + "/file/"} },
		},

		// Source entries that are not regular files. The bad entry sorts
		// first, so a listing that reports it stops before copying anything.
		{
			name: "dangling symlink in the source tree",
			setup: func(t *testing.T, s *sandbox, p paths) {
				if err := os.Symlink(s.path("no-such-target"), filepath.Join(p.src, "0-broken")); err != nil {
					t.Fatal(err)
				}
			},
			args:     func(p paths) []string { return []string{"cp", "-r", "-y", p.src, p.dst} },
			code:     1,
			messages: func(p paths) []string { return []string{p.src + "/0-broken"} },
		},
		{
			name: "FIFO in the source tree",
			setup: func(t *testing.T, s *sandbox, p paths) {
				if err := syscall.Mkfifo(filepath.Join(p.src, "0-pipe"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			args:     func(p paths) []string { return []string{"cp", "-r", "-y", p.src, p.dst} },
			code:     1,
			messages: func(p paths) []string { return []string{p.src + "/0-pipe"} },
		},
		{
			name: "dangling symlink as the source object",
			setup: func(t *testing.T, s *sandbox, p paths) {
				if err := os.Symlink(s.path("no-such-target"), filepath.Join(p.src, "0-broken")); err != nil {
					t.Fatal(err)
				}
			},
			args:     func(p paths) []string { return []string{"cp", "-y", p.src + "/0-broken", p.dst + "/x"} },
			code:     1,
			messages: func(p paths) []string { return []string{p.src + "/0-broken"} },
		},
		{
			name: "FIFO as the source object",
			setup: func(t *testing.T, s *sandbox, p paths) {
				if err := syscall.Mkfifo(filepath.Join(p.src, "0-pipe"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			args:     func(p paths) []string { return []string{"cp", "-y", p.src + "/0-pipe", p.dst + "/x"} },
			code:     1,
			messages: func(p paths) []string { return []string{p.src + "/0-pipe"} },
		},

		// Flags and config keys.
		{
			name:     "negative connections",
			args:     func(p paths) []string { return []string{"cp", "-r", "-y", "--max-connections", "-1", p.src, p.dst} },
			code:     2,
			messages: func(p paths) []string { return []string{"--max-connections -1", "num_connections", "must be ≥ 1"} },
		},
		{
			name:     "negative gateways",
			args:     func(p paths) []string { return []string{"sync", "-y", "-n", "-2", p.src, p.dst} },
			code:     2,
			messages: func(p paths) []string { return []string{"-n/--max-instances -2", "max_instances", "must be ≥ 1"} },
		},
		// A flag that stands for a config key has the key's range: what
		// `config set` refuses, the flag refuses too.
		{
			name:     "more gateways than max_instances allows",
			args:     func(p paths) []string { return []string{"cp", "-r", "-y", "-n", "1000", p.src, p.dst} },
			code:     2,
			messages: func(p paths) []string { return []string{"-n/--max-instances 1000", "max_instances", "must be ≤ 64"} },
		},
		{
			name:     "config set max_instances 1000",
			args:     func(p paths) []string { return []string{"config", "set", "max_instances", "1000"} },
			code:     2,
			messages: func(p paths) []string { return []string{"max_instances", "must be ≤ 64"} },
		},
		{
			name: "more connections than num_connections allows",
			args: func(p paths) []string { return []string{"sync", "-y", "--max-connections", "5000", p.src, p.dst} },
			code: 2,
			messages: func(p paths) []string {
				return []string{"--max-connections 5000", "num_connections", "must be ≤ 1024"}
			},
		},
		{
			name: "config get with a typo",
			args: func(p paths) []string { return []string{"config", "get", "multipart_chunk_sise_mb"} },
			code: 2,
			messages: func(p paths) []string {
				return []string{`"multipart_chunk_sise_mb"`, `did you mean "multipart_chunk_size_mb"`}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSandbox(t)
			p := paths{src: s.path("src"), dst: s.path("dst")}
			writeFile(t, filepath.Join(p.src, "dir/a"), []byte("a"))
			writeFile(t, filepath.Join(p.src, "file"), []byte("file"))
			if tt.setup != nil {
				tt.setup(t, s, p)
			}
			before := listTree(t, p.src)

			args := tt.args(p)
			r := runWithin(t, s, time.Minute, args...)
			if r.code != tt.code {
				t.Errorf("skyplane %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, tt.code, r.stdout, r.stderr)
			}
			for _, m := range tt.messages(p) {
				if !strings.Contains(r.stderr, m) {
					t.Errorf("stderr lacks %q:\n%s", m, r.stderr)
				}
			}
			if !strings.HasPrefix(r.stderr, "Error: ") && !strings.Contains(r.stderr, "\nError: ") {
				t.Errorf("no Error: line on stderr:\n%s", r.stderr)
			}
			if after := listTree(t, p.src); !maps.Equal(after, before) {
				t.Errorf("source tree changed:\nbefore %v\nafter  %v", before, after)
			}
			if got := listTree(t, p.dst); len(got) != 0 {
				t.Errorf("destination not empty after a failed command: %v", got)
			}
		})
	}
}

// badPaths are a case's source tree (src/dir/a, src/file) and its
// destination (absent).
type badPaths struct{ src, dst string }

type badInputCase struct {
	name string
	// setup prepares what the case needs beyond the common tree.
	setup    func(t *testing.T, s *sandbox, p badPaths)
	args     func(p badPaths) []string
	code     int
	messages func(p badPaths) []string // each must appear on stderr
}

// configFileCase: a hand-edited config file holding key = value stops cp
// with exit 2, naming the file and line, the key and the bad value.
func configFileCase(key, value string) badInputCase {
	var cfg string
	return badInputCase{
		name: "config file " + key + " " + value,
		setup: func(t *testing.T, s *sandbox, p badPaths) {
			cfg = s.path("config")
			writeFile(t, cfg, []byte("# hand-edited\n"+key+" = "+value+"\n"))
		},
		args:     func(p badPaths) []string { return []string{"cp", "-r", "-y", p.src, p.dst} },
		code:     2,
		messages: func(p badPaths) []string { return []string{cfg + ":2", key, `"` + value + `"`} },
	}
}

// runWithin runs skyplane like sandbox.run but kills it after d: a command
// that hangs on bad input is a failure, not a stuck test run.
func runWithin(t *testing.T, s *sandbox, d time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = s.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = strings.NewReader("")
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("skyplane %s still running after %v (killed)\nstdout: %s\nstderr: %s", strings.Join(args, " "), d, out.String(), errb.String())
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run skyplane %v: %v", args, err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}
