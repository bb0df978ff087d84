package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/k3d/k3d/backends"
)

// keptIndex lists, one file name a line, the tarballs `k3d image import
// --keep-tarball` kept in a cluster's image volume. The image volume is
// mounted at /k3d/images, where k3s does not look for tarballs itself, so
// CreateNodes reads this list to give new nodes the kept images too.
const keptIndex = "k3d-kept-tarballs"

// tarballKeeper writes import streams into the cluster's image volume. A
// stream of unknown length goes to a temporary file on this host first,
// since a tar entry (how CopyToNode takes files) states its size up front;
// an archive on disk is copied from where it is.
type tarballKeeper struct {
	e *Engine
	// node mounts the image volume: files are copied in through it.
	node    string
	tmp     string
	kept    []*keptTarball
	started time.Time
}

type keptTarball struct {
	name     string // in the volume
	path     string // on this host
	f        *os.File
	err      error
	complete bool
}

// Write copies a chunk of the stream; a failure is recorded and reported
// by finish, so that the nodes' import goes on.
func (k *keptTarball) Write(p []byte) (int, error) {
	if k.f != nil && k.err == nil {
		_, k.err = k.f.Write(p)
	}
	return len(p), nil
}

// end is told whether the whole stream was read.
func (k *keptTarball) end(readErr error) {
	if k.f != nil {
		if err := k.f.Close(); k.err == nil {
			k.err = err
		}
	}
	k.complete = readErr == nil
}

func (e *Engine) newTarballKeeper(c Cluster, targets []Node) (*tarballKeeper, error) {
	mounts := func(n Node) bool {
		return slices.ContainsFunc(n.Mounts, func(m backends.Mount) bool {
			return m.Type == backends.MountVolume && m.Source == c.ImageVolume && m.Target == imageVolumeMountPath
		})
	}
	var node string
	for _, n := range append(slices.Clone(targets), c.Nodes...) {
		if c.ImageVolume != "" && n.Role.k3sNode() && mounts(n) {
			node = n.Name
			break
		}
	}
	if node == "" {
		return nil, invalidf("cluster %s has no image volume mounted at %s to keep the tarball in: leave --keep-tarball out", c.Name, imageVolumeMountPath)
	}
	return &tarballKeeper{e: e, node: node, started: time.Now()}, nil
}

// forImages is where the save stream of refs is kept (nil: not kept).
func (k *tarballKeeper) forImages(refs []string) io.Writer {
	if k == nil {
		return nil
	}
	return k.add(tarballName(strings.Join(refs, "+")), "")
}

// forTarball is where the archive at p ("-": stdin) is kept (nil: not kept).
func (k *tarballKeeper) forTarball(p string) io.Writer {
	if k == nil {
		return nil
	}
	if p == "-" {
		return k.add(tarballName("stdin-"+k.started.Format("20060102-150405")), "")
	}
	return k.add(tarballName(strings.TrimSuffix(filepath.Base(p), ".tar")), p)
}

