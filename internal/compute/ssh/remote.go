package ssh

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"

	"github.com/skyplane-project/skyplane-go/internal/compute"
	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	"github.com/skyplane-project/skyplane-go/internal/hosts"
)

// stopGrace is how long a gateway gets to write its stats after SIGTERM.
const stopGrace = 5 * time.Second

// Marker is owner.json beside each remote gateway: who started it, so that
// a later deprovision (another client process) can find and stop it.
type Marker struct {
	ClientID    string    `json:"client_id"`
	DataplaneID string    `json:"dataplane_id"`
	GatewayID   string    `json:"gateway_id"`
	Region      string    `json:"region"`
	Host        string    `json:"host"`
	Started     time.Time `json:"started"`
}

// remote is one gateway on one host; its fields fill in as start proceeds,
// so stop can undo a start that failed halfway.
type remote struct {
	p        *Provider
	host     hosts.Host
	spec     compute.Spec
	dataPort int
	boot     compute.Shared

	mu     sync.Mutex
	conn   *gossh.Client
	sc     *sftp.Client
	dir    string // ~/.skyplane/gateways/<dataplane>/<gateway>, once created
	pid    int
	ctrl   string // the control listener on the host's loopback
	tunnel net.Listener
	quit   chan struct{} // closes the keep-alive loop
	done   sync.WaitGroup
}

