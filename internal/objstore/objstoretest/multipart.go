package objstoretest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// Part is a multipart part with its content, for backend tests.
type Part struct {
	objstore.Part
	Data []byte
}

// MakeParts returns parts of the given sizes with deterministic content
// (from seed), numbered from 1 with their offsets and MD5s, and the whole
// object they make.
func MakeParts(seed uint64, sizes ...int) ([]Part, []byte) {
	var (
		parts []Part
		all   []byte
		off   int64
	)
	for i, n := range sizes {
		d := randBytes(seed+uint64(i), n)
		parts = append(parts, Part{objstore.Part{Number: i + 1, Offset: off, Size: int64(n), MD5: sum(d)}, d})
		all = append(all, d...)
		off += int64(n)
	}
	return parts, all
}

func upload(t *testing.T, s objstore.Store, key, id string, p *Part) {
	t.Helper()
	etag, err := s.UploadPart(t.Context(), key, id, p.Part, bytes.NewReader(p.Data))
	if err != nil {
		t.Fatalf("UploadPart(%q, part %d): %v", key, p.Number, err)
	}
	p.ETag = etag
}

func completeParts(parts []Part) []objstore.Part {
	ps := make([]objstore.Part, len(parts))
	for i, p := range parts {
		ps[i] = p.Part
	}
	return ps
}

func uploadIDs(t *testing.T, s objstore.Store, prefix string) []objstore.Upload {
	t.Helper()
	ups, err := s.ListMultipartUploads(t.Context(), prefix)
	if err != nil {
		t.Fatalf("ListMultipartUploads(%q): %v", prefix, err)
	}
	return ups
}

func testMultipart(t *testing.T, s objstore.Store) {
	key := "mpu/big.bin"
	parts, all := MakeParts(10, 5*mib, 5*mib, 1024)
	id, err := s.InitiateMultipart(t.Context(), key)
	if err != nil {
		t.Fatalf("InitiateMultipart(%q): %v", key, err)
	}
	if id == "" {
		t.Fatalf("InitiateMultipart(%q) returned an empty upload id", key)
	}
	for _, i := range []int{2, 0, 1} { // parts 3, 1, 2
		upload(t, s, key, id, &parts[i])
	}
	listed := completeParts(parts)
	slices.Reverse(listed) // callers may list the parts in any order
	if err := s.CompleteMultipart(t.Context(), key, id, listed); err != nil {
		t.Fatalf("CompleteMultipart(%q): %v", key, err)
	}
	wantHead(t, s, key, all)
	wantContent(t, s, key, all)
	if got := read(t, s, key, 5*mib-10, 20); !bytes.Equal(got, all[5*mib-10:5*mib+10]) {
		t.Errorf("ranged read across a part boundary differs")
	}
	wantKeys(t, s, "mpu/", []string{key})
	for _, u := range uploadIDs(t, s, "mpu/") {
		if u.UploadID == id {
			t.Errorf("ListMultipartUploads(mpu/) still lists completed upload %+v", u)
		}
	}
}

func testMultipartChecksumMismatch(t *testing.T, s objstore.Store) {
	key := "mpubad/obj"
	parts, all := MakeParts(20, 4096)
	id, err := s.InitiateMultipart(t.Context(), key)
	if err != nil {
		t.Fatalf("InitiateMultipart(%q): %v", key, err)
	}
	bad := parts[0].Part
	bad.MD5 = sum([]byte("not the data"))
	if _, err := s.UploadPart(t.Context(), key, id, bad, bytes.NewReader(parts[0].Data)); !errors.Is(err, objstore.ErrChecksumMismatch) {
		s.AbortMultipart(t.Context(), key, id)
		t.Fatalf("UploadPart with a wrong MD5: error %v, want an error wrapping ErrChecksumMismatch", err)
	}
	// The part can be sent again, correctly.
	upload(t, s, key, id, &parts[0])
	if err := s.CompleteMultipart(t.Context(), key, id, completeParts(parts)); err != nil {
		t.Fatalf("CompleteMultipart(%q) after re-uploading the rejected part: %v", key, err)
	}
	wantContent(t, s, key, all)
}

func testMultipartAbort(t *testing.T, s objstore.Store) {
	key := "abort/obj"
	parts, _ := MakeParts(30, 1024)
	id, err := s.InitiateMultipart(t.Context(), key)
	if err != nil {
		t.Fatalf("InitiateMultipart(%q): %v", key, err)
	}
	upload(t, s, key, id, &parts[0])
	if err := s.AbortMultipart(t.Context(), key, id); err != nil {
		t.Fatalf("AbortMultipart(%q): %v", key, err)
	}
	wantNotFound(t, s, key)
	wantKeys(t, s, "abort/", nil)
	if ups := uploadIDs(t, s, "abort/"); len(ups) != 0 {
		t.Errorf("ListMultipartUploads(abort/) after abort = %+v, want none", ups)
	}
}

func testMultipartIncomplete(t *testing.T, s objstore.Store) {
	key := "incomplete/obj"
	parts, _ := MakeParts(40, 1024)
	id, err := s.InitiateMultipart(t.Context(), key)
	if err != nil {
		t.Fatalf("InitiateMultipart(%q): %v", key, err)
	}
	// t.Context() is already cancelled when cleanups run.
	t.Cleanup(func() {
		if err := s.AbortMultipart(context.Background(), key, id); err != nil {
			t.Errorf("abort the incomplete upload: %v", err)
		}
	})
	upload(t, s, key, id, &parts[0])
	wantNotFound(t, s, key)
	wantKeys(t, s, "incomplete/", nil)
	for _, k := range keys(List(t, s, "")) { // nor in a whole-bucket listing
		if strings.HasPrefix(k, "incomplete") {
			t.Errorf("List(\"\") shows %q while its multipart upload is incomplete", k)
		}
	}
	ups := uploadIDs(t, s, "incomplete/")
	if !slices.Contains(ups, objstore.Upload{Key: key, UploadID: id}) {
		t.Errorf("ListMultipartUploads(incomplete/) = %+v, want it to include {%s %s}", ups, key, id)
	}
	if ups := uploadIDs(t, s, "incompletely/"); len(ups) != 0 {
		t.Errorf("ListMultipartUploads(incompletely/) = %+v, want none", ups)
	}
}

// testUploadsSorted: ListMultipartUploads answers sorted by key, then upload
// id, whatever order the uploads were opened in.
func testUploadsSorted(t *testing.T, s objstore.Store) {
	var opened []objstore.Upload
	for _, key := range []string{"mpusort/c", "mpusort/a", "mpusort/b", "mpusort/a"} {
		id, err := s.InitiateMultipart(t.Context(), key)
		if err != nil {
			t.Fatalf("InitiateMultipart(%q): %v", key, err)
		}
		opened = append(opened, objstore.Upload{Key: key, UploadID: id})
		p, _ := MakeParts(uint64(len(opened)), 10)
		upload(t, s, key, id, &p[0])
		t.Cleanup(func() { s.AbortMultipart(t.Context(), key, id) })
	}
	got := uploadIDs(t, s, "mpusort/")
	want := slices.Clone(opened)
	slices.SortFunc(want, func(a, b objstore.Upload) int {
		return cmp.Or(strings.Compare(a.Key, b.Key), strings.Compare(a.UploadID, b.UploadID))
	})
	if !slices.Equal(got, want) {
		t.Errorf("ListMultipartUploads(mpusort/) = %v, want %v", got, want)
	}
}
