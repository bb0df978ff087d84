package containerd

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	client "github.com/containerd/containerd"
	"github.com/containerd/containerd/mount"
	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/k3d/k3d/backends"
)

// Files are copied into and read out of a node through the host: a running
// node's filesystem is /proc/PID/root of its main process (its own mount
// namespace, volumes and all); a node that does not run has its root
// snapshot mounted for the call, with its bind mounts (volumes, anonymous
// volumes, hosts files) mapped to their sources on the host.

// nodeFS is a node's filesystem as seen from the host.
type nodeFS struct {
	root   string
	binds  []specs.Mount // only while the node does not run
	closer func()
}

func (n *nodeFS) close() {
	if n.closer != nil {
		n.closer()
	}
}

// openFS makes a node's filesystem reachable from the host.
func (r *Runtime) openFS(ctx context.Context, node string) (*nodeFS, error) {
	if _, err := r.nodeRecord(ctx, node); err != nil {
		return nil, err
	}
	cli, ctx, err := r.Client(ctx)
	if err != nil {
		return nil, err
	}
	if task, err := r.task(ctx, node); err != nil {
		return nil, err
	} else if task != nil {
		if st, err := task.Status(ctx); err == nil && (st.Status == client.Running || st.Status == client.Paused) && task.Pid() > 0 {
			return &nodeFS{root: fmt.Sprintf("/proc/%d/root", task.Pid())}, nil
		}
	}
	c, err := cli.ContainerService().Get(ctx, node)
	if err != nil {
		return nil, r.typed(err, nodeObj(node))
	}
	mounts, err := cli.SnapshotService(c.Snapshotter).Mounts(ctx, c.SnapshotKey)
	if err != nil {
		return nil, r.typed(err, nodeObj(node))
	}
	var s specs.Spec
	if err := jsonUnmarshalAny(c.Spec, &s); err != nil {
		return nil, fmt.Errorf("read the spec of node %s: %w", node, err)
	}
	dir, err := os.MkdirTemp("", "k3d-rootfs-")
	if err != nil {
		return nil, err
	}
	if err := mount.All(mounts, dir); err != nil {
		os.Remove(dir)
		return nil, fmt.Errorf("mount the filesystem of node %s: %w", node, err)
	}
	var binds []specs.Mount
	for _, m := range s.Mounts {
		if m.Type == "bind" {
			binds = append(binds, m)
		}
	}
	var once sync.Once
	return &nodeFS{root: dir, binds: binds, closer: func() {
		once.Do(func() {
			_ = mount.UnmountAll(dir, unix.MNT_DETACH)
			os.Remove(dir)
		})
	}}, nil
}

// resolve is where p (an absolute path in the node) is on the host, with
// symbolic links followed inside the node's filesystem.
func (n *nodeFS) resolve(p string) (string, error) {
	p = path.Clean("/" + p)
	// The deepest bind mount holding p takes it.
	var best *specs.Mount
	for i, m := range n.binds {
		d := path.Clean(m.Destination)
		if p == d || strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/") {
			if best == nil || len(d) > len(path.Clean(best.Destination)) {
				best = &n.binds[i]
			}
		}
	}
	if best != nil {
		rel := strings.TrimPrefix(p, path.Clean(best.Destination))
		if rel == "" {
			return best.Source, nil
		}
		return securejoin.SecureJoin(best.Source, rel)
	}
	return securejoin.SecureJoin(n.root, p)
}

// CopyToNode extracts a tar stream into dir in the node, running or not,
// keeping the tar's modes, owners and times.
func (r *Runtime) CopyToNode(ctx context.Context, node, dir string, tarStream io.Reader) error {
	if err := r.copyToNode(ctx, node, dir, tarStream); err != nil {
		return fmt.Errorf("copy to %s in node %s: %w", dir, node, err)
	}
	return nil
}

func (r *Runtime) copyToNode(ctx context.Context, node, dir string, tarStream io.Reader) error {
	nfs, err := r.openFS(ctx, node)
	if err != nil {
		return err
	}
	defer nfs.close()
	target, err := nfs.resolve(dir)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(target); err != nil || !fi.IsDir() {
		return backends.NotFound(fmt.Sprintf("directory %q in node %q", dir, node))
	}
	return untar(ctx, tarStream, func(name string) (string, error) {
		return nfs.resolve(path.Join(dir, name))
	})
}

