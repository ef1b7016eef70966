package aws

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/skyplane-project/skyplane-go/internal/compute"
	"github.com/skyplane-project/skyplane-go/internal/compute/ssh"
)

// sshServer is an in-process sshd presenting hostKey: it records the keys
// clients authenticate with and refuses every command.
type sshServer struct {
	addr   string
	mu     sync.Mutex
	logins []string
}

func newSSHServer(t *testing.T, hostKey *keyPair) *sshServer {
	signer, err := gossh.NewSignerFromKey(hostKey.priv)
	if err != nil {
		t.Fatal(err)
	}
	s := &sshServer{}
	cfg := &gossh.ServerConfig{PublicKeyCallback: func(_ gossh.ConnMetadata, k gossh.PublicKey) (*gossh.Permissions, error) {
		s.mu.Lock()
		s.logins = append(s.logins, string(gossh.MarshalAuthorizedKey(k)))
		s.mu.Unlock()
		return nil, nil
	}}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s.addr = ln.Addr().String()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_, chans, reqs, err := gossh.NewServerConn(c, cfg)
				if err != nil {
					return
				}
				go gossh.DiscardRequests(reqs)
				for ch := range chans {
					ch.Reject(gossh.Prohibited, "no commands here")
				}
			}()
		}
	}()
	return s
}

// TestSSHDeployerPinsTheHostKey: the deployer logs in with the dataplane's
// key only to a VM showing the host key cloud-init was given.
func TestSSHDeployerPinsTheHostKey(t *testing.T) {
	hostKey, err := newKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := newKeyPair()
	login, _ := newKeyPair()
	dir := t.TempDir()
	idFile := filepath.Join(dir, "dp1.ed25519")
	if err := os.WriteFile(idFile, login.privPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		pinned  *keyPair
		changed bool
	}{{"pinned key", hostKey, false}, {"another key", other, true}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newSSHServer(t, hostKey)
			ap := netip.MustParseAddrPort(srv.addr)
			var stages []Stage
			d := &SSHDeployer{Options: ssh.Options{Binary: bin, ClientID: "c1", DataplaneID: "dp1", DialTimeout: 2 * time.Second}, SSHWait: 2 * time.Second}
			vm := VM{Spec: compute.Spec{ID: "src-0", Region: "aws:us-east-1"}, Public: ap.Addr(), Private: ap.Addr(), SSHPort: int(ap.Port()),
				User: "ubuntu", IdentityFile: idFile, HostKey: tc.pinned.authorized, DataPorts: [2]int32{40000, 40001}}
			_, err := d.Deploy(context.Background(), []VM{vm}, compute.Shared{Dir: t.TempDir()}, func(_ string, st Stage) { stages = append(stages, st) })
			if err == nil {
				t.Fatal("deploy succeeded on a server that runs no command")
			}
			if len(stages) != 1 || stages[0] != StageSSH {
				t.Errorf("stages %v, want ssh up only", stages)
			}
			srv.mu.Lock()
			logins := srv.logins
			srv.mu.Unlock()
			if tc.changed {
				if !errors.Is(err, ssh.ErrHostKeyChanged) || len(logins) != 0 {
					t.Errorf("err %v, logins %d: want the changed key refused before any login", err, len(logins))
				}
			} else if len(logins) == 0 || logins[len(logins)-1] != login.authorized+"\n" {
				t.Errorf("logins %q, want the dataplane's key (err %v)", logins, err)
			}
			if err := d.Teardown(context.Background()); err != nil {
				t.Errorf("teardown: %v", err)
			}
		})
	}
}

func TestSSHDeployerGivesUpOnSilentVMs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close() // nothing answers there
	d := &SSHDeployer{SSHWait: 100 * time.Millisecond}
	vm := VM{Spec: compute.Spec{ID: "src-0", Region: "aws:us-east-1"}, Public: ap.Addr(), SSHPort: int(ap.Port())}
	_, err = d.Deploy(context.Background(), []VM{vm}, compute.Shared{}, func(string, Stage) { t.Error("no stage expected") })
	if err == nil || !containsAll(err.Error(), "gateway src-0", "did not answer SSH within 100ms") {
		t.Fatalf("deploy: %v", err)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
