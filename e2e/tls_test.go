package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
)

// TestSocketTLS: with encrypt_socket_tls on, a copy through gateway
// processes still arrives identical (frames sealed inside mutual TLS).
func TestSocketTLS(t *testing.T) {
	s := newSandbox(t)
	src, dst := s.path("src"), s.path("dst")
	for i := range 6 {
		writeFile(t, filepath.Join(src, fmt.Sprintf("f%d", i)), randomBytes(t, 300_000*i+1))
	}
	s.config("encrypt_socket_tls", "true")
	r := s.mustRun("cp", "-r", "-y", "--json", "-n", "2", src, dst)
	assertTreesEqual(t, src, dst)
	if rejected, _ := s.gatewayStats("dst", "frames_rejected"); rejected != 0 {
		t.Errorf("%v frames rejected", rejected)
	}
	_ = doneEvent(t, r.stdout)
}
