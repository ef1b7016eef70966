package objstoretest

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// readVersion reads through objstore.ReadPinned and returns the bytes or
// the first error, whether it came when opening or while reading the body.
func readVersion(t *testing.T, s objstore.Store, key, version string, off, n int64) ([]byte, error) {
	t.Helper()
	rc, err := objstore.ReadPinned(t.Context(), s, key, version, off, n)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// listOne lists exactly key, failing unless the listing holds it.
func listOne(t *testing.T, s objstore.Store, key string) objstore.Object {
	t.Helper()
	for _, o := range List(t, s, key) {
		if o.Key == key {
			return o
		}
	}
	t.Fatalf("List(%q) does not hold %q", key, key)
	return objstore.Object{}
}

// wantSameObject checks what List and Head say of one object agrees: the
// version, the ETag and the MD5 are the same, and the times are the same
// instant as far as the coarser of the two is precise (whole seconds).
func wantSameObject(t *testing.T, listed, head objstore.Object) {
	t.Helper()
	if listed.Version == "" {
		t.Errorf("List gives %q no Version", listed.Key)
	}
	if listed.Version != head.Version || listed.ETag != head.ETag || !bytes.Equal(listed.MD5, head.MD5) || !bytes.Equal(listed.CRC32C, head.CRC32C) || listed.Size != head.Size {
		t.Errorf("List and Head disagree on %q:\n list %+v\n head %+v", listed.Key, listed, head)
	}
	if listed.ModTime.IsZero() || head.ModTime.IsZero() {
		t.Errorf("%q: ModTime is zero (list %v, head %v)", listed.Key, listed.ModTime, head.ModTime)
	}
	if !listed.ModTime.Truncate(time.Second).Equal(head.ModTime.Truncate(time.Second)) {
		t.Errorf("%q: List says ModTime %v, Head %v", listed.Key, listed.ModTime, head.ModTime)
	}
}

// testPinnedRead: a read pinned to a listed version fails with ErrChanged
// once the object is rewritten (same size, other bytes), and reads the new
// bytes when pinned to the new version.
func testPinnedRead(t *testing.T, s objstore.Store) {
	if _, ok := s.(objstore.VersionReader); !ok {
		t.Fatalf("%T does not implement objstore.VersionReader", s)
	}
	key := "pinned/obj.bin"
	old, cur := randBytes(70, 64*1024), randBytes(71, 64*1024)
	write(t, s, key, old)
	v1 := listOne(t, s, key)
	h1, err := s.Head(t.Context(), key)
	if err != nil {
		t.Fatalf("Head(%q): %v", key, err)
	}
	wantSameObject(t, v1, h1)
	if got, err := readVersion(t, s, key, v1.Version, 0, -1); err != nil || !bytes.Equal(got, old) {
		t.Fatalf("ReadVersion(%q, listed version) = %d bytes, %v; want the %d bytes written", key, len(got), err, len(old))
	}

	write(t, s, key, cur)
	v2 := listOne(t, s, key)
	if v2.Version == v1.Version {
		t.Fatalf("rewriting %q with other bytes kept its version %q", key, v1.Version)
	}
	for _, r := range []struct{ off, n int64 }{{0, -1}, {100, 1000}, {0, 0}} {
		got, err := readVersion(t, s, key, v1.Version, r.off, r.n)
		if !errors.Is(err, objstore.ErrChanged) {
			t.Errorf("ReadVersion(%q, old version, %d, %d) = %d bytes, %v; want an error wrapping ErrChanged", key, r.off, r.n, len(got), err)
		} else if objstore.IsRetryable(err) {
			t.Errorf("ReadVersion(%q, old version): %v is retryable; a changed object stays changed", key, err)
		}
	}
	if got, err := readVersion(t, s, key, v2.Version, 100, 1000); err != nil || !bytes.Equal(got, cur[100:1100]) {
		t.Errorf("ReadVersion(%q, new version, 100, 1000) = %d bytes, %v; want the new bytes", key, len(got), err)
	}
	wantContent(t, s, key, cur)
	if err := s.Delete(t.Context(), key); err != nil {
		t.Fatalf("Delete(%q): %v", key, err)
	}
	if _, err := readVersion(t, s, key, v2.Version, 0, -1); !errors.Is(err, objstore.ErrNotFound) && !errors.Is(err, objstore.ErrChanged) {
		t.Errorf("ReadVersion(%q) of a deleted object = %v; want ErrNotFound or ErrChanged", key, err)
	}
}

// multipartETag is the S3 ETag of an object made of parts with these MD5s.
func multipartETag(parts []Part) string {
	h := md5.New()
	for _, p := range parts {
		h.Write(p.MD5)
	}
	return fmt.Sprintf("%x-%d", h.Sum(nil), len(parts))
}

// testReportedChecksums checks the MD5 and ETag List and Head report, as the
// store's Features promise: the whole-object MD5 of a Write with an MD5
// (ReportsMD5), the "-N" ETag of a multipart object (MultipartETag), and
// never a wrong MD5.
func testReportedChecksums(t *testing.T, s objstore.Store) {
	f := s.Features()
	single := randBytes(80, 100*1024)
	write(t, s, "sums/single", single)
	parts, all := MakeParts(81, int(max(f.MinPartSize, mib)), 1000)
	key := "sums/multi"
	id, err := s.InitiateMultipart(t.Context(), key)
	if err != nil {
		t.Fatalf("InitiateMultipart(%q): %v", key, err)
	}
	for i := range parts {
		upload(t, s, key, id, &parts[i])
	}
	if err := s.CompleteMultipart(t.Context(), key, id, completeParts(parts)); err != nil {
		t.Fatalf("CompleteMultipart(%q): %v", key, err)
	}
	for _, c := range []struct {
		key  string
		data []byte
	}{{"sums/single", single}, {key, all}} {
		h, err := s.Head(t.Context(), c.key)
		if err != nil {
			t.Fatalf("Head(%q): %v", c.key, err)
		}
		l := listOne(t, s, c.key)
		wantSameObject(t, l, h)
		for how, o := range map[string]objstore.Object{"List": l, "Head": h} {
			crc := binary.BigEndian.AppendUint32(nil, crc32.Checksum(c.data, crc32.MakeTable(crc32.Castagnoli)))
			if (o.CRC32C != nil || f.ReportsCRC32C) && !bytes.Equal(o.CRC32C, crc) {
				t.Errorf("%s(%q).CRC32C = %x, want %x (Features.ReportsCRC32C %v)", how, c.key, o.CRC32C, crc, f.ReportsCRC32C)
			}
			if o.MD5 != nil && !bytes.Equal(o.MD5, sum(c.data)) {
				t.Errorf("%s(%q).MD5 = %x, want %x (or nil)", how, c.key, o.MD5, sum(c.data))
			}
			switch {
			case c.key == "sums/single" && f.ReportsMD5 && !bytes.Equal(o.MD5, sum(c.data)):
				t.Errorf("%s(%q).MD5 = %x; Features.ReportsMD5 promises %x", how, c.key, o.MD5, sum(c.data))
			case c.key == key && f.MultipartETag && !strings.EqualFold(o.ETag, multipartETag(parts)):
				t.Errorf("%s(%q).ETag = %q; Features.MultipartETag promises %q", how, c.key, o.ETag, multipartETag(parts))
			case c.key == "sums/single" && f.MultipartETag && !strings.EqualFold(o.ETag, hex.EncodeToString(sum(c.data))):
				t.Errorf("%s(%q).ETag = %q; a single-part S3 ETag is the MD5 %x", how, c.key, o.ETag, sum(c.data))
			}
		}
	}
}
