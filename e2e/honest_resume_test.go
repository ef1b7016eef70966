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

// TestSecondRunWhileLive: the same command started while a first run is
// transferring stops at once with an error naming the locked journal; the
// first run finishes unharmed.
func TestSecondRunWhileLive(t *testing.T) {
	s := newSandbox(t)
	s.config("multipart_min_threshold_mb", "4", "multipart_chunk_size_mb", "4", "num_connections", "2")
	src, dst := s.path("src"), s.path("dst")
	honestTree(t, src)
	// Slow enough that the first run is still sending when the second one
	// has started its gateways, even on a loaded machine.
	w := s.watch([]string{"SKYPLANE_TEST_FRAME_DELAY_MS=2000"}, "cp", "-r", "-y", "--json", src, dst)
	if w.waitProgress(midway(0.5)) == 0 {
		_ = w.finish(t)
		t.Fatalf("never caught the first run midway\n%s", w.stderr.String())
	}
	r := s.run(nil, "cp", "-r", "-y", src, dst)
	if r.code == 0 || !strings.Contains(r.stderr, "journal is locked") || !strings.Contains(r.stderr, filepath.Join(s.path(), "")) {
		t.Errorf("second run: exit %d\n%s", r.code, r.stderr)
	}
	if err := w.finish(t); err != nil {
		t.Fatalf("first run: %v\n%s", err, w.stderr.String())
	}
	assertTreesEqual(t, src, dst)
}

// TestSyncSeesSubSecondEdit: a same-size edit whose mtime is 200 ms after
// the copy's, in the same second, is copied by the next sync (local disk
// keeps nanoseconds on both sides).
func TestSyncSeesSubSecondEdit(t *testing.T) {
	s := newSandbox(t)
	src, dst := s.path("src"), s.path("dst")
	writeFile(t, filepath.Join(src, "f"), []byte("version 1"))
	s.mustRun("sync", "-y", src, dst)
	fi, err := os.Stat(filepath.Join(dst, "f"))
	if err != nil {
		t.Fatal(err)
	}
	// The copy's mtime moved to 100 ms into its second, the edit 200 ms later.
	copied := fi.ModTime().Truncate(time.Second).Add(100 * time.Millisecond)
	if err := os.Chtimes(filepath.Join(dst, "f"), copied, copied); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(src, "f"), []byte("version 2"))
	edited := copied.Add(200 * time.Millisecond)
	if err := os.Chtimes(filepath.Join(src, "f"), edited, edited); err != nil {
		t.Fatal(err)
	}
	r := s.mustRun("sync", "-y", "--json", src, dst)
	if got := doneEvent(t, r.stdout)["objects"].(float64); got != 1 {
		t.Errorf("sync copied %v objects, want the edited one", got)
	}
	if got := readFile(t, filepath.Join(dst, "f")); got != "version 2" {
		t.Errorf("destination holds %q", got)
	}
}

// TestSourceRewrittenInFlight: a striped source object larger than the
// source gateway's read window is replaced (same size, other bytes) once
// its first parts landed, so later parts are read after the rewrite. The
// destination must then hold the old or the new version whole, or the copy
// fail saying the source changed; never a mix. Only a store that pins
// reads to the listed version (objstore.VersionReader) can promise that.
func TestSourceRewrittenInFlight(t *testing.T) {
	s := newSandbox(t)
	s.config("multipart_min_threshold_mb", "4", "multipart_chunk_size_mb", "4", "num_connections", "2")
	src, dst := s.path("src"), s.path("dst")
	const size = 192 << 20 // beyond the 128 MiB a gateway reads ahead
	old := bytes.Repeat([]byte("old!"), size/4)
	writeFile(t, filepath.Join(src, "big"), old)
	w := s.watch([]string{"SKYPLANE_TEST_FRAME_DELAY_MS=400"}, "cp", "-r", "-y", "--json", "-n", "1", src, dst)
	if w.waitProgress(midway(0.3)) == 0 {
		_ = w.finish(t)
		t.Fatalf("never caught the transfer midway\n%s", w.stderr.String())
	}
	fresh := bytes.Repeat([]byte("new!"), size/4)
	tmp := s.path("big.tmp")
	writeFile(t, tmp, fresh)
	if err := os.Rename(tmp, filepath.Join(src, "big")); err != nil {
		t.Fatal(err)
	}
	err := w.finish(t)
	got, rerr := os.ReadFile(filepath.Join(dst, "big"))
	switch {
	case err != nil:
		if !strings.Contains(w.stderr.String()+w.out.String(), "changed during transfer") {
			t.Errorf("failed without saying the source changed: %v\n%s", err, w.stderr.String())
		}
		if rerr == nil {
			t.Errorf("a failed copy left %d bytes at the destination", len(got))
		}
	case rerr != nil:
		t.Fatalf("copy succeeded, destination unreadable: %v", rerr)
	case bytes.Equal(got, old):
		t.Log("the destination holds the old version, whole")
	case bytes.Equal(got, fresh):
		t.Log("the destination holds the new version, whole")
	default:
		t.Errorf("the destination is a mix: %d bytes of the old version, %d of the new",
			bytes.Count(got, []byte("old!"))*4, bytes.Count(got, []byte("new!"))*4)
	}
}
