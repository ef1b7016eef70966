package cli

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// rawTerminal puts stdin in raw mode when it is a terminal and returns how
// to restore it and the terminal's size; ok is false otherwise.
func rawTerminal(stdin io.Reader) (restore func(), rows, cols int, ok bool) {
	f, isFile := stdin.(*os.File)
	if !isFile {
		return nil, 0, 0, false
	}
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, 0, 0, false
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, 0, 0, false
	}
	if ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err == nil {
		rows, cols = int(ws.Row), int(ws.Col)
	}
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }, rows, cols, true
}