func (k *tarballKeeper) add(name, onDisk string) io.Writer {
	t := &keptTarball{name: name, path: onDisk}
	k.kept = append(k.kept, t)
	if onDisk != "" {
		return t
	}
	if k.tmp == "" {
		k.tmp, t.err = os.MkdirTemp("", "k3d-keep-")
	}
	if t.err == nil {
		t.path = filepath.Join(k.tmp, name)
		t.f, t.err = os.Create(t.path)
	}
	return t
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._+-]+`)

// tarballName makes a file name of what a tarball holds ("myapp:dev" is
// myapp_dev.tar): importing the same images again replaces their tarball.
func tarballName(what string) string {
	s := strings.Trim(unsafeFileChars.ReplaceAllString(what, "_"), "._")
	if len(s) > 80 {
		s = fmt.Sprintf("%s-%x", s[:64], sha256.Sum256([]byte(what)))[:77]
	}
	if s == "" {
		s = "images"
	}
	return s + ".tar"
}

// finish copies the complete streams into the image volume, records them
// in keptIndex and removes the temporary files. It returns the tarballs'
// paths inside the nodes.
func (k *tarballKeeper) finish(ctx context.Context) ([]string, error) {
	defer k.cleanup()
	var kept, names []string
	var errs []error
	for _, t := range k.kept {
		if !t.complete {
			continue // the stream failed: that error is reported already
		}
		target := path.Join(imageVolumeMountPath, t.name)
		err := t.err
		if err == nil {
			err = k.e.step(fmt.Sprintf("Keeping %s in the image volume", target), func() error {
				return k.copyIn(ctx, t)
			})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("keep tarball %s: %w", target, err))
			continue
		}
		kept = append(kept, target)
		names = append(names, t.name)
	}
	if len(names) > 0 {
		if err := k.e.addKept(ctx, k.node, names); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return kept, joinErrors(errs)
	}
	return kept, nil
}

// cleanup removes the temporary files, also of an import cut short.
func (k *tarballKeeper) cleanup() {
	for _, t := range k.kept {
		if t.f != nil {
			t.f.Close()
		}
	}
	if k.tmp != "" {
		os.RemoveAll(k.tmp)
		k.tmp = ""
	}
}

// copyIn streams one file into the image volume as a one-entry tar.
func (k *tarballKeeper) copyIn(ctx context.Context, t *keptTarball) error {
	f, err := os.Open(t.path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.WriteHeader(&tar.Header{Name: t.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: fi.Size(), ModTime: time.Now()})
		if err == nil {
			_, err = io.Copy(tw, f)
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	err = k.e.rt.CopyToNode(ctx, k.node, imageVolumeMountPath, pr)
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return wrapf(err, "copy into volume through node %s", k.node)
	}
	return nil
}

// keptTarballs reads keptIndex through a node that mounts the image volume.
func (e *Engine) keptTarballs(ctx context.Context, node string) ([]string, error) {
	b, err := e.readFile(ctx, node, path.Join(imageVolumeMountPath, keptIndex))
	if backends.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, wrapf(err, "read the list of kept tarballs")
	}
	var names []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !slices.Contains(names, l) {
			names = append(names, l)
		}
	}
	return names, nil
}

// addKept adds names to keptIndex. Two imports keeping tarballs at the same
// moment may lose one entry: the tarball stays, only new nodes miss it.
func (e *Engine) addKept(ctx context.Context, node string, names []string) error {
	have, err := e.keptTarballs(ctx, node)
	if err != nil {
		return err
	}
	for _, n := range names {
		if !slices.Contains(have, n) {
			have = append(have, n)
		}
	}
	var buf bytes.Buffer
	for _, n := range have {
		buf.WriteString(n + "\n")
	}
	if err := e.writeFiles(ctx, node, []nodeFile{{path: path.Join(imageVolumeMountPath, keptIndex), data: buf.Bytes(), mode: 0o644}}); err != nil {
		return fmt.Errorf("record the kept tarballs: %w", err)
	}
	return nil
}

// importKept gives new nodes the images kept in the image volume: each
// node's ctr reads the tarballs from its own mount of the volume. A
// tarball that fails is noted, not fatal: the nodes themselves are fine,
// and `k3d image import` can still bring them the image.
// The list is read through via, a node of the cluster that mounts the same
// volume. Nodes not waited for may not run containerd yet: they are only
// told about.
func (e *Engine) importKept(ctx context.Context, via string, nodes []string, noWait bool) {
	if len(nodes) == 0 {
		return
	}
	names, err := e.keptTarballs(ctx, via)
	if err != nil {
		e.note(fmt.Sprintf("the new nodes did not get the images kept with --keep-tarball: %v; import them with `k3d image import`", err))
		return
	}
	if len(names) == 0 {
		return
	}
	if noWait {
		e.note(fmt.Sprintf("not waiting for the new nodes (--wait=false), so they did not get the %d image tarballs kept in %s: import the images with `k3d image import`", len(names), imageVolumeMountPath))
		return
	}
	var mu sync.Mutex
	var failures []string
	_ = e.step(fmt.Sprintf("Importing %d kept image tarballs into %s", len(names), describeNames(nodes)), func() error {
		return forEachAll(ctx, nodes, func(ctx context.Context, node string) error {
			for _, name := range names {
				p := path.Join(imageVolumeMountPath, name)
				cmd := append(slices.Clone(ctrImport[:len(ctrImport)-1]), p)
				var errOut bytes.Buffer
				code, err := e.rt.Exec(ctx, node, backends.ExecSpec{Cmd: cmd, Stdout: io.Discard, Stderr: &errOut})
				if err == nil && code != 0 {
					err = fmt.Errorf("`%s` exited %d: %s", strings.Join(cmd, " "), code, lastLine(errOut.String()))
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("node %s did not import %s: %v", node, p, err))
					mu.Unlock()
				}
			}
			return nil
		})
	})
	for _, f := range failures {
		e.note(f + "; import the image with `k3d image import`")
	}
}
