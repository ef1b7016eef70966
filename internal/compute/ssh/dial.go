package ssh

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/skyplane-project/skyplane-go/internal/hosts"
)

// ErrUnknownHostKey: the host's key is in neither its known_hosts file nor
// its host_key entry. ErrHostKeyChanged: a key is on record for the host and
// the host presented another. Either way nothing is sent to the host.
var (
	ErrUnknownHostKey = errors.New("unknown host key")
	ErrHostKeyChanged = errors.New("host key changed")
)

// hostKeyCallback verifies a host's key against its known_hosts file or its
// pinned host_key; it never accepts a key it cannot verify. It also returns
// the key algorithms to ask the host for: those of the recorded keys, so a
// host with several keys presents the one on record.
func hostKeyCallback(h hosts.Host) (gossh.HostKeyCallback, []string, error) {
	if h.HostKey != "" {
		want, _, _, _, err := gossh.ParseAuthorizedKey([]byte(h.HostKey))
		if err != nil {
			return nil, nil, fmt.Errorf("host_key: %w", err)
		}
		return func(_ string, _ net.Addr, key gossh.PublicKey) error {
			if string(key.Marshal()) == string(want.Marshal()) {
				return nil
			}
			return fmt.Errorf("%w: it presents %s %s, the inventory's host_key is %s %s; if the host was reinstalled, update host_key after checking the new fingerprint out of band",
				ErrHostKeyChanged, key.Type(), gossh.FingerprintSHA256(key), want.Type(), gossh.FingerprintSHA256(want))
		}, algorithms([]gossh.PublicKey{want}), nil
	}
	cb, err := knownhosts.New(h.KnownHosts)
	if err != nil {
		return nil, nil, fmt.Errorf("known_hosts: %w", err)
	}
	// Asking with a key no file holds lists the keys on record for the host.
	probe, _, _ := ed25519.GenerateKey(rand.Reader)
	probeKey, _ := gossh.NewPublicKey(probe)
	var recorded []gossh.PublicKey
	var ke *knownhosts.KeyError
	if err := cb(h.SSHAddr(), &net.TCPAddr{}, probeKey); errors.As(err, &ke) {
		for _, k := range ke.Want {
			recorded = append(recorded, k.Key)
		}
	}
	return func(hostname string, remote net.Addr, key gossh.PublicKey) error {
		err := cb(hostname, remote, key)
		var ke *knownhosts.KeyError
		if !errors.As(err, &ke) {
			return err
		}
		if len(ke.Want) == 0 {
			return fmt.Errorf("%w: %s presents %s %s, which is not in %s; add the host's key there (e.g. ssh-keyscan -p %d %s) after checking its fingerprint out of band",
				ErrUnknownHostKey, hostname, key.Type(), gossh.FingerprintSHA256(key), h.KnownHosts, h.Port, h.Address)
		}
		w := ke.Want[0]
		return fmt.Errorf("%w: %s presents %s %s but %s:%d has %s %s (possible man-in-the-middle); if the host was reinstalled, replace that line after checking the new fingerprint out of band",
			ErrHostKeyChanged, hostname, key.Type(), gossh.FingerprintSHA256(key), w.Filename, w.Line, w.Key.Type(), gossh.FingerprintSHA256(w.Key))
	}, algorithms(recorded), nil
}

// algorithms lists the host key algorithms that can present keys; nil
// (the library's default list) when there are none on record.
func algorithms(keys []gossh.PublicKey) []string {
	var out []string
	for _, k := range keys {
		if k.Type() == gossh.KeyAlgoRSA {
			out = append(out, gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256, gossh.KeyAlgoRSA)
			continue
		}
		if !slices.Contains(out, k.Type()) {
			out = append(out, k.Type())
		}
	}
	return out
}

// auth returns the host's authentication: its identity file, or the
// signers of the ssh-agent at agentSocket.
func auth(h hosts.Host, agentSocket string) (gossh.AuthMethod, func(), error) {
	if h.Agent {
		if agentSocket == "" {
			return nil, nil, errors.New("agent: true, but no ssh-agent socket was given (SSH_AUTH_SOCK is unset)")
		}
		c, err := net.Dial("unix", agentSocket)
		if err != nil {
			return nil, nil, fmt.Errorf("ssh-agent at %s: %w", agentSocket, err)
		}
		return gossh.PublicKeysCallback(agent.NewClient(c).Signers), func() { c.Close() }, nil
	}
	b, err := os.ReadFile(h.IdentityFile)
	if err != nil {
		return nil, nil, fmt.Errorf("identity_file: %w", err)
	}
	signer, err := gossh.ParsePrivateKey(b)
	var pp *gossh.PassphraseMissingError
	if errors.As(err, &pp) {
		return nil, nil, fmt.Errorf("identity_file %s is passphrase-protected: load it into ssh-agent and set agent: true", h.IdentityFile)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("identity_file %s: %w", h.IdentityFile, err)
	}
	return gossh.PublicKeys(signer), func() {}, nil
}

// dial connects and authenticates; the host key is checked during the
// handshake, before any channel (command, file) is opened.
func dial(ctx context.Context, h hosts.Host, agentSocket string, timeout time.Duration) (*gossh.Client, error) {
	hk, algos, err := hostKeyCallback(h)
	if err != nil {
		return nil, err
	}
	am, done, err := auth(h, agentSocket)
	if err != nil {
		return nil, err
	}
	defer done()
	cfg := &gossh.ClientConfig{User: h.User, Auth: []gossh.AuthMethod{am}, HostKeyCallback: hk, HostKeyAlgorithms: algos, Timeout: timeout}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", h.SSHAddr())
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	// The handshake has its own deadline: a host that accepts TCP and then
	// says nothing must not hang the provision.
	_ = conn.SetDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, chans, reqs, err := gossh.NewClientConn(conn, h.SSHAddr(), cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return gossh.NewClient(c, chans, reqs), nil
}
