//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package filelock

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// On Unix a locked file may be unlinked; waiters notice the inode changed and retry.
const removeWhileLocked = true

// tryLock uses flock(2), whose locks belong to the open file description: two goroutines
// opening the file separately exclude each other just as two processes do.
func tryLock(f *os.File) error {
	err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return errLocked
	}
	return err
}
