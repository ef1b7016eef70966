package faults

import (
	"context"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/objstore/objstoretest"
)

// The client against the real toxiproxy server: a proxy on a free port
// carries bytes to its upstream; limit_data cuts the stream; toxics and
// proxies are removed by prefix.
func TestToxiproxyClient(t *testing.T) {
	c := NewClient(objstoretest.ServerEnv(t, os.Getenv, "SKYPLANE_TEST_TOXIPROXY"))
	ctx := context.Background()
	prefix := RandomPrefix() + "-client-"
	t.Cleanup(func() { _ = c.DeleteProxies(ctx, prefix) })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int, 4)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				n, _ := io.Copy(io.Discard, conn)
				got <- int(n)
			}()
		}
	}()

	name := ProxyName(prefix, "local:src", "local:dst", "0")
	if strings.ContainsAny(name, ":/ ") {
		t.Errorf("proxy name %q keeps characters it should not", name)
	}
	p, err := c.CreateProxy(ctx, name, "127.0.0.1:0", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Listen, "127.0.0.1:") || strings.HasSuffix(p.Listen, ":0") {
		t.Fatalf("proxy listens on %q, want a bound 127.0.0.1 port", p.Listen)
	}
	send := func(n int) int {
		t.Helper()
		conn, err := net.Dial("tcp", p.Listen)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = conn.Write(make([]byte, n)) // may fail once the proxy cuts
		conn.Close()
		select {
		case n := <-got:
			return n
		case <-time.After(10 * time.Second):
			t.Fatal("upstream got nothing")
			return 0
		}
	}
	if n := send(100 << 10); n != 100<<10 {
		t.Errorf("upstream got %d bytes through a clean proxy, want %d", n, 100<<10)
	}

	tx, err := c.AddToxic(ctx, name, Toxic{Type: "limit_data", Stream: "upstream", Attributes: map[string]any{"bytes": 1000}})
	if err != nil {
		t.Fatal(err)
	}
	if tx.Name != "limit_data_upstream" {
		t.Errorf("toxic named %q, want toxiproxy's default limit_data_upstream", tx.Name)
	}
	if n := send(100 << 10); n != 1000 {
		t.Errorf("upstream got %d bytes through limit_data 1000, want 1000", n)
	}

	ps, err := c.Proxies(ctx, prefix)
	if err != nil || len(ps) != 1 || len(ps[0].Toxics) != 1 {
		t.Fatalf("proxies %+v (%v), want one with one toxic", ps, err)
	}
	if n, err := c.RemoveToxics(ctx, prefix); n != 1 || err != nil {
		t.Errorf("RemoveToxics = %d, %v; want 1", n, err)
	}
	if n := send(100 << 10); n != 100<<10 {
		t.Errorf("upstream got %d bytes after the toxic was removed, want %d", n, 100<<10)
	}
	if err := c.DeleteProxies(ctx, prefix); err != nil {
		t.Fatal(err)
	}
	if ps, _ := c.Proxies(ctx, prefix); len(ps) != 0 {
		t.Errorf("proxies left after DeleteProxies: %+v", ps)
	}
	if _, err := c.CreateProxy(ctx, name, "127.0.0.1:0", "127.0.0.1:1"); err != nil {
		t.Errorf("recreating a deleted proxy: %v", err)
	}
}
