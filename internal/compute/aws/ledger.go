package aws

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// Kind names a resource type the provider creates; teardown deletes each
// kind its own way.
type Kind string

const (
	KindVPC             Kind = "vpc"
	KindInternetGateway Kind = "internet-gateway"
	KindIGWAttachment   Kind = "igw-attachment" // ID: igw id, Parent: vpc id
	KindRouteTable      Kind = "route-table"
	KindRoute           Kind = "route" // ID: destination CIDR, Parent: route table id
	KindSubnet          Kind = "subnet"
	KindRTAssociation   Kind = "rt-association" // ID: association id
	KindSecurityGroup   Kind = "security-group"
	KindKeyPair         Kind = "key-pair" // ID: key name
	KindInstance        Kind = "instance"
	KindRole            Kind = "role"             // ID: role name (IAM is global: Region "")
	KindRolePolicy      Kind = "role-policy"      // ID: policy name, Parent: role name
	KindInstanceProfile Kind = "instance-profile" // ID: profile name
	KindProfileRole     Kind = "profile-role"     // ID: role name, Parent: profile name
)

// ErrLedgerLocked: the ledger belongs to a client that is running now.
var ErrLedgerLocked = errors.New("ledger in use by a running client")

// Entry is one line of the ledger.
type Entry struct {
	Op     string `json:"op"` // "create", "delete" or "keep"
	Kind   Kind   `json:"kind"`
	Region string `json:"region,omitempty"`
	ID     string `json:"id"`
	Parent string `json:"parent,omitempty"`
}

func (e Entry) key() string { return string(e.Kind) + "|" + e.Region + "|" + e.ID + "|" + e.Parent }

// Ledger is the append-only record of what one dataplane created, one JSON
// line per event, fsynced before the call that created a resource returns:
// if the client dies, the file names everything a later deprovision must
// remove. "keep" marks what outlives the dataplane (the shared network).
type Ledger struct {
	mu   sync.Mutex
	path string
	f    *os.File
	all  []Entry
}

// OpenLedger opens (or creates) the ledger at path and reads what it holds.
func OpenLedger(path string) (*Ledger, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	// A running client holds its ledger locked: deprovision must not tear
	// down a dataplane that is still in use. The lock dies with the process.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLedgerLocked, path)
		}
		return nil, fmt.Errorf("lock ledger %s: %w", path, err)
	}
	l := &Ledger{path: path, f: f}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// A torn last line (a crash mid-write) names nothing created:
			// the create it would record had not returned yet.
			continue
		}
		l.all = append(l.all, e)
	}
	if err := sc.Err(); err != nil {
		f.Close()
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	return l, nil
}

// Path is the ledger's file.
func (l *Ledger) Path() string { return l.path }

func (l *Ledger) append(e Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return errors.New("ledger closed")
	}
	if _, err := l.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("ledger %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("ledger %s: %w", l.path, err)
	}
	l.all = append(l.all, e)
	return nil
}

// Created records a resource that now exists.
func (l *Ledger) Created(e Entry) error { e.Op = "create"; return l.append(e) }

// Deleted records a resource that no longer exists.
func (l *Ledger) Deleted(e Entry) error { e.Op = "delete"; return l.append(e) }

// Keep records that a resource outlives the dataplane.
func (l *Ledger) Keep(e Entry) error { e.Op = "keep"; return l.append(e) }

// Live lists the resources created and neither deleted nor kept, in
// creation order: teardown walks it backwards.
func (l *Ledger) Live() []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	gone := map[string]bool{}
	for _, e := range l.all {
		if e.Op == "delete" || e.Op == "keep" {
			gone[e.key()] = true
		}
	}
	var out []Entry
	for _, e := range l.all {
		if e.Op == "create" && !gone[e.key()] {
			out = append(out, e)
			gone[e.key()] = true // a resource recorded twice is deleted once
		}
	}
	return out
}

// Close closes the file; with nothing live it also removes it.
func (l *Ledger) Close() error {
	live := len(l.Live())
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	if err == nil && live == 0 {
		err = os.Remove(l.path)
	}
	return err
}
