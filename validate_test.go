package skyplane

import (
	"errors"
	"strings"
	"testing"

	"github.com/skyplane-project/skyplane-go/internal/dataplane"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

func TestValidateJob(t *testing.T) {
	for _, tc := range []struct {
		name      string
		src       string
		dsts      []string
		recursive bool
		want      string // substring of the error; "" means valid
	}{
		// Recursive: destination inside the source.
		{"recursive into subfolder", "s3://bkt/data", []string{"s3://bkt/data/sub"}, true, "inside the source"},
		{"recursive into subfolder, trailing slashes", "s3://bkt/data/", []string{"s3://bkt/data/sub/"}, true, "inside the source"},
		{"recursive onto itself", "s3://bkt/data", []string{"s3://bkt/data"}, true, "same as the source"},
		{"recursive onto itself with slash", "s3://bkt/data", []string{"s3://bkt/data/"}, true, "same as the source"},
		{"recursive onto itself, slash on source", "s3://bkt/data/", []string{"s3://bkt/data"}, true, "same as the source"},
		{"recursive deep under", "gs://bkt/a/b", []string{"gs://bkt/a/b/c/d/e"}, true, "inside the source"},
		{"recursive whole bucket into a folder", "s3://bkt", []string{"s3://bkt/backup"}, true, "inside the source"},
		{"recursive whole bucket onto itself", "s3://bkt/", []string{"s3://bkt"}, true, "same as the source"},
		{"recursive local into subdir", "/tmp/src", []string{"/tmp/src/sub"}, true, "inside the source"},
		{"recursive local onto itself", "/tmp/src", []string{"file:///tmp/src/"}, true, "same as the source"},
		{"recursive local root", "/", []string{"/tmp/out"}, true, "inside the source"},
		{"recursive azure inside", "azure://acct/cont/data", []string{"https://acct.blob.core.windows.net/cont/data/x"}, true, "inside the source"},
		{"broadcast second destination inside", "s3://bkt/data", []string{"gs://bkt/data", "s3://bkt/data/copy"}, true, "inside the source"},
		// Recursive: not inside.
		{"recursive sibling with common prefix", "s3://bkt/data", []string{"s3://bkt/database"}, true, ""},
		{"recursive sibling with common prefix, slash", "s3://bkt/data", []string{"s3://bkt/database/"}, true, ""},
		{"recursive parent of source", "s3://bkt/data/sub", []string{"s3://bkt/data"}, true, ""},
		{"recursive into bucket root", "s3://bkt/data", []string{"s3://bkt"}, true, ""},
		{"recursive other bucket", "s3://bkt/data", []string{"s3://other/data/sub"}, true, ""},
		{"recursive other scheme", "s3://bkt/data", []string{"gs://bkt/data/sub"}, true, ""},
		{"recursive other azure account", "azure://acct/cont/data", []string{"azure://acct2/cont/data/sub"}, true, ""},
		{"recursive local sibling", "/tmp/src", []string{"/tmp/src2"}, true, ""},
		{"recursive local to parent", "/tmp/src", []string{"/tmp"}, true, ""},
		// Not recursive: one object onto itself.
		{"object onto itself", "s3://bkt/a/f.bin", []string{"s3://bkt/a/f.bin"}, false, "same object as the source"},
		{"object onto its own folder", "s3://bkt/a/f.bin", []string{"s3://bkt/a/"}, false, "same object as the source"},
		{"local object onto itself", "/tmp/a/f", []string{"/tmp/a/f"}, false, "same object as the source"},
		{"local object onto its folder", "/tmp/a/f", []string{"/tmp/a/"}, false, "same object as the source"},
		{"bucket-root object onto bucket", "s3://bkt/f", []string{"s3://bkt"}, false, "same object as the source"},
		{"bucket-root object onto bucket slash", "s3://bkt/f", []string{"s3://bkt/"}, false, "same object as the source"},
		{"object to another key", "s3://bkt/a/f.bin", []string{"s3://bkt/a/g.bin"}, false, ""},
		{"object into a subfolder", "s3://bkt/a/f.bin", []string{"s3://bkt/a/f.bin/"}, false, ""},
		{"object to another bucket", "s3://bkt/a/f.bin", []string{"s3://other/a/f.bin"}, false, ""},
		{"object non-recursive into its own name as folder prefix", "s3://bkt/data", []string{"s3://bkt/data/sub"}, false, ""},
		// Broadcast: the same destination twice.
		{"broadcast duplicate", "s3://bkt/data", []string{"gs://out/x", "gs://out/x"}, true, "given twice"},
		{"broadcast duplicate modulo slash", "s3://bkt/data", []string{"gs://out/x", "s3://out2/y", "gs://out/x/"}, true, "given twice"},
		{"broadcast duplicate local", "/tmp/src", []string{"/tmp/a", "./../../../../../../../tmp/a"}, true, "given twice"},
		{"broadcast duplicate object", "s3://bkt/f", []string{"gs://out/dir/f", "gs://out/dir/"}, false, "given twice"},
		{"broadcast duplicate azure forms", "s3://bkt/data", []string{"azure://acct/cont/x", "https://acct.blob.core.windows.net/cont/x"}, true, "given twice"},
		{"broadcast distinct", "s3://bkt/data", []string{"gs://out/x", "gs://out/y", "s3://bkt/other"}, true, ""},
		{"broadcast distinct buckets", "s3://bkt/data", []string{"gs://out/x", "gs://out2/x"}, true, ""},
		{"broadcast distinct objects", "s3://bkt/f", []string{"gs://out/dir/f", "gs://out/dir/g"}, false, ""},
		{"broadcast distinct azure accounts", "s3://bkt/data", []string{"azure://acct/cont/x", "azure://acct2/cont/x"}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := dataplane.Job{Src: mustParse(t, tc.src), Recursive: tc.recursive}
			for _, d := range tc.dsts {
				job.Dsts = append(job.Dsts, mustParse(t, d))
			}
			err := validateJob(job)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("validateJob(%s -> %v, recursive=%v) = %v, want nil", tc.src, tc.dsts, tc.recursive, err)
			case tc.want != "" && err == nil:
				t.Fatalf("validateJob(%s -> %v, recursive=%v) = nil, want an error containing %q", tc.src, tc.dsts, tc.recursive, tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("validateJob error %q does not contain %q", err, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), "destination") {
				t.Errorf("error %q does not say what to do about the destination", err)
			}
		})
	}
}

