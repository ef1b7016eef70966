package aws

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestLedger(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "dp1.ledger")
	l, err := OpenLedger(path)
	if err != nil {
		t.Fatal(err)
	}
	vpc := Entry{Kind: KindVPC, Region: "r", ID: "vpc-1"}
	sg := Entry{Kind: KindSecurityGroup, Region: "r", ID: "sg-1"}
	vm := Entry{Kind: KindInstance, Region: "r", ID: "i-1"}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(l.Created(vpc))
	must(l.Created(sg))
	must(l.Created(vm))
	must(l.Keep(vpc))
	must(l.Deleted(vm))
	if got, want := l.Live(), []Entry{{Op: "create", Kind: KindSecurityGroup, Region: "r", ID: "sg-1"}}; !slices.Equal(got, want) {
		t.Errorf("live %v, want %v", got, want)
	}
	// A crash mid-write leaves a torn last line: the reopened ledger skips it.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	must(err)
	_, err = f.WriteString(`{"op":"create","kind":"instan`)
	must(err)
	f.Close()
	st, err := os.Stat(path)
	must(err)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("ledger mode %v", st.Mode().Perm())
	}
	if _, err := OpenLedger(path); !errors.Is(err, ErrLedgerLocked) {
		t.Errorf("second open while the first holds it: %v, want ErrLedgerLocked", err)
	}
	must(l.Close())
	l2, err := OpenLedger(path)
	must(err)
	if got := l2.Live(); len(got) != 1 || got[0].ID != "sg-1" {
		t.Errorf("reopened live %v", got)
	}
	must(l2.Close())
	if _, err := os.Stat(path); err != nil {
		t.Errorf("a ledger with live entries must stay: %v", err)
	}
	l3, err := OpenLedger(path)
	must(err)
	must(l3.Deleted(sg))
	must(l3.Close())
	fileGone(t, path)
}
