package containerd

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/k3d/k3d/backends"
)

// layout is the data root. Everything the backend knows that containerd
// does not is a file under it, so that every k3d process on the host sees the
// same world and nothing is lost when containerd or the host restarts. Each
// containerd namespace has a world of its own; the locks and the log driver
// are shared:
//
//	NAMESPACE/networks/NAME.conflist    a network: CNI configuration, labels, ID
//	NAMESPACE/ipam/                     host-local's address allocations
//	NAMESPACE/cni-cache/                the CNI library's results
//	NAMESPACE/volumes/NAME/volume.json  a named volume's labels; its files in _data/
//	NAMESPACE/nodes/NAME/               a node's hosts, resolv.conf, hostname, log,
//	                                    start record and anonymous volumes
//	NAMESPACE/netns/ID                  the nodes' network namespaces (bind mounts)
//	bin/                                the log driver the shims run
//	locks/state                         serializes changes to shared state
//
// (The CNI lock is the host's, see lock.go.)
type layout struct {
	root string
	ns   string
}

func (l layout) String() string { return l.root }

// path is a path in the namespace's world.
func (l layout) path(elem ...string) string {
	return filepath.Join(append([]string{l.root, l.ns}, elem...)...)
}

// shared is a path shared by all namespaces.
func (l layout) shared(elem ...string) string {
	return filepath.Join(append([]string{l.root}, elem...)...)
}

func (l layout) networksDir() string            { return l.path("networks") }
func (l layout) networkFile(name string) string { return l.path("networks", name+".conflist") }
func (l layout) ipamDir() string                { return l.path("ipam") }
func (l layout) volumesDir() string             { return l.path("volumes") }
func (l layout) volumeDir(name string) string   { return l.path("volumes", name) }
func (l layout) volumeData(name string) string  { return l.path("volumes", name, "_data") }
func (l layout) nodeDir(name string) string     { return l.path("nodes", name) }
func (l layout) netnsDir() string               { return l.path("netns") }
func (l layout) binDir() string                 { return l.shared("bin") }
func (l layout) lockFile(name string) string    { return l.shared("locks", name) }

// Files in a node's directory.
const (
	nodeHosts      = "hosts"
	nodeResolvConf = "resolv.conf"
	nodeHostname   = "hostname"
	nodeLog        = "log.json"
	nodeStarts     = "starts"
	nodeExit       = "exit.json"
	nodeAnonVols   = "volumes"
	nodeMeminfo    = backends.MeminfoFile
)

// validName is what networks and volumes may be called: their names become
// file names under the data root, so nothing that could leave it.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

func checkName(object, name string) error {
	if name == "" {
		return invalid(object, "no name given")
	}
	if !validName.MatchString(name) || len(name) > 200 {
		return invalid(object, "name %q: want letters, digits, '_', '.' and '-', starting with a letter or digit", name)
	}
	return nil
}

// randomHex is n random bytes in hex, for IDs and temporary names.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeFileAtomic replaces path with data through a rename, so that a
// concurrent reader sees the old or the new file, never half of one.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := fmt.Sprintf("%s.tmp-%s", path, randomHex(4))
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// writeFileInPlace rewrites a file whose inode must stay the same: files
// bind-mounted into running nodes (/etc/hosts) would keep showing the old
// inode after a rename.
func writeFileInPlace(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, mode)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, 0)
	if err == nil {
		err = f.Truncate(int64(len(data)))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
