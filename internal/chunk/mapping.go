package chunk

import (
	"fmt"
	"path"
	"strings"
)

// Mapping maps source keys to destination keys by the rules in docs/cli.md.
//
// Not recursive: the source key must equal the source path. Destination ""
// or "/" → the source's base name; destination ending in "/" → destination +
// base name; otherwise the destination is the exact key.
//
// Recursive: the source path is a folder (ListPrefix adds the "/"), so "foo"
// matches "foo/a" but never "foobar/a"; the remainder of each key after the
// prefix is joined to the destination with exactly one "/". An empty or "/"
// source path means the whole bucket.
//
// A destination made only of slashes ("", "/", "//") counts as empty.
type Mapping struct {
	src, dst  string
	recursive bool
}

// NewMapping returns the mapping of a copy from srcKey to dstKey.
func NewMapping(srcKey, dstKey string, recursive bool) Mapping {
	return Mapping{src: srcKey, dst: dstKey, recursive: recursive}
}

// Recursive reports whether the mapping copies a prefix.
func (m Mapping) Recursive() bool { return m.recursive }

// ListPrefix is the prefix to list the source with. Recursive: "" for a
// source of "" or "/" (the whole bucket), else the source with exactly one
// trailing "/". Not recursive: the source key itself.
func (m Mapping) ListPrefix() string {
	if !m.recursive {
		return m.src
	}
	p := strings.TrimRight(m.src, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

// baseName is the last path element of key, keeping a trailing "/" (a
// folder-marker key "a/dir/" has base name "dir/").
func baseName(key string) string {
	trimmed := strings.TrimRight(key, "/")
	if trimmed == "" {
		return ""
	}
	b := path.Base(trimmed)
	if len(trimmed) < len(key) {
		b += "/"
	}
	return b
}

// Dest returns the destination key of srcKey. It fails when srcKey is not
// covered by the mapping: not recursive, srcKey must equal the source key;
// recursive, it must start with ListPrefix().
//
// A recursive source key equal to the prefix itself (a folder marker such as
// "foo/" under "foo") maps to the destination folder with one trailing "/",
// or to "" when the destination is empty: the caller must skip a "" result
// (it cannot name an object).
func (m Mapping) Dest(srcKey string) (string, error) {
	dstEmpty := strings.TrimRight(m.dst, "/") == ""
	if !m.recursive {
		if srcKey != m.src {
			return "", fmt.Errorf("source key %q is not the object being copied (%q)", srcKey, m.src)
		}
		base := baseName(srcKey)
		if base == "" {
			return "", fmt.Errorf("source key %q has no base name to name the destination with", srcKey)
		}
		switch {
		case dstEmpty:
			return base, nil
		case strings.HasSuffix(m.dst, "/"):
			return m.dst + base, nil
		}
		return m.dst, nil
	}
	prefix := m.ListPrefix()
	rest, ok := strings.CutPrefix(srcKey, prefix)
	if !ok {
		return "", fmt.Errorf("source key %q is not under the folder %q", srcKey, prefix)
	}
	if dstEmpty {
		return rest, nil
	}
	return strings.TrimRight(m.dst, "/") + "/" + rest, nil
}
