// Package filelock is an exclusive lock shared by every k3d process on a host.
package filelock

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// errLocked is what a platform's tryLock returns while another holder has the lock.
var errLocked = errors.New("locked")

// Lock is an exclusive lock on a file, shared by every k3d process and goroutine.
//
// The lock is an OS lock on an open file (flock(2) on Unix, LockFileEx on Windows), not
// the file's existence: the kernel drops it when the holder exits, even by kill -9, so a
// crash never leaves a lock that blocks the next k3d. The file holds the holder's pid
// and start time, only to name it in messages.
type Lock struct {
	f    *os.File
	path string
}

// Acquire takes the lock on lockPath, polling briefly while another holder
// has it, for at most timeout.
func Acquire(lockPath string, timeout time.Duration) (*Lock, error) {
	deadline := time.Now().Add(timeout)
	delay := time.Millisecond
	for {
		f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open lock file: %w", err)
		}
		err = tryLock(f)
		if err == nil {
			// The previous holder removes the file as it unlocks; if that happened after we
			// opened it, we locked an orphan that guards nothing. Start again on the new file.
			held, err1 := f.Stat()
			now, err2 := os.Stat(lockPath)
			if err1 == nil && err2 == nil && os.SameFile(held, now) {
				_ = f.Truncate(0)
				_, _ = fmt.Fprintf(f, "pid %d since %s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339))
				return &Lock{f: f, path: lockPath}, nil
			}
			f.Close()
			continue
		}
		f.Close()
		if !errors.Is(err, errLocked) {
			return nil, fmt.Errorf("lock %s: %w", lockPath, err)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("another k3d (%s) has held %s for over %s: wait for it to finish, then retry", holder(lockPath), lockPath, timeout)
		}
		time.Sleep(delay)
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// Release removes the lock file while still holding the lock (where the platform allows),
// so no lock file is left behind, then unlocks by closing it.
func (l *Lock) Release() {
	if removeWhileLocked {
		_ = os.Remove(l.path)
	}
	_ = l.f.Close()
}

func holder(lockPath string) string {
	data, err := os.ReadFile(lockPath)
	if err != nil || len(data) == 0 {
		return "pid unknown"
	}
	return strings.TrimSpace(string(data))
}
