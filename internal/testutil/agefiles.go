package testutil

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// AgeFiles makes every file under dir older by d: the file system's clock cannot be moved, so a
// test of something that goes by files' modification times moves the times back instead.
func AgeFiles(t testing.TB, dir string, d time.Duration) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		st, err := e.Info()
		if err != nil {
			return err
		}
		return os.Chtimes(p, st.ModTime().Add(-d), st.ModTime().Add(-d))
	})
	if err != nil {
		t.Fatalf("age the files under %s: %v", dir, err)
	}
}
