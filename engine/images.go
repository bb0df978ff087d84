package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine/nodefilter"
)

// ImportOptions says which images go into which nodes of a cluster.
type ImportOptions struct {
	Cluster string
	// Images are references present in Source, sent as one save stream.
	Images []string
	// Tarballs are docker-archive or OCI-layout tar files; "-" reads Stdin.
	Tarballs []string
	Stdin    io.Reader
	// Source is the runtime Images are read from; nil means the cluster's own.
	Source backends.Runtime
	// SourceName names Source in messages ("docker").
	SourceName string
	// Nodes is a node filter (`server:0`, `agent:*`); empty means every
	// server and agent.
	Nodes string
	// Force imports into nodes that hold every requested image already.
	Force bool
	// KeepTarball also writes each stream, once, as a tarball into the
	// cluster's image volume and keeps it there: nodes added later with
	// CreateNodes import what is kept (see keptIndex).
	KeepTarball bool
}

// ImportResult says what an import did.
type ImportResult struct {
	// Imported are the nodes that received at least one stream.
	Imported []string
	// Skipped are the nodes that held every requested image already: the
	// same image, by ID, under every requested reference.
	Skipped []string
	// Bytes is what was read from the sources (each byte went to every node).
	Bytes    int64
	Duration time.Duration
	// Kept are the tarballs written into ImageVolume (KeepTarball), as paths
	// inside the nodes (/k3d/images/NAME.tar).
	Kept        []string
	ImageVolume string
}

// ctrImport is k3s's own ctr reading an archive from stdin into the
// namespace the kubelet uses: no tools container, no temporary file.
// crictl (shipped with k3s too) lists that namespace as the kubelet sees it,
// with each image's ID: the digest of its config, the same as the source
// runtime's image ID, so a rebuilt image under an old tag is told apart.
var (
	ctrImport    = []string{"ctr", "-n", "k8s.io", "images", "import", "-"}
	crictlImages = []string{"crictl", "images", "-o", "json"}
)

