//go:build skyplane_faults

package skyplane

import "github.com/skyplane-project/skyplane-go/internal/gateway/control"

// WithFrameFaults makes every gateway corrupt the first corrupt frames it
// sends and wait delayMS before each frame, so tests can drive the
// recovery paths end to end. It exists only in builds tagged
// skyplane_faults (the tests' binary).
func WithFrameFaults(corrupt, delayMS int) Option {
	return func(c *Client) { c.test = control.TestHooks{CorruptFrames: corrupt, FrameDelayMS: delayMS} }
}
