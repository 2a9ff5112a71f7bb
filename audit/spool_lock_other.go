//go:build !unix

package audit

import (
	"os"
	"path/filepath"
)

// lockDir only creates dir/LOCK: without flock, running two pgveil
// processes on one spool directory is the operator's mistake to avoid.
func lockDir(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
}

func unlockDir(f *os.File) { f.Close() }