// ImportImages streams images into a cluster's nodes. Each source (the save
// stream of Images, then each tarball) is read once and written to every
// target node at the same time. A node that is stopped or whose import fails
// does not stop the others: the error, naming every failed node, comes after
// all have finished.
func (e *Engine) ImportImages(ctx context.Context, o ImportOptions) (ImportResult, error) {
	start := time.Now()
	var res ImportResult
	if o.Cluster == "" {
		o.Cluster = DefaultClusterName
	}
	if len(o.Images) == 0 && len(o.Tarballs) == 0 {
		return res, invalidf("name the images or tarballs to import")
	}
	if n := countStdin(o.Tarballs); n > 1 {
		return res, invalidf("stdin (-) can be read only once")
	}
	for _, p := range o.Tarballs {
		if p == "-" {
			if o.Stdin == nil {
				return res, invalidf("no stdin to read the image archive from")
			}
			continue
		}
		if fi, err := os.Stat(p); err != nil {
			return res, invalidf("image archive %s: %v", p, err)
		} else if !fi.Mode().IsRegular() {
			return res, invalidf("image archive %s is not a regular file", p)
		}
	}
	src := o.Source
	if src == nil {
		src = e.rt
	}
	srcName := o.SourceName
	if srcName == "" {
		srcName = "the runtime"
	}
	// The IDs are taken before the stream is saved: an image rebuilt in
	// between is sent as it is then, and is imported again next time.
	want := map[string]string{} // requested reference -> image ID
	var missing []string
	for _, ref := range o.Images {
		img, err := src.ImageInspect(ctx, ref)
		switch {
		case backends.IsNotFound(err):
			missing = append(missing, ref)
		case err != nil:
			return res, wrapf(err, "inspect image %s in %s", ref, srcName)
		default:
			want[ref] = img.ID
		}
	}
	if len(missing) > 0 {
		return res, notFoundf("image %s is not present in %s: build or load it there first, or give a tarball", strings.Join(missing, ", "), srcName)
	}

	c, err := e.GetCluster(ctx, o.Cluster)
	if err != nil {
		return res, err
	}
	targets, err := importTargets(c, o.Nodes)
	if err != nil {
		return res, err
	}

	failed := map[string]error{}
	var live []string
	for _, n := range targets {
		if !n.Running {
			failed[n.Name] = fmt.Errorf("node is not running (%s): start it with `k3d start node %s`", n.Status, n.Name)
			continue
		}
		live = append(live, n.Name)
	}

	// A node that holds every requested image already, by ID, is skipped
	// for the save stream; tarballs are always sent, since what they hold is
	// only known once they are read. A node whose images cannot be listed
	// is sent the stream: importing again is harmless, skipping wrongly is not.
	send := live
	if len(o.Images) > 0 && !o.Force {
		holds := make([]bool, len(live))
		_ = forEachAll(ctx, live, func(ctx context.Context, node string) error {
			have, err := e.nodeImages(ctx, node)
			holds[slices.Index(live, node)] = err == nil && holdsAll(have, want)
			return nil
		})
		// In the cluster's order (servers, then agents), as reported.
		send = nil
		for i, n := range live {
			if holds[i] {
				res.Skipped = append(res.Skipped, n)
			} else {
				send = append(send, n)
			}
		}
	}
	var keeper *tarballKeeper
	if o.KeepTarball {
		var err error
		if keeper, err = e.newTarballKeeper(c, targets); err != nil {
			return res, err
		}
		defer keeper.cleanup()
		res.ImageVolume = c.ImageVolume
	}
	imported := map[string]bool{}
	if len(o.Images) > 0 && (len(send) > 0 || keeper != nil) {
		msg := fmt.Sprintf("Streaming %s from %s into %s", strings.Join(o.Images, ", "), srcName, describeNames(send))
		if len(send) == 0 {
			msg = fmt.Sprintf("Saving %s from %s", strings.Join(o.Images, ", "), srcName)
		}
		err := func() error {
			if o.Source == nil && keeper == nil {
				// Same runtime: its backend saves and fans out by itself,
				// so the stream never crosses into k3d and back.
				return e.importInto(ctx, importStream{msg: msg, images: o.Images}, send, &res, failed, imported)
			}
			stream, err := src.ImageSave(ctx, o.Images)
			if err != nil {
				return wrapf(err, "save %s from %s", strings.Join(o.Images, ", "), srcName)
			}
			defer stream.Close()
			tagged := backends.RetagArchive(stream, o.Images)
			defer tagged.Close()
			return e.importInto(ctx, importStream{msg: msg, r: tagged, keep: keeper.forImages(o.Images)}, send, &res, failed, imported)
		}()
		if err != nil && len(failed) == 0 {
			return res, err
		}
	}
	if len(o.Tarballs) > 0 {
		// Nodes that failed the save stream are not sent tarballs: their
		// error is already what the user must see.
		var nodes []string
		for _, n := range live {
			if failed[n] == nil {
				nodes = append(nodes, n)
			}
		}
		for _, p := range o.Tarballs {
			if len(nodes) == 0 && keeper == nil {
				break
			}
			label := p
			if p == "-" {
				label = "stdin"
			}
			err := func() error {
				var r io.Reader = o.Stdin
				var size int64
				if p != "-" {
					f, err := os.Open(p)
					if err != nil {
						return fmt.Errorf("open image archive %s: %w", p, err)
					}
					defer f.Close()
					if fi, err := f.Stat(); err == nil {
						size = fi.Size()
					}
					r = f
				}
				msg := fmt.Sprintf("Streaming %s into %s", label, describeNames(nodes))
				return e.importInto(ctx, importStream{msg: msg, r: r, size: size, keep: keeper.forTarball(p)}, nodes, &res, failed, imported)
			}()
			if err != nil && len(failed) == 0 {
				return res, err
			}
			nodes = slices.DeleteFunc(nodes, func(n string) bool { return failed[n] != nil })
		}
	}
	var keepErr error
	if keeper != nil {
		res.Kept, keepErr = keeper.finish(ctx)
	}
	for _, n := range targets {
		if imported[n.Name] && failed[n.Name] == nil {
			res.Imported = append(res.Imported, n.Name)
		}
	}
	res.Duration = time.Since(start)
	if len(failed) == 0 {
		return res, keepErr
	}
	var errs []error
	for _, n := range targets {
		if err := failed[n.Name]; err != nil {
			errs = append(errs, &NodeError{Node: n.Name, Err: err})
		}
	}
	err = fmt.Errorf("import into %d of %d nodes failed: %w", len(errs), len(targets), joinErrors(errs))
	if keepErr != nil {
		err = fmt.Errorf("%w; %w", err, keepErr)
	}
	return res, err
}