// TestJobValidationIsInvalidInput: Client.job reports validation failures as
// ErrInvalidInput (exit code 2), for copies and syncs alike.
func TestJobValidationIsInvalidInput(t *testing.T) {
	c := NewClient(DefaultConfig())
	for _, tc := range []struct {
		src       string
		dsts      []string
		recursive bool
	}{
		{"s3://bkt/data", []string{"s3://bkt/data/sub"}, true},
		{"s3://bkt/f", []string{"s3://bkt/f"}, false},
		{"s3://bkt/data", []string{"gs://out/x", "gs://out/x"}, true},
	} {
		if _, err := c.job(tc.src, tc.dsts, tc.recursive); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("job(%s, %v, %v) = %v, want ErrInvalidInput", tc.src, tc.dsts, tc.recursive, err)
		}
	}
	if _, err := c.job("s3://bkt/data", []string{"s3://bkt/database"}, true); err != nil {
		t.Errorf("job into a sibling prefix: %v", err)
	}
}

// TestLibraryErrorsGiveNoFlagAdvice: a filter on a one-object copy is a
// typed error the CLI maps to its flags; the library's own message names no
// flag (a library user has none).
func TestLibraryErrorsGiveNoFlagAdvice(t *testing.T) {
	f, err := NewFilter([]string{"*"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(DefaultConfig(), WithFilter(f))
	for _, tc := range []struct {
		name string
		call func() error
		want error
	}{
		{"filter without recursive", func() error { _, err := c.job("s3://bkt/f", []string{"s3://out/f"}, false); return err }, ErrFilterNotRecursive},
		{"gateways out of range", func() error { _, err := c.gateways(-1); return err }, ErrInvalidInput},
		{"region without cloud", func() error {
			_, err := c.Dataplane(DataplaneOptions{Src: Region{Region: "us-east-1"}})
			return err
		}, ErrInvalidInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("err = %v, want %v (and ErrInvalidInput)", err, tc.want)
			}
			if msg := err.Error(); strings.Contains(msg, " -") {
				t.Errorf("library error gives CLI advice: %q", msg)
			}
		})
	}
}

func mustParse(t *testing.T, s string) objstore.Location {
	t.Helper()
	l, err := objstore.ParseURL(s)
	if err != nil {
		t.Fatalf("ParseURL(%q): %v", s, err)
	}
	return l
}
