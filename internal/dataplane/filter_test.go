package dataplane

import (
	"io"
	"strings"
	"testing"
)

func TestFilterMatch(t *testing.T) {
	tests := []struct {
		name             string
		include, exclude []string
		filesFrom        string // "" = no list
		match, nomatch   []string
	}{
		{name: "no patterns", match: []string{"a", "x/y/z"}},
		{name: "star stays in one element", include: []string{"*.log"},
			match: []string{"a.log"}, nomatch: []string{"x/a.log", "a.txt"}},
		{name: "double star crosses elements", include: []string{"**/*.log"},
			match: []string{"a.log", "x/a.log", "x/y/a.log"}, nomatch: []string{"a.txt", "x/a.log/b"}},
		{name: "folder and everything under it", exclude: []string{"tmp/**"},
			match: []string{"tmpfile", "a/tmp/x"}, nomatch: []string{"tmp/a", "tmp/x/y"}},
		{name: "exclude wins over include", include: []string{"**"}, exclude: []string{"**/.git/**", "*.bak"},
			match: []string{"a", "x/b.bak"}, nomatch: []string{".git/config", "x/.git/HEAD", "c.bak"}},
		{name: "question mark and class", include: []string{"f?[0-9]"},
			match: []string{"fa1", "fb9"}, nomatch: []string{"f1", "fab", "fa10"}},
		{name: "files-from", filesFrom: "a\n\nx/y\r\n",
			match: []string{"a", "x/y"}, nomatch: []string{"b", "x", "x/y/z"}},
		{name: "files-from and exclude", filesFrom: "a.txt\nb.log\n", exclude: []string{"*.log"},
			match: []string{"a.txt"}, nomatch: []string{"b.log"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var from io.Reader
			if tt.filesFrom != "" {
				from = strings.NewReader(tt.filesFrom)
			}
			f, err := NewFilter(tt.include, tt.exclude, from)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range tt.match {
				if !f.Match(k) {
					t.Errorf("%q not selected", k)
				}
			}
			for _, k := range tt.nomatch {
				if f.Match(k) {
					t.Errorf("%q selected", k)
				}
			}
		})
	}
}

func TestFilterBadPattern(t *testing.T) {
	if _, err := NewFilter([]string{"a/[b"}, nil, nil); err == nil || !strings.Contains(err.Error(), `include pattern "a/[b"`) {
		t.Errorf("bad pattern: err = %v, want one naming the include pattern", err)
	}
}