func countStdin(paths []string) int {
	n := 0
	for _, p := range paths {
		if p == "-" {
			n++
		}
	}
	return n
}

// importTargets are the cluster's servers and agents the filter selects.
func importTargets(c Cluster, filter string) ([]Node, error) {
	var refs []nodefilter.NodeRef
	byName := map[string]Node{}
	for _, n := range c.Nodes {
		if !n.Role.k3sNode() {
			continue
		}
		refs = append(refs, nodefilter.NodeRef{Name: n.Name, Role: string(n.Role), Index: nodeIndex(n.Name)})
		byName[n.Name] = n
	}
	if len(refs) == 0 {
		return nil, invalidf("cluster %s has no server or agent to import images into", c.Name)
	}
	if filter == "" {
		var out []Node
		for _, r := range refs {
			out = append(out, byName[r.Name])
		}
		return out, nil
	}
	filters, err := nodefilter.Parse(filter)
	if err != nil {
		return nil, invalidf("--nodes %q: %v", filter, err)
	}
	for _, f := range filters {
		if f.Group == nodefilter.GroupLoadBalancer {
			return nil, invalidf("--nodes %q: the load balancer runs no k3s, so it takes no images", filter)
		}
	}
	picked, err := nodefilter.Match(filters, refs)
	if err != nil {
		return nil, invalidf("--nodes: %v", err)
	}
	var out []Node
	for _, r := range picked {
		out = append(out, byName[r.Name])
	}
	return out, nil
}

func describeNames(nodes []string) string {
	if len(nodes) == 1 {
		return "node " + nodes[0]
	}
	return fmt.Sprintf("%d nodes", len(nodes))
}

// nodeImages lists the images a node's containerd holds for the kubelet:
// image ID by reference (tags and digests), as containerd spells them.
func (e *Engine) nodeImages(ctx context.Context, node string) (map[string]string, error) {
	var out, errOut bytes.Buffer
	code, err := e.rt.Exec(ctx, node, backends.ExecSpec{Cmd: crictlImages, Stdout: &out, Stderr: &errOut})
	if err != nil {
		return nil, wrapf(err, "list images in node %s", node)
	}
	if code != 0 {
		return nil, fmt.Errorf("list images: `%s` exited %d: %s", strings.Join(crictlImages, " "), code, lastLine(errOut.String()))
	}
	var list struct {
		Images []struct {
			ID          string   `json:"id"`
			RepoTags    []string `json:"repoTags"`
			RepoDigests []string `json:"repoDigests"`
		} `json:"images"`
	}
	if err := json.Unmarshal(out.Bytes(), &list); err != nil {
		return nil, fmt.Errorf("list images: `%s` printed no image list: %w", strings.Join(crictlImages, " "), err)
	}
	have := map[string]string{}
	for _, img := range list.Images {
		for _, r := range append(img.RepoTags, img.RepoDigests...) {
			have[backends.NormalizeImageRef(r)] = img.ID
		}
	}
	return have, nil
}

