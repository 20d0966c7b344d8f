package executor

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRawPipeIsLarge: a pipe of raw frames holds rawPipeSize bytes where the system's limit allows.
func TestRawPipeIsLarge(t *testing.T) {
	r, w, err := rawPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	want := rawPipeSize
	if b, err := os.ReadFile("/proc/sys/fs/pipe-max-size"); err == nil {
		if limit, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && limit < want && os.Geteuid() != 0 {
			want = 64 << 10 // refused: the default stays
		}
	}
	rc, err := w.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var size int
	if err := rc.Control(func(fd uintptr) { size, err = unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0) }); err != nil {
		t.Fatal(err)
	}
	if err != nil || size != want {
		t.Fatalf("pipe buffer %d bytes (%v), want %d", size, err, want)
	}
}
