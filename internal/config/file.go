package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// cloudSections are the sections of the Python original's config file that
// held per-cloud settings we do not keep (aws_enabled, project_id,
// subscription_id, ...). Unknown keys inside them are skipped, so a config
// file written by the original loads; unknown keys anywhere else are errors.
var cloudSections = map[string]bool{
	"aws": true, "azure": true, "gcp": true, "ibmcloud": true, "cloudflare": true, "scp": true,
}

// retiredKeys were keys of the original that no longer exist; they are
// skipped when loading rather than rejected.
var retiredKeys = map[string]bool{
	"multipart_max_chunk_size_mb": true,
	"multipart_min_size_mb":       true,
}

// Load reads the config file at path, starting from Default() and applying
// each `key = value` line. A missing file gives Default() and no error. A
// malformed line, an unknown key, a bad value or a key given twice gives an
// error naming path:line and how to fix it.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Default(), nil
		}
		return Config{}, fmt.Errorf("reading config file: %w", err)
	}
	c := Default()
	seen := map[string]int{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if lineNo == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			if !strings.HasSuffix(line, "]") {
				return Config{}, fmt.Errorf("%s:%d: malformed section header %q: write it as [name], or delete the line",
					path, lineNo, line)
			}
			section = strings.ToLower(strings.TrimSpace(line[1 : len(line)-1]))
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i < 0 {
			return Config{}, fmt.Errorf("%s:%d: malformed line %q: expected `key = value`; fix it, comment it out with #, or delete it",
				path, lineNo, line)
		}
		rawKey, value := strings.TrimSpace(line[:i]), strings.TrimSpace(line[i+1:])
		if rawKey == "" {
			return Config{}, fmt.Errorf("%s:%d: malformed line %q: no key before %q; expected `key = value`",
				path, lineNo, line, line[i:i+1])
		}
		key := normalizeKey(rawKey)
		d, ok := byName[key]
		if !ok {
			if cloudSections[section] || retiredKeys[key] {
				continue
			}
			return Config{}, fmt.Errorf("%s:%d: %w; fix the key or delete the line",
				path, lineNo, unknownKeyError(rawKey))
		}
		if prev, dup := seen[key]; dup {
			return Config{}, fmt.Errorf("%s:%d: %s is already set on line %d; delete one of the two lines",
				path, lineNo, key, prev)
		}
		seen[key] = lineNo
		if err := d.set(&c, unquote(value)); err != nil {
			return Config{}, fmt.Errorf("%s:%d: %w; fix the value, or delete the line to use the default (%s)",
				path, lineNo, err, defaultOf(d))
		}
	}
	if err := sc.Err(); err != nil {
		return Config{}, fmt.Errorf("%s:%d: reading config file: %w", path, lineNo+1, err)
	}
	return c, nil
}

// unquote strips one pair of matching surrounding quotes, so `key = ""`
// means the empty string.
func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

func defaultOf(d *keyDef) string {
	def := Default()
	v := d.get(&def)
	if v == "" {
		return `""`
	}
	return v
}

// Save writes c to path. A new file gets every key, sorted, each under a
// comment giving its meaning and default, so it documents itself. An
// existing file is edited, not rewritten: the lines of keys whose value
// changed get the new value, keys set away from their default that the file
// lacks are added to its [client] section, and every other byte (sections
// and keys of the Python original such as [gcp] gcp_project_id, comments,
// blank lines, order) stays as it was. The parent directory is created with
// mode 0700; the file is written to a temporary file in the same directory
// and renamed over path, and has mode 0600. An invalid config is not saved.
func (c Config) Save(path string) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("not saving config to %s: %w", path, err)
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading config file: %w", err)
	}
	var b bytes.Buffer
	if len(old) > 0 {
		b.Write(c.edit(old))
	} else {
		c.render(&b)
	}

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating config directory: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing config file: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("writing config file: %w", err)
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		return fmt.Errorf("writing config file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("writing config file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing config file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing config file: %w", err)
	}
	ok = true
	return nil
}

