// Package benchdata makes the benchmarks' data: English text that
// compresses as real prose does.
package benchdata

import (
	"bytes"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// TextCorpus gathers English text from the machine's documentation
// (licenses, copyright files, READMEs), up to about 64 MiB; TextObject
// strings its files together.
func TextCorpus() ([][]byte, error) {
	var files [][]byte
	total := 0
	for _, root := range []string{"/usr/share/common-licenses", "/usr/share/doc", "/usr/share/go/doc", "/usr/local/go/doc"} {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || total > 64<<20 {
				return nil
			}
			base := strings.ToLower(d.Name())
			if !(base == "copyright" || strings.HasSuffix(base, ".txt") || strings.HasPrefix(base, "readme") || strings.HasSuffix(base, ".md") || strings.HasSuffix(base, ".html")) ||
				strings.HasSuffix(base, ".gz") {
				return nil
			}
			data, err := os.ReadFile(p)
			if err == nil && len(data) > 0 && !bytes.Contains(data[:min(len(data), 512)], []byte{0}) {
				files = append(files, data)
				total += len(data)
			}
			return nil
		})
	}
	if total < 1<<20 {
		return nil, fmt.Errorf("found only %d bytes of text under /usr/share: the text workload needs documentation files", total)
	}
	return files, nil
}

// TextObject is size bytes of the corpus's files in an order of the seed's
// own, so each object differs and LZ4 sees prose, not repeats.
func TextObject(corpus [][]byte, seed int, size int64) []byte {
	r := mrand.New(mrand.NewPCG(uint64(seed), 42))
	out := make([]byte, 0, size)
	for int64(len(out)) < size {
		for _, i := range r.Perm(len(corpus)) {
			out = append(out, corpus[i]...)
			if int64(len(out)) >= size {
				break
			}
		}
	}
	return out[:size]
}
