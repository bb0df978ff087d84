package backends

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// MeminfoPath is where a node with a MemoryLimit reads the limit as its
// machine's memory.
const MeminfoPath = "/proc/meminfo"

// Meminfo is the /proc/meminfo of a node limited to limit bytes. The kubelet
// reports cadvisor's machine memory as the node's capacity, and cadvisor
// reads it from MemTotal, not from the cgroup; k3d v5 mounts the same two
// lines.
func Meminfo(limit int64) []byte {
	return fmt.Appendf(nil, "MemTotal: %d kB\nSwapTotal: 0 kB\n", limit/1024)
}

// NodeFiles keeps files on the runtime's host that nodes bind-mount, one
// directory per node, for runtimes that can only mount what exists on their
// host. The files outlive the backend process (a runtime restarts a node on
// its own after a reboot), so Root must be persistent.
type NodeFiles struct {
	Root string
}

// DefaultNodeFilesRoot is where a backend keeps node files: /var/lib/k3d for
// root, whose home another user's rootless runtime cannot enter, else the
// user's state directory.
func DefaultNodeFilesRoot(getenv func(string) string) string {
	if os.Geteuid() == 0 {
		return "/var/lib/k3d/nodefiles"
	}
	if d := getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "k3d", "nodefiles")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "k3d", "nodefiles")
	}
	return ""
}

// Put writes one file of node and returns its host path. Directories are
// readable by everyone: a rootless runtime's user must reach the file.
func (f NodeFiles) Put(node, name string, data []byte) (string, error) {
	if f.Root == "" {
		return "", NewError(ErrPrerequisite, "node "+node, "no directory to keep node files in: set XDG_STATE_HOME or HOME")
	}
	dir, err := f.dir(node)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("node files of %s: %w", node, err)
	}
	p := filepath.Join(dir, name)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return "", fmt.Errorf("node files of %s: %w", node, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("node files of %s: %w", node, err)
	}
	return p, nil
}

// MeminfoFile is the name Put is given for a node's fake /proc/meminfo.
const MeminfoFile = "meminfo"

// PutMeminfo writes the fake /proc/meminfo of a node about to be created
// with a memory limit and returns its host path. The files are the node's
// by name, so inspect (the runtime's lookup of that name) must report
// ErrNotFound: a node of that name that exists already keeps its own, and
// the create fails with ErrAlreadyExists.
func (f NodeFiles) PutMeminfo(node string, limit int64, inspect func() error) (string, error) {
	switch err := inspect(); {
	case err == nil:
		return "", NewError(ErrAlreadyExists, "node "+node, "")
	case !IsNotFound(err):
		return "", err
	}
	return f.Put(node, MeminfoFile, Meminfo(limit))
}

// WithoutMeminfo is a node's mounts, as a runtime reports them, less its
// fake /proc/meminfo: that follows from MemoryLimit and is not one of the
// spec's mounts. It goes by the path's shape, not by Root, so that a
// backend run by another user still recognises it.
func WithoutMeminfo(node string, ms []Mount) []Mount {
	return slices.DeleteFunc(ms, func(m Mount) bool {
		return m.Type == MountBind && m.Target == MeminfoPath &&
			filepath.Base(m.Source) == MeminfoFile && filepath.Base(filepath.Dir(m.Source)) == node
	})
}

// Remove deletes a node's files; a node without any is not an error.
func (f NodeFiles) Remove(node string) error {
	if f.Root == "" {
		return nil
	}
	dir, err := f.dir(node)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove node files of %s: %w", node, err)
	}
	return nil
}

func (f NodeFiles) dir(node string) (string, error) {
	if node == "" || node != filepath.Base(node) || node == "." || node == ".." {
		return "", NewError(ErrInvalid, "node "+node, "not a node name")
	}
	return filepath.Join(f.Root, node), nil
}
