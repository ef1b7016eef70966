package skyplane

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/skyplane-project/skyplane-go/internal/compute/ssh"
)

const modulePath = "github.com/skyplane-project/skyplane-go"

// crossBuilder gets gateway binaries for hosts whose platform differs from
// this client's: one put beside the client's binary, one cross-built
// earlier, or one `go build` makes now from the source this client was
// compiled from, with the same build tags (the same version as the client,
// as long as that source tree has not changed since).
type crossBuilder struct {
	client string // the client's gateway binary
	cache  string // <state dir>/bin
	src    string // module source directory ("" when unknown)
	goTool string // the go command ("" when none)
	tags   string

	mu sync.Mutex // one build at a time; hosts of one platform share it
}

func newCrossBuilder(clientBin, stateDir string) *crossBuilder {
	b := &crossBuilder{client: clientBin, cache: filepath.Join(stateDir, "bin"), src: sourceDir()}
	b.goTool, _ = exec.LookPath("go")
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-tags" {
				b.tags = s.Value
			}
		}
	}
	return b
}

// sourceDir is the module's source directory when this file was compiled
// from a checkout that is still there (not with -trimpath).
func sourceDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return ""
	}
	dir := filepath.Dir(file)
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if sc.Scan() && strings.TrimSpace(sc.Text()) == "module "+modulePath {
		return dir
	}
	return ""
}

// binaryFor returns a skyplane binary for platform ("linux/arm64").
func (b *crossBuilder) binaryFor(ctx context.Context, platform string) (string, error) {
	goos, goarch, _ := strings.Cut(platform, "/")
	name := "skyplane-" + goos + "-" + goarch
	beside := filepath.Join(filepath.Dir(b.client), name)
	if st, err := os.Stat(beside); err == nil && st.Mode().IsRegular() {
		return beside, nil
	}
	if b.src == "" || b.goTool == "" {
		return "", fmt.Errorf("no gateway binary for %s: put one at %s (in a skyplane checkout: GOOS=%s GOARCH=%s go build -o %s ./cmd/skyplane), or run a skyplane built from a source checkout on a machine with Go, which cross-builds it",
			platform, beside, goos, goarch, name)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	// Named by the client binary's content: a rebuilt client rebuilds it.
	sum, err := ssh.FileHash(b.client)
	if err != nil {
		return "", err
	}
	out := filepath.Join(b.cache, name+"-"+sum[:16])
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(b.cache, 0o700); err != nil {
		return "", err
	}
	tmp := fmt.Sprintf("%s.tmp-%s", out, rand.Text()[:8])
	args := []string{"build", "-o", tmp}
	if b.tags != "" {
		args = append(args, "-tags", b.tags)
	}
	cmd := exec.CommandContext(ctx, b.goTool, append(args, "./cmd/skyplane")...)
	cmd.Dir = b.src
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("cross-build the gateway for %s in %s: %w: %s", platform, b.src, err, strings.TrimSpace(string(msg)))
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return out, nil
}
