package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigListMarksCloudOnlyKeys: `config list` marks exactly the keys
// docs/config.md says change nothing yet ("later"), and only those.
func TestConfigListMarksCloudOnlyKeys(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	later := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 7 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		key := strings.Trim(strings.TrimSpace(cells[1]), "`")
		later[key] = strings.TrimSpace(cells[5]) == "later"
	}
	if len(later) < 20 {
		t.Fatalf("read %d keys from docs/config.md's table: has its layout changed?", len(later))
	}
	t.Setenv("SKYPLANE_CONFIG", filepath.Join(t.TempDir(), "config"))
	var out, errOut bytes.Buffer
	if code := Run(context.Background(), []string{"config", "list"}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("config list: exit %d: %s", code, errOut.String())
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		key, _, _ := strings.Cut(line, " = ")
		want, documented := later[key]
		if !documented {
			t.Errorf("config list shows %q, which docs/config.md's table lacks", key)
			continue
		}
		seen++
		if got := strings.Contains(line, cloudOnlyNote); got != want {
			t.Errorf("%q: marked no-effect = %t, docs/config.md says later = %t", line, got, want)
		}
	}
	if seen != len(later) {
		t.Errorf("config list shows %d documented keys, docs/config.md has %d", seen, len(later))
	}
}
