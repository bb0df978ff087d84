//go:build unix

package kubeconfig

import (
	"io/fs"
	"os"
	"syscall"
)

// keepOwner gives the new file the old one's owner, so `sudo k3d` does not leave a
// user's kubeconfig owned by root. It only works as root, which is exactly that case.
func keepOwner(path string, old fs.FileInfo) {
	st, ok := old.Sys().(*syscall.Stat_t)
	if !ok || os.Geteuid() != 0 {
		return
	}
	_ = os.Chown(path, int(st.Uid), int(st.Gid))
}
