// Package gateway is the gateway daemon: it runs a program of operators
// (read → send, receive → write, receive → send) joined by bounded queues,
// moves chunks to other gateways over framed TCP (package wire), and serves
// the authenticated control API (package control) the client drives it with.
package gateway

import (
	"github.com/skyplane-project/skyplane-go/internal/chunk"
)

// frameMeta travels authenticated (sealed with encrypt) with each frame's
// data; Req.Attempt is the attempt the frame belongs to.
type frameMeta struct {
	Target string        `json:"target"` // destination group key this copy is for
	Req    chunk.Request `json:"req"`
	// CRC32C is the chunk's CRC-32C when Req.Checksum asks for it (the
	// frame's MD5 field is then zero); authenticated with the frame.
	CRC32C uint32 `json:"crc32c,omitempty"`
}

func (m frameMeta) dest() (chunk.Dest, bool) {
	for _, d := range m.Req.Dests {
		if d.Group == m.Target {
			return d, true
		}
	}
	return chunk.Dest{}, false
}
