package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// docSection returns the lines of docs/<page> between the marker line
// starting with "<!-- "+name and the next "<!-- end".
func docSection(t *testing.T, page, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", page))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "<!-- "+name):
			in = true
		case in && strings.HasPrefix(line, "<!-- end"):
			return out
		case in:
			out = append(out, line)
		}
	}
	t.Fatalf("docs/%s has no section %q", page, name)
	return nil
}

// backticked returns the `quoted` parts of s.
func backticked(s string) []string {
	parts := strings.Split(s, "`")
	var out []string
	for i := 1; i < len(parts); i += 2 {
		out = append(out, parts[i])
	}
	return out
}

// TestDocsKeyMapping runs every example of docs/cli.md's key-mapping table
// and checks exactly the files the table names appear.
func TestDocsKeyMapping(t *testing.T) {
	rows := docSection(t, "cli.md", "mapping examples")
	n := 0
	for _, row := range rows {
		cells := strings.Split(row, "|")
		if len(cells) < 4 || !strings.Contains(cells[1], "`skyplane ") {
			continue
		}
		command := backticked(cells[1])[0]
		want := backticked(cells[2])
		n++
		t.Run(command, func(t *testing.T) {
			s := newSandbox(t)
			work := s.path("work")
			writeFile(t, filepath.Join(work, "data", "a.txt"), []byte("a"))
			writeFile(t, filepath.Join(work, "data", "sub", "c.txt"), []byte("c"))
			if err := os.MkdirAll(filepath.Join(work, "existdir"), 0o755); err != nil {
				t.Fatal(err)
			}
			before := listTree(t, work)
			args := strings.Fields(strings.TrimPrefix(command, "skyplane "))
			args = append(args[:1], append([]string{"-y"}, args[1:]...)...)
			if r := s.runIn(nil, work, "", args...); r.code != 0 {
				t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
			}
			var got []string
			for p := range listTree(t, work) {
				if _, ok := before[p]; !ok {
					got = append(got, p)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("new files %v, docs say %v", got, want)
			}
		})
	}
	if n < 5 {
		t.Fatalf("only %d examples found in docs/cli.md", n)
	}
}

// TestDocsConfigExample runs the example of docs/config.md and compares
// what it prints (exit 2, a usage error).
func TestDocsConfigExample(t *testing.T) {
	var command, want string
	for _, line := range docSection(t, "config.md", "config example") {
		switch {
		case strings.HasPrefix(line, "$ skyplane "):
			command = strings.TrimPrefix(line, "$ skyplane ")
		case strings.HasPrefix(line, "Error: "):
			want = line
		}
	}
	if command == "" || want == "" {
		t.Fatal("docs/config.md example has no command or no error line")
	}
	s := newSandbox(t)
	r := s.run(nil, strings.Fields(command)...)
	if r.code != 2 || strings.TrimSpace(r.stderr) != want {
		t.Errorf("skyplane %s: exit %d, stderr %q; docs say exit 2 and %q", command, r.code, r.stderr, want)
	}
}
