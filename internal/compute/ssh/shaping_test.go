package ssh

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// flow moves n bytes over one TCP connection from a sink in the sink's
// namespace to a sender in the sender's, both plain Python sockets, and
// returns the rate in Mbit/s and the time it took. The sender announces the
// length first and the sink answers with the byte count once all arrived,
// so the time covers delivery, not just buffering (no half-close: toxiproxy
// ends both directions when one side shuts down its writes).
const flowPy = `
import socket, sys, time
mode, ip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "sink":
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, port)); s.listen(1); print("ready", flush=True)
    c, _ = s.accept(); hdr = b""
    while len(hdr) < 12: hdr += c.recv(12 - len(hdr))
    want = int(hdr); n = 0
    while n < want:
        b = c.recv(1 << 16)
        if not b: break
        n += len(b)
    c.sendall(str(n).encode()); c.recv(1); c.close()
else:
    n = int(sys.argv[4]); buf = b"x" * (1 << 16)
    c = socket.create_connection((ip, port)); t = time.time(); left = n
    c.sendall(b"%012d" % n)
    while left > 0:
        left -= c.send(buf[:min(left, len(buf))])
    got = int(c.recv(64)); dt = time.time() - t; c.close()
    assert got == n, (got, n)
    print(n * 8 / dt / 1e6, dt)
`

// python finds the interpreter itself: a version manager's shim (pyenv)
// costs seconds per start.
func python(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		t.Skip("python3 not found: the shaping check needs it")
	}
	return strings.TrimSpace(string(out))
}

func flowMbps(t *testing.T, from, to labHost, port, n int) (float64, time.Duration) {
	t.Helper()
	py := python(t)
	sink := exec.Command("ip", "netns", "exec", to.NS, py, "-c", flowPy, "sink", to.IP, strconv.Itoa(port))
	out, err := sink.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sink.Process.Kill(); _ = sink.Wait() }()
	ready := make([]byte, 6)
	if _, err := out.Read(ready); err != nil {
		t.Fatalf("sink in %s: %v", to.NS, err)
	}
	res, err := exec.Command("ip", "netns", "exec", from.NS, py, "-c", flowPy, "send", to.IP, strconv.Itoa(port), strconv.Itoa(n)).CombinedOutput()
	if err != nil {
		t.Fatalf("send %s → %s: %v: %s", from.Name, to.Name, err, res)
	}
	f := strings.Fields(string(res))
	if len(f) != 2 {
		t.Fatalf("sender said %q", res)
	}
	mbps, err1 := strconv.ParseFloat(f[0], 64)
	secs, err2 := strconv.ParseFloat(f[1], 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("sender said %q", res)
	}
	return mbps, time.Duration(secs * float64(time.Second))
}

// TestLabNICCap: a host's NIC is capped (LAB_HOST_MBPS, default 100) for
// traffic leaving its region, in both directions, and not within it.
func TestLabNICCap(t *testing.T) {
	l := lab(t)
	const capMbps = 100 // the lab's default; the test asks for that lab
	if v := l.Env["HOSTLAB_HOST_MBPS"]; v != strconv.Itoa(capMbps) {
		t.Skipf("lab started with LAB_HOST_MBPS=%s; this check expects the default %d", v, capMbps)
	}
	n := 4 << 20 // 4 MiB: ~0.34 s at 100 Mbit/s
	r1h1, r1h2, r2h1 := l.Hosts["r1-h1"], l.Hosts["r1-h2"], l.Hosts["r2-h1"]
	for _, c := range []struct {
		name     string
		from, to labHost
		capped   bool
	}{
		{"out of region", r1h1, r2h1, true},
		{"into region", r2h1, r1h2, true},
		{"within region", r1h1, r1h2, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			mbps, _ := flowMbps(t, c.from, c.to, 47001, n)
			t.Logf("%s → %s: %.0f Mbit/s", c.from.Name, c.to.Name, mbps)
			if c.capped && (mbps > capMbps*1.3 || mbps < capMbps*0.5) {
				t.Errorf("%.0f Mbit/s, want about the %d Mbit/s cap", mbps, capMbps)
			}
			if !c.capped && mbps < capMbps*2 {
				t.Errorf("%.0f Mbit/s within the region, want well above the %d Mbit/s cap", mbps, capMbps)
			}
		})
	}
}

// TestLabWAN: connections to another region's data ports cross toxiproxy:
// a round trip costs LAB_RTT_MS and one connection is capped at
// LAB_FLOW_MBPS; within a region neither applies.
func TestLabWAN(t *testing.T) {
	l := lab(t)
	rtt, err1 := strconv.Atoi(l.Env["HOSTLAB_RTT_MS"])
	flow, err2 := strconv.Atoi(l.Env["HOSTLAB_FLOW_MBPS"])
	if err1 != nil || err2 != nil || rtt < 10 || flow >= 100 {
		t.Skipf("this check wants LAB_RTT_MS >= 10 and LAB_FLOW_MBPS below the host cap (lab: %q, %q)", l.Env["HOSTLAB_RTT_MS"], l.Env["HOSTLAB_FLOW_MBPS"])
	}
	want := time.Duration(rtt) * time.Millisecond
	r1h1, r1h2, r2h1 := l.Hosts["r1-h1"], l.Hosts["r1-h2"], l.Hosts["r2-h1"]
	_, cross := flowMbps(t, r1h1, r2h1, 40000, 1)
	if cross < want*9/10 {
		t.Errorf("one byte and its answer across regions took %s, want at least about the %s RTT", cross, want)
	}
	if _, within := flowMbps(t, r1h1, r1h2, 40000, 1); within > cross/2 {
		t.Errorf("one byte and its answer took %s within a region and %s across: want far less within", within, cross)
	}
	t.Logf("one-byte exchange across regions: %s (RTT %s)", cross.Round(time.Millisecond), want)
	mbps, _ := flowMbps(t, r2h1, r1h2, 40001, 2<<20)
	if mbps > float64(flow)*1.3 || mbps < float64(flow)*0.5 {
		t.Errorf("one connection across regions: %.0f Mbit/s, want about the %d Mbit/s per-flow cap", mbps, flow)
	}
	t.Logf("cross-region flow: %.0f Mbit/s (cap %d)", mbps, flow)
}
