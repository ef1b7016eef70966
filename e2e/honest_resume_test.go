package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// honestTree writes four whole objects and one striped one (4 parts of
// 4 MiB with the sandbox's config) under dir and returns their contents.
func honestTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for i := range 4 {
		files[fmt.Sprintf("d%d/f%02d", i%2, i)] = randomBytes(t, 2<<20+i)
	}
	files["striped"] = randomBytes(t, 16<<20)
	for k, b := range files {
		writeFile(t, filepath.Join(dir, k), b)
	}
	return files
}

// TestResumeAfterSourceRewrite: a copy is interrupted midway, the source is
// rewritten (same sizes, other bytes), and the same command runs again: the
// destination equals the new source, not a mix with the old one, and the
// interrupted run's multipart uploads are gone from the store.
func TestResumeAfterSourceRewrite(t *testing.T) {
	s := newSandbox(t)
	s.config("multipart_min_threshold_mb", "4", "multipart_chunk_size_mb", "4", "num_connections", "2")
	for _, b := range []backend{localBackend(s), s3Backend(t, s), gcsBackend(t, s), azureBackend(t, s)} {
		t.Run(b.name, func(t *testing.T) {
			src := s.path(randomName("src-"))
			files := honestTree(t, src)
			dst := b.bucket(t)
			interrupt(t, s, 0.3, src, join(dst, "out"))
			for k, old := range files {
				files[k] = randomBytes(t, len(old))
				writeFile(t, filepath.Join(src, k), files[k])
			}
			r := s.runLimited(t, 3*time.Minute, "cp", "-r", "-y", "--json", src, join(dst, "out"))
			for k, want := range files {
				if got, ok := b.get(t, dst, "out/"+k); !ok || !bytes.Equal(got, want) {
					t.Errorf("%s: %d bytes (present %v), not the rewritten source's %d", k, len(got), ok, len(want))
				}
			}
			// Raw listing: no leftover parts, compose pieces or staging.
			var want []string
			for k := range files {
				want = append(want, "out/"+k)
			}
			sort.Strings(want)
			if got := b.list(t, dst, ""); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("destination holds %v, want %v", got, want)
			}
			switch b.name {
			case "s3":
				assertNoS3Uploads(t, dst)
				if n := doneEvent(t, r.stdout)["verified_md5"].(float64); n == 0 {
					t.Errorf("nothing verified by MD5 on S3: %v", doneEvent(t, r.stdout))
				}
			case "local":
				assertNoStaging(t, dst)
			}
		})
	}
}

// interrupt runs `skyplane cp -r` slowed down and sends it SIGINT once at
// least frac of the bytes landed.
func interrupt(t *testing.T, s *sandbox, frac float64, src, dst string) {
	t.Helper()
	w := s.watch([]string{"SKYPLANE_TEST_FRAME_DELAY_MS=300"}, "cp", "-r", "-y", "--json", src, dst)
	landed := w.waitProgress(past(frac))
	if landed > 0 {
		_ = w.cmd.Process.Signal(os.Interrupt)
	}
	err := w.finish(t)
	if landed == 0 {
		t.Fatalf("never caught the transfer midway (%v)\nstdout:\n%s\nstderr:\n%s", err, tail(w.out.String(), 6), w.stderr.String())
	}
}

func assertNoStaging(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".skyplane-") {
			t.Errorf("multipart staging left: %s", p)
		}
		return nil
	})
}

// TestRerunCopyOverwritesForeignFile: while an interrupted copy's journal
// exists, a destination file skyplane never wrote (same size, newer) is
// overwritten by the re-run cp: only sync compares with the destination.
func TestRerunCopyOverwritesForeignFile(t *testing.T) {
	s := newSandbox(t)
	s.config("multipart_min_threshold_mb", "4", "multipart_chunk_size_mb", "4", "num_connections", "2")
	src, dst := s.path("src"), s.path("dst")
	files := honestTree(t, src)
	interrupt(t, s, 0.2, src, dst)
	foreign := ""
	for k := range files {
		if _, err := os.Stat(filepath.Join(dst, k)); err != nil {
			foreign = k
			break
		}
	}
	if foreign == "" {
		t.Fatal("the interrupted run copied everything")
	}
	writeFile(t, filepath.Join(dst, foreign), bytes.Repeat([]byte("x"), len(files[foreign])))
	s.runLimited(t, 3*time.Minute, "cp", "-r", "-y", src, dst)
	assertTreesEqual(t, src, dst)
}