func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// run executes a command on the host and returns its stdout.
func (r *remote) run(cmd string) (string, error) {
	s, err := r.conn.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	var out, errb bytes.Buffer
	s.Stdout, s.Stderr = &out, &errb
	if err := s.Run(cmd); err != nil {
		return out.String(), fmt.Errorf("%s: %w: %s", cmd, err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// platform maps `uname -sm` to GOOS/GOARCH.
func platform(uname string) string {
	f := strings.Fields(uname)
	if len(f) != 2 {
		return "unknown(" + strings.TrimSpace(uname) + ")"
	}
	arch := map[string]string{"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "i686": "386", "armv7l": "arm"}[f[1]]
	if arch == "" {
		arch = f[1]
	}
	return strings.ToLower(f[0]) + "/" + arch
}

func (r *remote) start(ctx context.Context) (compute.Instance, error) {
	conn, err := dial(ctx, r.host, r.p.opt.AgentSocket, r.p.opt.DialTimeout)
	if err != nil {
		return compute.Instance{}, err
	}
	r.mu.Lock()
	r.conn = conn
	r.mu.Unlock()
	r.p.progress(r.host, "connected to %s (host key verified)", r.host.SSHAddr())
	uname, err := r.run("uname -sm")
	if err != nil {
		return compute.Instance{}, err
	}
	localBin, err := r.p.binaryFor(ctx, platform(uname))
	if err != nil {
		return compute.Instance{}, err
	}
	sc, err := sftp.NewClient(conn)
	if err != nil {
		return compute.Instance{}, fmt.Errorf("sftp: %w", err)
	}
	r.mu.Lock()
	r.sc = sc
	r.mu.Unlock()
	home, err := sc.Getwd()
	if err != nil {
		return compute.Instance{}, fmt.Errorf("sftp: home directory: %w", err)
	}
	bin, err := r.upload(home, localBin)
	if err != nil {
		return compute.Instance{}, err
	}
	dir := path.Join(home, ".skyplane", "gateways", r.p.opt.DataplaneID, r.spec.ID)
	if err := r.mkdirPrivate(home, dir); err != nil {
		return compute.Instance{}, err
	}
	bootFile, err := r.writeFiles(dir)
	if err != nil {
		return compute.Instance{}, err
	}
	// setsid: own session, so the gateway survives the SSH session's end;
	// in a non-interactive shell the background job is no group leader, so
	// setsid execs in place and $! is the gateway's pid.
	cmd := fmt.Sprintf("cd %s && { setsid nohup %s gateway --boot %s >ready.json 2>gateway.log </dev/null & echo $! >pid; }",
		shq(dir), shq(bin), shq(bootFile))
	if _, err := r.run(cmd); err != nil {
		return compute.Instance{}, fmt.Errorf("start gateway: %w", err)
	}
	if b, err := r.readFile(path.Join(dir, "pid")); err == nil {
		r.mu.Lock()
		r.pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		r.mu.Unlock()
	}
	ready, err := r.waitReady(ctx, dir)
	if err != nil {
		return compute.Instance{}, err
	}
	r.p.progress(r.host, "gateway %s (%s) running, pid %d, data %s", r.spec.ID, r.spec.Region, r.pid, ready.Data)
	r.mu.Lock()
	r.ctrl = ready.Control
	r.mu.Unlock()
	ctrl, err := r.openTunnel(ready.Control)
	if err != nil {
		return compute.Instance{}, err
	}
	return compute.Instance{ID: r.spec.ID, Region: r.spec.Region, Control: ctrl, Data: ready.Data}, nil
}

// upload puts a local binary under its content name unless the host has it.
func (r *remote) upload(home, localBin string) (string, error) {
	sum, err := r.p.binaryHash(localBin)
	if err != nil {
		return "", err
	}
	binDir := path.Join(home, ".skyplane", "bin")
	dst := path.Join(binDir, "skyplane-"+sum[:16])
	local, err := os.Stat(localBin)
	if err != nil {
		return "", fmt.Errorf("gateway binary: %w", err)
	}
	if st, err := r.sc.Stat(dst); err == nil && st.Size() == local.Size() && st.Mode()&0o100 != 0 {
		r.p.progress(r.host, "binary %s already there", path.Base(dst))
		return dst, nil
	}
	if err := r.sc.MkdirAll(binDir); err != nil {
		return "", fmt.Errorf("sftp: mkdir %s: %w", binDir, err)
	}
	// A temporary name, renamed when complete: a concurrent upload or an
	// interrupted one never leaves a truncated binary under the final name.
	tmp := fmt.Sprintf("%s.tmp-%s-%s", dst, r.p.opt.DataplaneID, r.spec.ID)
	src, err := os.Open(localBin)
	if err != nil {
		return "", fmt.Errorf("gateway binary: %w", err)
	}
	defer src.Close()
	f, err := r.sc.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return "", fmt.Errorf("sftp: create %s: %w", tmp, err)
	}
	_, err = f.ReadFrom(src)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = r.sc.Chmod(tmp, 0o755)
	}
	if err == nil {
		err = r.sc.PosixRename(tmp, dst)
	}
	if err != nil {
		_ = r.sc.Remove(tmp)
		return "", fmt.Errorf("sftp: upload gateway binary to %s: %w", dst, err)
	}
	r.p.progress(r.host, "binary %s uploaded (%d MiB)", path.Base(dst), local.Size()>>20)
	return dst, nil
}

// mkdirPrivate creates dir and its parents below home, each 0700, and
// records dir for stop.
func (r *remote) mkdirPrivate(home, dir string) error {
	rel := strings.TrimPrefix(dir, home+"/")
	cur := home
	for _, part := range strings.Split(rel, "/") {
		cur = path.Join(cur, part)
		if err := r.sc.Mkdir(cur); err != nil {
			if st, serr := r.sc.Stat(cur); serr != nil || !st.IsDir() {
				return fmt.Errorf("sftp: mkdir %s: %w", cur, err)
			}
		}
		if err := r.sc.Chmod(cur, 0o700); err != nil {
			return fmt.Errorf("sftp: chmod %s: %w", cur, err)
		}
	}
	r.mu.Lock()
	r.dir = dir
	r.mu.Unlock()
	return nil
}

// writeFiles writes the marker and the boot file (0600 before any byte of
// the secret is written) and returns the boot file's path.
func (r *remote) writeFiles(dir string) (string, error) {
	mk, _ := json.Marshal(Marker{ClientID: r.p.opt.ClientID, DataplaneID: r.p.opt.DataplaneID, GatewayID: r.spec.ID,
		Region: r.spec.Region, Host: r.host.Name, Started: time.Now().UTC()})
	if err := r.writeFile(path.Join(dir, "owner.json"), mk); err != nil {
		return "", err
	}
	data := net.JoinHostPort(r.host.DataHost(), strconv.Itoa(r.dataPort))
	b, err := json.Marshal(control.Boot{
		ID: r.spec.ID, Region: r.spec.Region, Secret: r.boot.Secret, Key: r.boot.Key,
		TLSCert: r.boot.TLSCert, TLSKey: r.boot.TLSKey,
		ControlAddr: "127.0.0.1:0", DataAddr: data,
		StatsFile:      path.Join(dir, "stats.json"),
		IdleShutdownMS: r.p.opt.IdleShutdown.Milliseconds(),
		Stores:         r.p.opt.Stores,
	})
	if err != nil {
		return "", err
	}
	bootFile := path.Join(dir, "boot.json")
	return bootFile, r.writeFile(bootFile, b)
}

func (r *remote) writeFile(name string, b []byte) error {
	f, err := r.sc.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fmt.Errorf("sftp: create %s: %w", name, err)
	}
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(b)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sftp: write %s: %w", name, err)
	}
	return nil
}

