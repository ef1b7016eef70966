package objstore_test

import (
	"context"
	"errors"
	"iter"
	"slices"
	"strings"
	"testing"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
	"github.com/skyplane-project/skyplane-go/internal/objstore/local"
)

// reversed is a local store whose listing comes in the wrong order, as a
// misbehaving server's would.
type reversed struct{ objstore.Store }

func (r reversed) List(ctx context.Context, prefix string) iter.Seq2[objstore.Object, error] {
	return func(yield func(objstore.Object, error) bool) {
		var objs []objstore.Object
		for o, err := range r.Store.List(ctx, prefix) {
			if err != nil {
				yield(o, err)
				return
			}
			objs = append(objs, o)
		}
		slices.Reverse(objs)
		for _, o := range objs {
			if !yield(o, nil) {
				return
			}
		}
	}
}

func listKeys(s objstore.Store, prefix string) ([]string, error) {
	var ks []string
	for o, err := range s.List(context.Background(), prefix) {
		if err != nil {
			return ks, err
		}
		ks = append(ks, o.Key)
	}
	return ks, nil
}

// The portable layer passes an ordered listing through and stops one that
// is not in strict byte order at the first key out of place.
func TestPortableListOrder(t *testing.T) {
	d := local.New(t.TempDir())
	for _, k := range []string{"a", "b", "c"} {
		if err := d.Write(t.Context(), k, strings.NewReader(k), 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		driver  objstore.Store
		want    []string
		wantErr string
	}{
		{"ordered", d, []string{"a", "b", "c"}, ""},
		{"reversed", reversed{d}, []string{"c"}, `returned "b" after "c", not in strict byte order`},
	} {
		got, err := listKeys(objstore.Portable(tc.driver), "")
		if !slices.Equal(got, tc.want) || (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: List = %q, %v; want %q and an error containing %q", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

// A new registry has no backends, a clone has its parent's, and every store
// opened through a registry has the portable layer and a retry counter.
func TestRegistries(t *testing.T) {
	dir := t.TempDir()
	reg := objstore.NewRegistry()
	loc := objstore.Location{Scheme: objstore.SchemeLocal, Key: strings.TrimPrefix(dir, "/")}
	if _, err := reg.Open(t.Context(), loc, objstore.Options{}); err == nil || !strings.Contains(err.Error(), "not available") {
		t.Fatalf("Open on an empty registry = %v, want an error saying the backend is not available", err)
	}
	var got objstore.Options
	reg.Register(objstore.SchemeLocal, func(_ context.Context, _ objstore.Location, opts objstore.Options) (objstore.Store, error) {
		got = opts
		return local.New(dir), nil
	})
	clone := reg.Clone()
	for _, tc := range []struct {
		name string
		r    *objstore.Registry
	}{{"registry", reg}, {"clone", clone}} {
		st, err := tc.r.Open(t.Context(), loc, objstore.Options{})
		if err != nil {
			t.Fatalf("%s: Open: %v", tc.name, err)
		}
		if _, err := st.Head(t.Context(), ""); !errors.Is(err, objstore.ErrNotSupported) {
			t.Errorf("%s: Head(\"\") = %v, want ErrNotSupported from the portable layer", tc.name, err)
		}
		if _, ok := objstore.Unwrap(st).(*local.Store); !ok {
			t.Errorf("%s: Unwrap(Open(...)) = %T, want *local.Store", tc.name, objstore.Unwrap(st))
		}
		if got.Retries == nil {
			t.Errorf("%s: the driver got no retry counter", tc.name)
		}
	}
}

// OptionsFromEnv reads the variables the clouds' own tools use.
func TestOptionsFromEnv(t *testing.T) {
	env := map[string]string{
		"STORAGE_EMULATOR_HOST":           "127.0.0.1:4443",
		"GOOGLE_CLOUD_PROJECT":            "p",
		"AZURE_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
		"AZURE_STORAGE_KEY":               "k",
		"AZURE_STORAGE_ACCOUNT":           "a",
	}
	got := objstore.OptionsFromEnv(func(k string) string { return env[k] })
	want := objstore.Options{GCSEmulatorHost: "127.0.0.1:4443", GCSProject: "p",
		Azure: objstore.AzureCredentials{ConnectionString: "UseDevelopmentStorage=true", AccountKey: "k", Account: "a"}}
	if got != want {
		t.Errorf("OptionsFromEnv = %+v, want %+v", got, want)
	}
}
