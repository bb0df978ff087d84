package containerd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// A node's network namespace outlives its tasks: it is bind-mounted at a
// path under the data root named for the node's ID, and every task of the
// node joins it. The node keeps its addresses, published ports and routes
// across stops, restarts by containerd's restart monitor and restarts of
// containerd; only a host reboot loses it (the bind mount goes, an empty
// file stays), and then StartNode makes it again at the same path.

// netnsPath is where a node's network namespace is mounted.
func (l layout) netnsPath(id string) string { return filepath.Join(l.netnsDir(), id) }

// newNetNS creates a network namespace and mounts it at path.
func newNetNS(path string) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("create network namespace %s: %w", path, err)
	}
	f.Close()
	defer func() {
		if err != nil {
			os.Remove(path)
		}
	}()
	done := make(chan error, 1)
	// The namespace is made on a thread of its own, which goes back to the
	// host's namespace afterwards; if it cannot, its goroutine ends with the
	// thread locked, and the Go runtime then ends the thread.
	go func() {
		runtime.LockOSThread()
		self := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		orig, err := os.Open(self)
		if err != nil {
			done <- err
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("unshare: %w", err)
			return
		}
		err = unix.Mount(self, path, "none", unix.MS_BIND, "")
		if serr := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); serr == nil {
			runtime.UnlockOSThread()
		}
		if err != nil {
			done <- fmt.Errorf("bind mount: %w", err)
			return
		}
		done <- nil
	}()
	if err := <-done; err != nil {
		return fmt.Errorf("create network namespace %s: %w", path, err)
	}
	return nil
}

// netNSAlive reports whether path is a mounted network namespace.
func netNSAlive(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// removeNetNS unmounts and removes a network namespace; a missing one, or a
// file left by a reboot, is fine.
func removeNetNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount network namespace %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove network namespace %s: %w", path, err)
	}
	return nil
}