// untar extracts a tar stream, each entry at the host path where(name) says.
func untar(ctx context.Context, r io.Reader, where func(string) (string, error)) error {
	tr := tar.NewReader(r)
	var dirs []*tar.Header // their times are set last, after their contents
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read tar stream: %w", err)
		}
		name := path.Clean("/" + hdr.Name)
		if name == "/" && hdr.Typeflag != tar.TypeDir {
			continue
		}
		dst, err := where(name)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		mode := hdr.FileInfo().Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if fi, err := os.Lstat(dst); err != nil || !fi.IsDir() {
				_ = os.Remove(dst)
				if err := os.Mkdir(dst, 0o755); err != nil {
					return err
				}
			}
			dirs = append(dirs, hdr)
		case tar.TypeReg, tar.TypeRegA:
			// Replaced, not written through: a hard link elsewhere keeps its
			// old contents, as with docker cp.
			_ = os.Remove(dst)
			f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			_ = os.Remove(dst)
			if err := os.Symlink(hdr.Linkname, dst); err != nil {
				return err
			}
		case tar.TypeLink:
			src, err := where(path.Clean("/" + hdr.Linkname))
			if err != nil {
				return err
			}
			_ = os.Remove(dst)
			if err := os.Link(src, dst); err != nil {
				return err
			}
			continue
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
			kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
			_ = os.Remove(dst)
			if err := unix.Mknod(dst, kind|uint32(hdr.Mode&0o7777), dev); err != nil {
				return err
			}
		default:
			continue // pax headers and the like carry no file
		}
		if err := os.Lchown(dst, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeSymlink {
			// After chown, which clears set-ID bits.
			if err := os.Chmod(dst, mode); err != nil {
				return err
			}
			if hdr.Typeflag != tar.TypeDir {
				_ = os.Chtimes(dst, hdr.AccessTime, hdr.ModTime)
			}
		}
	}
	for _, hdr := range slices.Backward(dirs) {
		if dst, err := where(path.Clean("/" + hdr.Name)); err == nil {
			_ = os.Chtimes(dst, hdr.AccessTime, hdr.ModTime)
		}
	}
	return nil
}

// ReadFile returns one regular file's contents from the node, running or not.
func (r *Runtime) ReadFile(ctx context.Context, node, p string) (io.ReadCloser, error) {
	rc, err := r.readFile(ctx, node, p)
	if err != nil {
		return nil, fmt.Errorf("read %s in node %s: %w", p, node, err)
	}
	return rc, nil
}

func (r *Runtime) readFile(ctx context.Context, node, p string) (io.ReadCloser, error) {
	nfs, err := r.openFS(ctx, node)
	if err != nil {
		return nil, err
	}
	obj := fmt.Sprintf("file %q in node %q", p, node)
	src, err := nfs.resolve(p)
	if err != nil {
		nfs.close()
		return nil, err
	}
	f, err := os.Open(src)
	if err != nil {
		nfs.close()
		if errors.Is(err, fs.ErrNotExist) {
			return nil, backends.NotFound(obj)
		}
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		nfs.close()
		return nil, backends.NewError(backends.ErrInvalid, obj, "not a regular file")
	}
	return &fsFile{File: f, fs: nfs}, nil
}

// fsFile closes the node's filesystem along with the file.
type fsFile struct {
	*os.File
	fs *nodeFS
}

func (f *fsFile) Close() error {
	err := f.File.Close()
	f.fs.close()
	return err
}

// copyUpVolumes fills a new node's anonymous volumes with what its image has
// at their paths, as Docker does.
func (r *Runtime) copyUpVolumes(ctx context.Context, node string, anon []anonVolume) error {
	nfs, err := r.openFS(ctx, node)
	if err != nil {
		return err
	}
	defer nfs.close()
	for _, a := range anon {
		src, err := securejoin.SecureJoin(nfs.root, a.target)
		if err != nil {
			return err
		}
		if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
			continue
		}
		if err := copyTree(src, a.source); err != nil {
			return fmt.Errorf("copy %s of the image: %w", a.target, err)
		}
	}
	return nil
}

// copyTree copies a directory's contents with modes, owners and links.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		switch {
		case fi.IsDir():
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(link, target); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			in, err := os.Open(p)
			if err != nil {
				return err
			}
			out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				in.Close()
				return err
			}
			_, err = io.Copy(out, in)
			in.Close()
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return nil // devices and sockets are not copied
		}
		if st != nil {
			if err := os.Lchown(target, int(st.Uid), int(st.Gid)); err != nil {
				return err
			}
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return os.Chmod(target, fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
		}
		return nil
	})
}
