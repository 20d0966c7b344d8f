package executor

import "os"

// rawPipeSize is the buffer asked for the pipes that carry raw frames (a source's pictures to the
// agent, the composition to the encoder). At the default 64 KiB a 1280x720 frame crosses in about
// 22 writes and as many wake-ups of the reader; at 1 MiB (Linux's default limit for a process that
// is not privileged) in two.
const rawPipeSize = 1 << 20

// rawPipe makes a pipe for raw frames, with a larger buffer where the system allows it.
func rawPipe() (r, w *os.File, err error) {
	if r, w, err = os.Pipe(); err != nil {
		return nil, nil, err
	}
	growPipe(w, rawPipeSize)
	return r, w, nil
}