// quoteValue writes v so that Load reads back exactly v: the empty string
// and values already wrapped in matching quotes get one more pair.
func quoteValue(v string) string {
	if v == "" || unquote(v) != v {
		return `"` + v + `"`
	}
	return v
}

// render writes the whole self-documenting file.
func (c Config) render(b *bytes.Buffer) {
	b.WriteString("# Skyplane configuration, written by `skyplane config`.\n")
	b.WriteString("# Change values with `skyplane config set KEY VALUE`; see all keys with `skyplane config list`.\n")
	b.WriteString("# Format: one `key = value` per line; lines starting with # are comments.\n")
	b.WriteString("\n[client]\n")
	def := Default()
	for i := range defs {
		d := &defs[i]
		fmt.Fprintf(b, "\n# %s — %s, default %s\n", d.help, d.typ(), quoteValue(d.get(&def)))
		fmt.Fprintf(b, "%s = %s\n", d.name, quoteValue(d.get(&c)))
	}
}

// edit returns old with the values of c: see Save. Lines are compared by
// the value they parse to, so `autoconfirm = True` stays as written while
// autoconfirm is true.
func (c Config) edit(old []byte) []byte {
	lines := bytes.SplitAfter(old, []byte("\n"))
	seen := map[string]bool{}
	// ends[section] is the index after the section's last non-blank line,
	// for the sections new keys may go to: [client], or the original's
	// [flags].
	ends := map[string]int{}
	section := ""
	for i, raw := range lines {
		line := strings.TrimSpace(strings.TrimPrefix(string(raw), "\ufeff"))
		if line == "" {
			continue
		}
		if line[0] == '[' {
			section = strings.ToLower(strings.TrimSpace(strings.Trim(line, "[]")))
		}
		if section == "client" || section == "flags" {
			ends[section] = i + 1
		}
		if line[0] == '[' {
			continue
		}
		if line[0] == '#' || line[0] == ';' {
			continue
		}
		sep := strings.IndexAny(string(raw), "=:")
		if sep < 0 {
			continue
		}
		d, ok := byName[normalizeKey(strings.TrimPrefix(string(raw[:sep]), "\ufeff"))]
		if !ok || seen[d.name] {
			continue
		}
		seen[d.name] = true
		was := Default()
		want := d.get(&c)
		if d.set(&was, unquote(strings.TrimSpace(string(raw[sep+1:])))) == nil && d.get(&was) == want {
			continue
		}
		eol := raw[len(bytes.TrimRight(raw, "\r\n")):]
		lines[i] = []byte(strings.TrimRight(string(raw[:sep+1]), " \t") + " " + quoteValue(want) + string(eol))
	}
	var add bytes.Buffer
	def := Default()
	for i := range defs {
		d := &defs[i]
		if !seen[d.name] && d.get(&c) != d.get(&def) {
			fmt.Fprintf(&add, "%s = %s\n", d.name, quoteValue(d.get(&c)))
		}
	}
	if add.Len() == 0 {
		return bytes.Join(lines, nil)
	}
	clientEnd, ok := ends["client"]
	if !ok {
		clientEnd, ok = ends["flags"]
	}
	if !ok {
		// No [client] section: a new one at the end, after a line break
		// if the file lacks its last.
		out := bytes.Join(lines, nil)
		if !bytes.HasSuffix(out, []byte("\n")) {
			out = append(out, '\n')
		}
		return append(append(out, "\n[client]\n"...), add.Bytes()...)
	}
	if prev := lines[clientEnd-1]; !bytes.HasSuffix(prev, []byte("\n")) {
		lines[clientEnd-1] = append(append([]byte{}, prev...), '\n')
	}
	out := bytes.Join(lines[:clientEnd], nil)
	out = append(out, add.Bytes()...)
	return append(out, bytes.Join(lines[clientEnd:], nil)...)
}
