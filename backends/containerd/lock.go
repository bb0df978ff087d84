package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Locks under the data root. flock(2) locks belong to an open file, so the
// same lock serializes goroutines of one process and separate k3d processes
// alike, and the kernel releases it when a process dies.
const (
	// lockCNI serializes every CNI ADD and DEL: the plugins read and
	// rewrite iptables chains they share and host-local's allocation files,
	// and are not safe to run concurrently. The chains are the host's, so
	// this lock is too: it serializes backends with other data roots as well.
	lockCNI = "cni"
	// lockState serializes changes to what nodes share: network and volume
	// membership, published host ports, and the nodes' hosts files.
	lockState = "state"
)

// hostCNILock is the CNI lock's file: on a tmpfs, like every lock, and the
// same for every data root.
const hostCNILock = "/run/k3d/cni.lock"

// lockPoll bounds the wait between attempts to take a busy lock; the first
// retries come much sooner.
const lockPoll = 50 * time.Millisecond

// lock takes the named lock, waiting until it is free or ctx ends, and
// returns the function that releases it.
func (r *Runtime) lock(ctx context.Context, name string) (func(), error) {
	path := r.root.lockFile(name)
	if name == lockCNI {
		path = hostCNILock
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	// Non-blocking attempts, so that a cancelled caller stops waiting.
	for delay := time.Millisecond; ; delay = min(delay*2, lockPoll) {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() {
				_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}
