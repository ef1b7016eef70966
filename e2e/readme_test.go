package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skyplane-project/skyplane-go/internal/objstore/objstoretest"
)

// TestReadmeTestServers follows the README's "Trying it against the test
// servers": the variables `scripts/test-servers.sh env` prints and a
// bucket made by `scripts/test-servers.sh mb` are all the CLI needs to copy
// to and from S3, GCS and Azure (no config set, no SKYPLANE_TEST_*).
func TestReadmeTestServers(t *testing.T) {
	objstoretest.ServerEnv(t, os.Getenv, "SKYPLANE_TEST_S3_ENDPOINT")
	out, err := exec.Command("../scripts/test-servers.sh", "env").Output()
	if err != nil {
		t.Fatalf("test-servers.sh env: %v", err)
	}
	var vars []string
	for _, line := range strings.Split(string(out), "\n") {
		kv, ok := strings.CutPrefix(line, "export ")
		if !ok {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		vars = append(vars, k+"="+strings.Trim(v, "'"))
	}
	for _, want := range []string{"AWS_ENDPOINT_URL_S3=", "STORAGE_EMULATOR_HOST=", "AZURE_STORAGE_CONNECTION_STRING="} {
		if !strings.Contains(strings.Join(vars, "\n"), want) {
			t.Fatalf("test-servers.sh env does not set %s:\n%s", want, out)
		}
	}
	s := newSandbox(t)
	s.env = append(s.env, vars...)

	name := randomName("readme-")
	mb := exec.Command("../scripts/test-servers.sh", "mb", name)
	if out, err := mb.CombinedOutput(); err != nil {
		t.Fatalf("test-servers.sh mb: %v\n%s", err, out)
	}
	src := s.path("src")
	writeFile(t, filepath.Join(src, "a.txt"), []byte("hello"))
	writeFile(t, filepath.Join(src, "sub", "b.bin"), randomBytes(t, 100<<10))
	for _, u := range []string{"s3://" + name + "/x", "gs://" + name + "/x", "azure://devstoreaccount1/" + name + "/x"} {
		scheme, _, _ := strings.Cut(u, ":")
		back := s.path("back-" + scheme)
		s.mustRun("cp", "-r", "-y", src, u)
		s.mustRun("cp", "-r", "-y", u, back)
		assertTreesEqual(t, src, back)
	}
}
