package gcs

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"testing"

	"cloud.google.com/go/storage"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// TestEmulatorIgnoresGenerationPrecondition records what fake-gcs-server
// does with ifGenerationMatch on a read (docs/architecture.md): it serves
// the current generation anyway. ReadVersion must not depend on it, so it
// also compares the generation the server names with the pinned one. If
// this test fails because the emulator now answers 412, update the docs.
func TestEmulatorIgnoresGenerationPrecondition(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	key := "pin/obj"
	if err := s.Write(ctx, key, bytes.NewReader([]byte("old bytes")), 9, nil); err != nil {
		t.Fatal(err)
	}
	o, err := s.Head(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	gen, _ := strconv.ParseInt(o.Version, 10, 64)
	if err := s.Write(ctx, key, bytes.NewReader([]byte("new bytes")), 9, nil); err != nil {
		t.Fatal(err)
	}
	r, err := s.bucket.Object(key).If(storage.Conditions{GenerationMatch: gen}).NewReader(ctx)
	if err != nil {
		t.Fatalf("the emulator now refuses a read whose generation precondition fails (%v): ReadVersion's own check is then belt and braces; update docs/architecture.md", err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != "new bytes" || r.Attrs.Generation == gen {
		t.Fatalf("conditional read of an old generation gave %q (generation %d, pinned %d)", b, r.Attrs.Generation, gen)
	}
	if _, err := s.ReadVersion(ctx, key, o.Version, 0, -1); !errors.Is(err, objstore.ErrChanged) {
		t.Fatalf("ReadVersion(old generation) = %v, want ErrChanged", err)
	}
	if _, err := s.ReadVersion(ctx, key, "not-a-generation", 0, -1); err == nil {
		t.Fatal("ReadVersion accepted a version that is not a generation")
	}
}
