//go:build unix

package ingest

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive, non-blocking lock on f: a second gateway
// process pointed at the same spool fails to start instead of mixing
// records with the first.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

func unlockFile(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
