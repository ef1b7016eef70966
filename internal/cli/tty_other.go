//go:build !linux

package cli

import "io"

// rawTerminal: raw mode is implemented for Linux terminals only; elsewhere
// the shell runs without a remote terminal.
func rawTerminal(io.Reader) (restore func(), rows, cols int, ok bool) { return nil, 0, 0, false }
