package executor

import (
	"os"

	"golang.org/x/sys/unix"
)

// growPipe asks for a pipe buffer of size bytes; a refusal (a lower limit in
// /proc/sys/fs/pipe-max-size) leaves the default, which only costs more wake-ups.
func growPipe(f *os.File, size int) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) { _, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, size) })
}