func (r *remote) readFile(name string) ([]byte, error) {
	f, err := r.sc.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// waitReady polls for the gateway's ready line; a gateway that exits first
// fails with the tail of its log.
func (r *remote) waitReady(ctx context.Context, dir string) (control.Ready, error) {
	deadline := time.Now().Add(r.p.opt.ReadyTimeout)
	for {
		if b, err := r.readFile(path.Join(dir, "ready.json")); err == nil {
			if line, _, ok := bytes.Cut(b, []byte("\n")); ok {
				var rd control.Ready
				if err := json.Unmarshal(line, &rd); err != nil {
					return rd, fmt.Errorf("gateway: bad ready line %q: %w", line, err)
				}
				return rd, nil
			}
		}
		if r.pid > 0 {
			if !r.alive(r.pid) {
				return control.Ready{}, fmt.Errorf("gateway exited before it was ready; its log ends: %s", r.logTail(dir))
			}
		}
		if time.Now().After(deadline) {
			return control.Ready{}, fmt.Errorf("gateway not ready after %s; its log ends: %s", r.p.opt.ReadyTimeout, r.logTail(dir))
		}
		select {
		case <-ctx.Done():
			return control.Ready{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (r *remote) logTail(dir string) string {
	b, _ := r.readFile(path.Join(dir, "gateway.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// stop undoes whatever start did: stops the gateway, collects its log and
// stats, removes its directory, closes the tunnel and the connection.
func (r *remote) stop(ctx context.Context) error {
	r.mu.Lock()
	conn, sc, tunnel, quit := r.conn, r.sc, r.tunnel, r.quit
	r.mu.Unlock()
	if quit != nil {
		close(quit)
	}
	if tunnel != nil {
		tunnel.Close()
	}
	r.done.Wait()
	if conn == nil {
		return nil
	}
	defer conn.Close()
	if sc != nil {
		defer sc.Close()
	}
	return r.teardown(ctx)
}

// teardown stops the gateway (if it has a pid), collects its log and stats
// into Boot.Dir (if set) and removes its directory.
func (r *remote) teardown(ctx context.Context) error {
	r.mu.Lock()
	sc, dir, pid := r.sc, r.dir, r.pid
	r.mu.Unlock()
	var errs []error
	if pid > 0 && sc != nil {
		if err := r.kill(ctx, pid); err != nil {
			errs = append(errs, err)
		}
	}
	if sc == nil || dir == "" {
		return errors.Join(errs...)
	}
	if r.boot.Dir != "" {
		for remoteName, localName := range map[string]string{"gateway.log": r.spec.ID + ".log", "stats.json": r.spec.ID + ".stats.json"} {
			b, err := r.readFile(path.Join(dir, remoteName))
			if err != nil {
				continue // a gateway that never started has neither
			}
			if err := os.WriteFile(filepath.Join(r.boot.Dir, localName), b, 0o600); err != nil {
				errs = append(errs, fmt.Errorf("save %s: %w", remoteName, err))
			}
		}
	}
	if err := sc.RemoveAll(dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", dir, err))
	}
	// The dataplane's directory and the gateways directory go once empty
	// (another gateway of the dataplane on this host may still use them).
	_ = sc.RemoveDirectory(path.Dir(dir))
	_ = sc.RemoveDirectory(path.Dir(path.Dir(dir)))
	return errors.Join(errs...)
}

// alive reports whether pid runs on the host; a zombie (exited, not yet
// reaped by whatever adopted it) counts as gone.
func (r *remote) alive(pid int) bool {
	b, err := r.readFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	_, rest, ok := bytes.Cut(b, []byte(") "))
	return !ok || !bytes.HasPrefix(rest, []byte("Z"))
}

// kill sends SIGTERM, waits for the gateway to exit, then SIGKILL.
func (r *remote) kill(ctx context.Context, pid int) error {
	if _, err := r.run(fmt.Sprintf("kill -TERM %d 2>/dev/null || true", pid)); err != nil {
		return fmt.Errorf("stop gateway: %w", err)
	}
	deadline := time.Now().Add(stopGrace)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if !r.alive(pid) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := r.run(fmt.Sprintf("kill -KILL %d 2>/dev/null || true", pid)); err != nil {
		return fmt.Errorf("kill gateway: %w", err)
	}
	return nil
}