// holdsAll reports whether every wanted reference names the wanted image.
func holdsAll(have, want map[string]string) bool {
	for ref, id := range want {
		if got, ok := have[backends.NormalizeImageRef(ref)]; !ok || got != id {
			return false
		}
	}
	return true
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		s = s[i+1:]
	}
	if s == "" {
		return "no output"
	}
	return s
}

// importStream is one source of an import: a stream k3d reads (r, of size
// bytes when known, also written to keep), or images the runtime saves
// itself (images), so that the stream never crosses into k3d and back.
type importStream struct {
	msg    string
	r      io.Reader
	size   int64
	keep   io.Writer
	images []string
}

// importInto runs `ctr images import -` in every node at once with one
// stream (ExecAll: a backend program receives it once and feeds each node
// itself), as one reported transfer. A node whose import fails is recorded
// in failed and the others go on; the error returned is the source's own
// (a save or read failure), which then every node shares.
func (e *Engine) importInto(ctx context.Context, s importStream, nodes []string, res *ImportResult, failed map[string]error, imported map[string]bool) error {
	t := e.startTransfer(s.msg, s.size, len(nodes))
	spec := backends.ExecAllSpec{
		Nodes:       nodes,
		Cmd:         ctrImport,
		StdinImages: s.images,
		Done:        func(_ int, r backends.ExecResult) { t.nodeDone(importError(r)) },
	}
	var src *fanOutSource
	if s.r != nil {
		src = &fanOutSource{r: s.r, keep: s.keep, t: t, total: &res.Bytes}
		spec.Stdin = src
	} else {
		spec.Progress = func(n int64) {
			if d := n - atomic.SwapInt64(&res.Bytes, n); d > 0 {
				t.addBytes(d)
			}
		}
	}
	results, err := backends.ExecAll(ctx, e.rt, spec)
	if src != nil && src.err != nil {
		err = src.err
	} else if err != nil && len(s.images) > 0 {
		err = wrapf(err, "save %s", strings.Join(s.images, ", "))
	}
	if c, ok := s.keep.(interface{ end(error) }); ok {
		c.end(err)
	}
	before := len(failed)
	if len(results) == len(nodes) {
		for i, n := range nodes {
			switch r := results[i]; {
			case r.Err != nil:
				failed[n] = wrapf(r.Err, "import images into node %s", n)
			case importError(r) != nil:
				failed[n] = importError(r)
			case err != nil:
				failed[n] = err
			default:
				imported[n] = true
			}
		}
	}
	if len(failed) > before {
		t.done(fmt.Errorf("%d of %d nodes failed", len(failed)-before, len(nodes)))
		return nil // the nodes' errors are reported with the others
	}
	t.done(err)
	return err
}

// importError says how one node's `ctr images import` failed, nil if not.
func importError(r backends.ExecResult) error {
	switch {
	case r.Err != nil:
		return r.Err
	case r.ExitCode != 0:
		return fmt.Errorf("`%s` exited %d: %s", strings.Join(ctrImport, " "), r.ExitCode, lastLine(string(r.Stderr)))
	case r.Unread:
		return fmt.Errorf("import ended before the whole image stream was read")
	}
	return nil
}

// fanOutSource is the image stream as the nodes read it: counted for the
// progress, copied to the kept tarball, and its own read error remembered
// (as opposed to a node's).
type fanOutSource struct {
	r     io.Reader
	keep  io.Writer
	t     *transfer
	total *int64
	err   error
}

func (s *fanOutSource) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		atomic.AddInt64(s.total, int64(n))
		if s.keep != nil {
			// The keeper records its own failure: the nodes go on.
			_, _ = s.keep.Write(p[:n])
		}
		s.t.addBytes(int64(n))
	}
	if err != nil && err != io.EOF {
		s.err = fmt.Errorf("read image stream: %w", err)
		return n, s.err
	}
	return n, err
}
