package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	be "encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/chunk"
	"github.com/skyplane-project/skyplane-go/internal/compute"
	"github.com/skyplane-project/skyplane-go/internal/compute/local"
	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	"github.com/skyplane-project/skyplane-go/internal/wire"
)

// TestGatewayAuthenticatesEveryFrame runs destination gateway processes,
// sealed and unsealed (encrypt_e2e false), with one registered job writing
// under dst/, and attacks their data port: without the key nothing is
// accepted, huge declared lengths allocate nothing, and even with the key a
// frame naming a path outside the job is refused.
func TestGatewayAuthenticatesEveryFrame(t *testing.T) {
	dir := t.TempDir()
	key := make([]byte, wire.KeySize)
	_, _ = rand.Read(key)
	const secret = "security-test-secret"
	p := local.New(binary)
	ctx := context.Background()
	insts, err := p.Provision(ctx, []compute.Spec{{ID: "dst-sealed", Region: "local:dst"}, {ID: "dst-unsealed", Region: "local:dst"}},
		compute.Shared{Secret: secret, Key: key, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Deprovision(context.Background()) })
	const budget = 64 << 20
	ref := chunk.Bucket{URL: "file:///"}
	rel := func(p string) string { return strings.TrimPrefix(p, "/") }
	dstDir := filepath.Join(dir, "dst")
	for _, in := range insts {
		sealed := in.ID == "dst-sealed"
		t.Run(in.ID, func(t *testing.T) {
			t.Parallel() // each waits out a 10 s handshake timeout
			c := control.NewClient(in.ID, in.Control, secret)
			if err := c.SetProgram(ctx, control.Program{NumConnections: 1, Encrypt: sealed, Sinks: []string{"local:dst"}, MemoryBudget: budget}); err != nil {
				t.Fatal(err)
			}
			if err := c.RegisterJobs(ctx, control.JobRegistration{Run: "run", Scopes: []control.Scope{{Bucket: ref, Prefix: rel(dstDir) + "/"}}}); err != nil {
				t.Fatal(err)
			}
			frame := func(id byte, dstKey string, data []byte) *wire.Frame {
				req := chunk.Request{ID: chunk.NewID(), Src: ref, SrcKey: "src", Length: int64(len(data)), Run: "run",
					Dests: []chunk.Dest{{Group: "local:dst", Bucket: ref, Key: dstKey}}}
				meta, _ := json.Marshal(map[string]any{"target": "local:dst", "req": req})
				return &wire.Frame{ChunkID: req.ID, Meta: meta, Data: data, MD5: md5.Sum(data)}
			}
			var recorded bytes.Buffer // what the last send wrote, byte for byte
			send := func(k []byte, frames ...*wire.Frame) error {
				c, err := net.Dial("tcp", in.Data)
				if err != nil {
					return err
				}
				defer c.Close()
				recorded.Reset()
				conn := &recordConn{Conn: c, out: &recorded}
				s, err := wire.NewSender(conn, wire.Options{Key: k, Seal: sealed})
				if err != nil {
					return err
				}
				for _, f := range frames {
					if _, err := s.Send(f); err != nil {
						return err
					}
				}
				return nil
			}
			stats := func() control.Stats {
				st, err := c.Status(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return st.Stats
			}
			waitFor := func(what string, ok func(control.Stats) bool) control.Stats {
				deadline := time.Now().Add(10 * time.Second)
				for {
					st := stats()
					if ok(st) {
						return st
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s: stats %+v", what, st)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}

			// Without the key: another key, a forged hello, or a frame
			// straight away (as v1 accepted it). Nothing is written.
			victim := filepath.Join(dir, "victim-"+in.ID)
			otherKey := bytes.Repeat([]byte{1}, wire.KeySize)
			if err := send(otherKey, frame(1, rel(filepath.Join(dstDir, "a")), []byte("x"))); err == nil {
				t.Fatal("a sender with another key completed the handshake")
			}
			forged := append([]byte("SKYP\x02\x00"), make([]byte, 64)...)
			rawFrame := rawHeader(1, sealed, 1<<30, 1<<30)
			for _, attempt := range [][]byte{forged, rawFrame, bytes.Repeat([]byte{0}, 4096)} {
				if err := closedAfter(in.Data, attempt); err != nil {
					t.Fatal(err)
				}
			}
			// With the key, a header declaring more than the budget: the
			// connection is closed before anything is allocated.
			if err := withKeyThen(in.Data, key, sealed, rawHeader(1, sealed, budget+1, budget+1-200-wire.TagSize)); err != nil {
				t.Fatal(err)
			}
			// With the key, a frame for a path outside the job is refused;
			// one inside it lands.
			outside := frame(2, rel(victim), []byte("authorized_keys"))
			inside := frame(3, rel(filepath.Join(dstDir, in.ID, "ok")), []byte("inside the job"))
			if err := send(key, outside, inside); err != nil {
				t.Fatal(err)
			}
			st := waitFor("inside frame written", func(s control.Stats) bool { return s.ChunksWritten == 1 })
			if st.FramesOutsideJobs != 1 || st.FramesRecv != 2 {
				t.Fatalf("stats %+v: want 1 frame outside jobs of 2 received", st)
			}
			if _, err := os.Stat(victim); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a frame outside the job was written: %v", err)
			}
			if b, err := os.ReadFile(filepath.Join(dstDir, in.ID, "ok")); err != nil || string(b) != "inside the job" {
				t.Fatalf("inside frame: %q, %v", b, err)
			}
			// The bytes of that connection, played again on a new one, are
			// refused at the handshake: the gateway's nonce is new.
			os.Remove(filepath.Join(dstDir, in.ID, "ok"))
			if err := closedAfter(in.Data, recorded.Bytes()); err != nil {
				t.Fatal(err)
			}
			if after := stats(); after.FramesRecv != st.FramesRecv || after.ChunksWritten != st.ChunksWritten {
				t.Fatalf("a replayed connection delivered frames: %+v", after)
			}
			if _, err := os.Stat(filepath.Join(dstDir, in.ID, "ok")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a replayed connection wrote: %v", err)
			}
			evs, err := c.Events(ctx, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			refused := false
			for _, e := range evs {
				refused = refused || e.State == control.StateFailed && e.Chunk == outside.ChunkID && strings.Contains(e.Err, "outside every registered job")
			}
			if !refused {
				t.Fatalf("no failed event for the refused frame: %+v", evs)
			}
			if hwm := peakRSS(t, in.PID); hwm > budget+96<<20 {
				t.Fatalf("gateway peak RSS %d bytes with a %d budget", hwm, budget)
			}
		})
	}
}

// recordConn copies what is written to a connection into out.
type recordConn struct {
	net.Conn
	out *bytes.Buffer
}

func (c *recordConn) Write(p []byte) (int, error) {
	c.out.Write(p)
	return c.Conn.Write(p)
}

// rawHeader is a v2 frame header with seq 1 and the given lengths.
func rawHeader(seq uint64, sealed bool, wireLen, rawLen uint64) []byte {
	h := make([]byte, wire.HeaderSize)
	copy(h, "SKYP")
	h[4] = wire.Version
	if sealed {
		h[5] = 2
	}
	be.BigEndian.PutUint64(h[8:], seq)
	be.BigEndian.PutUint32(h[32:], 200)
	be.BigEndian.PutUint64(h[36:], wireLen)
	be.BigEndian.PutUint64(h[44:], rawLen)
	return h
}

// closedAfter writes b to a fresh connection (ignoring the challenge) and
// checks the gateway closes it without accepting anything.
func closedAfter(addr string, b []byte) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, _ = conn.Write(b)
	return waitClosed(conn)
}

// withKeyThen completes a real handshake with key, then writes b.
func withKeyThen(addr string, key []byte, sealed bool, b []byte) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := wire.NewSender(conn, wire.Options{Key: key, Seal: sealed}); err != nil {
		return err
	}
	if _, err := conn.Write(b); err != nil {
		return err
	}
	return waitClosed(conn)
}

// waitClosed reads until the peer closes; anything but a close within 15 s
// (the gateway's handshake timeout is 10 s) is an error.
func waitClosed(conn net.Conn) error {
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("the gateway kept the connection open: %w", err)
	}
	return nil
}

// peakRSS is a process's peak resident memory (VmHWM).
func peakRSS(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}
