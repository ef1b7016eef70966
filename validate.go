package skyplane

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/skyplane-project/skyplane-go/internal/chunk"
	"github.com/skyplane-project/skyplane-go/internal/dataplane"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// validateJob rejects transfers that cannot be right whatever the stores say:
//
//   - a recursive copy or sync whose destination is the source folder itself
//     or lies under it (it would list what it writes);
//   - a copy of one object onto itself;
//   - a broadcast naming the same destination twice.
//
// Every error names the problem and what to do instead.
func validateJob(job dataplane.Job) error {
	if job.Filter != nil && !job.Recursive {
		return ErrFilterNotRecursive
	}
	src := realLocal(job.Src)
	for i, dst := range job.Dsts {
		if err := checkOverlap(src, realLocal(dst), job.Recursive); err != nil {
			if real := realLocal(dst); real != dst || src != job.Src {
				return fmt.Errorf("%w (symbolic links resolved: source %s, destination %s)", err, src, real)
			}
			return err
		}
		for j := range i {
			if sameDestination(src, realLocal(job.Dsts[j]), realLocal(dst), job.Recursive) {
				return fmt.Errorf("destination %s is given twice (destinations %d and %d): a broadcast writes each destination once; remove the duplicate", dst, j+1, i+1)
			}
		}
	}
	return nil
}

// sameStore reports whether a and b name the same bucket of the same store.
func sameStore(a, b objstore.Location) bool {
	return a.Scheme == b.Scheme && a.Account == b.Account && a.Bucket == b.Bucket
}

// checkOverlap fails when writing dst would overwrite or feed back into src.
func checkOverlap(src, dst objstore.Location, recursive bool) error {
	if !sameStore(src, dst) {
		return nil
	}
	if !recursive {
		key, err := chunk.NewMapping(src.Key, dst.Key, false).Dest(src.Key)
		if err == nil && key == src.Key {
			return fmt.Errorf("destination %s is the same object as the source %s: copying an object onto itself changes nothing; choose another destination", dst, src)
		}
		return nil
	}
	prefix := chunk.NewMapping(src.Key, dst.Key, true).ListPrefix()
	folder := strings.TrimRight(dst.Key, "/")
	// The destination folder (with one trailing "/") lies under the source
	// folder, or is it: every object written there would also be listed as
	// a source object. An empty prefix is the whole bucket.
	if folder+"/" == prefix || folder == "" && prefix == "" {
		return fmt.Errorf("destination %s is the same as the source %s: a transfer onto itself would copy its own output; choose a destination outside the source", dst, src)
	}
	if prefix == "" || strings.HasPrefix(folder+"/", prefix) {
		return fmt.Errorf("destination %s is inside the source %s: the transfer would copy its own output; choose a destination outside the source folder", dst, src)
	}
	return nil
}

// sameDestination reports whether a and b receive the same objects under the
// same keys.
func sameDestination(src, a, b objstore.Location, recursive bool) bool {
	if !sameStore(a, b) {
		return false
	}
	if recursive {
		return strings.TrimRight(a.Key, "/") == strings.TrimRight(b.Key, "/")
	}
	ka, erra := chunk.NewMapping(src.Key, a.Key, false).Dest(src.Key)
	kb, errb := chunk.NewMapping(src.Key, b.Key, false).Dest(src.Key)
	if erra != nil || errb != nil {
		return a.Key == b.Key
	}
	return ka == kb
}

// intoLocalFolders makes a single-object copy onto an existing local
// directory named without a trailing "/" land inside it (cp a.txt ./dir →
// dir/a.txt), as cp(1) does; the file could never replace the directory.
// Object stores have no directories: a key that is also a prefix of other
// keys is a valid object name, so there the destination is taken as
// written and a trailing "/" asks for the folder.
func intoLocalFolders(job *dataplane.Job) {
	if job.Recursive {
		return
	}
	for i, d := range job.Dsts {
		if d.Scheme != objstore.SchemeLocal || strings.HasSuffix(d.Key, "/") {
			continue
		}
		if fi, err := os.Stat("/" + d.Key); err == nil && fi.IsDir() {
			job.Dsts[i].Key += "/"
		}
	}
}

// realLocal resolves the symbolic links of a local location's path, so
// that a destination reached through a link to the source (alias → src,
// destination alias/inner) is seen inside it. The path need not exist: the
// longest existing prefix is resolved and the rest appended. Other stores
// are returned unchanged.
func realLocal(l objstore.Location) objstore.Location {
	if l.Scheme != objstore.SchemeLocal {
		return l
	}
	p, rest := "/"+strings.TrimRight(l.Key, "/"), ""
	for {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			key := strings.TrimPrefix(filepath.ToSlash(filepath.Join(real, rest)), "/")
			if strings.HasSuffix(l.Key, "/") && key != "" {
				key += "/"
			}
			l.Key = key
			return l
		}
		parent := filepath.Dir(p)
		if parent == p {
			return l
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}
