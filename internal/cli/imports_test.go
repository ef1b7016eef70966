package cli

import (
	"go/build"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestCLIGoesThroughThePublicAPI: in the default build the CLI reaches
// transfers only through the root package. It imports no dataplane, store
// backend, compute or faults package, and only the hidden gateway
// subcommand (gateway.go) imports the daemon.
func TestCLIGoesThroughThePublicAPI(t *testing.T) {
	const mod = "github.com/skyplane-project/skyplane-go/internal/"
	forbidden := []string{"dataplane", "objstore/local", "objstore/s3", "objstore/gcs", "objstore/azure", "compute", "faults"}
	pkg, err := build.Default.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range pkg.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(pkg.Dir, name), nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			rel, ok := strings.CutPrefix(path, mod)
			if !ok {
				continue
			}
			for _, bad := range forbidden {
				if rel == bad || strings.HasPrefix(rel, bad+"/") {
					t.Errorf("%s imports %s: go through the root package", name, path)
				}
			}
			if rel == "gateway" && name != "gateway.go" {
				t.Errorf("%s imports the gateway daemon: only the gateway subcommand (gateway.go) may", name)
			}
		}
	}
}

// TestNoTestHooksInTheDefaultBuild: the SKYPLANE_TEST_* fault hooks are
// read only by files built with -tags skyplane_faults, in the CLI and in
// the root package alike.
func TestNoTestHooksInTheDefaultBuild(t *testing.T) {
	for _, dir := range []string{".", filepath.Join("..", "..")} {
		pkg, err := build.Default.ImportDir(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range pkg.GoFiles {
			b, err := os.ReadFile(filepath.Join(pkg.Dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "SKYPLANE_TEST_") || strings.Contains(string(b), "TestHooks{") {
				t.Errorf("%s (default build) reads a fault-injection test hook", filepath.Join(dir, name))
			}
		}
	}
	tagged := build.Default
	tagged.BuildTags = []string{"skyplane_faults"}
	pkg, err := tagged.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pkg.GoFiles, "faults_on.go") {
		t.Errorf("faults_on.go is not in the skyplane_faults build: %v", pkg.GoFiles)
	}
}
