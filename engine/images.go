package engine

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
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
	// Force imports into nodes that list every requested reference already.
	Force bool
}

// ImportResult says what an import did.
type ImportResult struct {
	// Imported are the nodes that received at least one stream.
	Imported []string
	// Skipped are the nodes that held every requested image already.
	Skipped []string
	// Bytes is what was read from the sources (each byte went to every node).
	Bytes    int64
	Duration time.Duration
}

// ctrImport is k3s's own ctr reading an archive from stdin into the
// namespace the kubelet uses: no tools container, no temporary file.
var (
	ctrImport = []string{"ctr", "-n", "k8s.io", "images", "import", "-"}
	ctrList   = []string{"ctr", "-n", "k8s.io", "images", "ls", "-q"}
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
	var missing []string
	for _, ref := range o.Images {
		ok, err := src.ImageExists(ctx, ref)
		if err != nil {
			return res, wrapf(err, "check image %s in %s", ref, srcName)
		}
		if !ok {
			missing = append(missing, ref)
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

	// A node that lists every requested reference is skipped for the save
	// stream; tarballs are always sent, since what they hold is only known
	// once they are read.
	want := live
	if len(o.Images) > 0 && !o.Force {
		var mu sync.Mutex
		var keep []string
		_ = forEachAll(ctx, live, func(ctx context.Context, node string) error {
			refs, err := e.nodeImages(ctx, node)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				failed[node] = err
			case holdsAll(refs, o.Images):
				res.Skipped = append(res.Skipped, node)
			default:
				keep = append(keep, node)
			}
			return nil
		})
		// Keep the cluster's order (servers, then agents) in what is reported.
		inOrder := func(names []string) []string {
			var out []string
			for _, n := range live {
				if slices.Contains(names, n) {
					out = append(out, n)
				}
			}
			return out
		}
		want, res.Skipped = inOrder(keep), inOrder(res.Skipped)
	}
	imported := map[string]bool{}
	if len(o.Images) > 0 && len(want) > 0 {
		err := e.step(fmt.Sprintf("Streaming %s from %s into %s", strings.Join(o.Images, ", "), srcName, describeNames(want)), func() error {
			stream, err := src.ImageSave(ctx, o.Images)
			if err != nil {
				return wrapf(err, "save %s from %s", strings.Join(o.Images, ", "), srcName)
			}
			defer stream.Close()
			tagged := retagged(stream, o.Images)
			defer tagged.Close()
			return e.fanOut(ctx, tagged, want, &res.Bytes, failed, imported)
		})
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
			if len(nodes) == 0 {
				break
			}
			label := p
			if p == "-" {
				label = "stdin"
			}
			err := e.step(fmt.Sprintf("Streaming %s into %s", label, describeNames(nodes)), func() error {
				var r io.Reader = o.Stdin
				if p != "-" {
					f, err := os.Open(p)
					if err != nil {
						return fmt.Errorf("open image archive %s: %w", p, err)
					}
					defer f.Close()
					r = f
				}
				return e.fanOut(ctx, r, nodes, &res.Bytes, failed, imported)
			})
			if err != nil && len(failed) == 0 {
				return res, err
			}
			nodes = slices.DeleteFunc(nodes, func(n string) bool { return failed[n] != nil })
		}
	}
	for _, n := range targets {
		if imported[n.Name] && failed[n.Name] == nil {
			res.Imported = append(res.Imported, n.Name)
		}
	}
	res.Duration = time.Since(start)
	if len(failed) == 0 {
		return res, nil
	}
	var errs []error
	for _, n := range targets {
		if err := failed[n.Name]; err != nil {
			errs = append(errs, &NodeError{Node: n.Name, Err: err})
		}
	}
	return res, fmt.Errorf("import into %d of %d nodes failed: %w", len(errs), len(targets), joinErrors(errs))
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

// nodeImages lists the references a node's containerd holds for the kubelet.
func (e *Engine) nodeImages(ctx context.Context, node string) ([]string, error) {
	var out, errOut bytes.Buffer
	code, err := e.rt.Exec(ctx, node, backends.ExecSpec{Cmd: ctrList, Stdout: &out, Stderr: &errOut})
	if err != nil {
		return nil, wrapf(err, "list images in node %s", node)
	}
	if code != 0 {
		return nil, fmt.Errorf("list images: `%s` exited %d: %s", strings.Join(ctrList, " "), code, lastLine(errOut.String()))
	}
	var refs []string
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			refs = append(refs, normalizeImageRef(l))
		}
	}
	return refs, nil
}

func holdsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, normalizeImageRef(w)) {
			return false
		}
	}
	return true
}

// normalizeImageRef spells a reference the way containerd lists it:
// "nginx" is "docker.io/library/nginx:latest".
func normalizeImageRef(s string) string {
	s = strings.TrimSpace(s)
	name, suffix := s, ":latest"
	if n, dgst, ok := strings.Cut(s, "@"); ok {
		name, suffix = n, "@"+dgst
	} else if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		name, suffix = s[:i], s[i:]
	}
	first, _, ok := strings.Cut(name, "/")
	switch {
	case !ok:
		name = "docker.io/library/" + name
	case !strings.ContainsAny(first, ".:") && first != "localhost":
		name = "docker.io/" + name
	}
	return name + suffix
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

// errNodeGone ends a node's pipe once its import has returned, so that the
// writer stops feeding it instead of blocking.
var errNodeGone = errors.New("node import ended")

// fanOut reads r once and writes it into `ctr images import -` on every
// node at the same time. A node whose import fails is dropped and recorded
// in failed; the others go on. It returns an error only when the source
// itself cannot be read (every node then fails too).
func (e *Engine) fanOut(ctx context.Context, r io.Reader, nodes []string, total *int64, failed map[string]error, imported map[string]bool) error {
	type sink struct {
		node string
		pw   *io.PipeWriter
		dead bool
		err  error
		out  bytes.Buffer
	}
	sinks := make([]*sink, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		pr, pw := io.Pipe()
		s := &sink{node: n, pw: pw}
		sinks[i] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := e.progress.Step("Importing into " + n)
			code, err := e.rt.Exec(ctx, n, backends.ExecSpec{Cmd: ctrImport, Stdin: pr, Stdout: io.Discard, Stderr: &s.out})
			switch {
			case err != nil:
				s.err = wrapf(err, "import images into node %s", n)
			case code != 0:
				s.err = fmt.Errorf("`%s` exited %d: %s", strings.Join(ctrImport, " "), code, lastLine(s.out.String()))
			}
			// A node that ends before reading everything must not stall
			// the writer; one that read everything sees this only as EOF.
			pr.CloseWithError(errNodeGone)
			done(s.err)
		}()
	}

	var readErr error
	buf := make([]byte, 1<<20)
	var wwg sync.WaitGroup
	for {
		n, err := r.Read(buf)
		if n > 0 {
			atomic.AddInt64(total, int64(n))
			chunk := buf[:n]
			for _, s := range sinks {
				if s.dead {
					continue
				}
				wwg.Add(1)
				go func() {
					defer wwg.Done()
					if _, err := s.pw.Write(chunk); err != nil {
						s.dead = true
					}
				}()
			}
			wwg.Wait()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = fmt.Errorf("read image stream: %w", err)
			break
		}
		if ctx.Err() != nil {
			readErr = ctx.Err()
			break
		}
	}
	for _, s := range sinks {
		if readErr != nil {
			s.pw.CloseWithError(readErr)
		} else {
			s.pw.Close()
		}
	}
	wg.Wait()
	for _, s := range sinks {
		switch {
		case s.err != nil:
			failed[s.node] = s.err
		case readErr != nil:
			failed[s.node] = readErr
		case s.dead:
			failed[s.node] = fmt.Errorf("import ended before the whole image stream was read")
		default:
			imported[s.node] = true
		}
	}
	return readErr
}

// retagged passes a docker-archive through, rewriting the RepoTags of its
// manifest.json so that each image carries the reference the user asked for
// as containerd spells it. Podman saves "myapp:dev" as
// "localhost/myapp:dev", which the kubelet never asks for: a pod's
// `image: myapp:dev` means docker.io/library/myapp:dev.
func retagged(r io.Reader, refs []string) io.ReadCloser {
	want := map[string]string{} // "localhost/NAME:TAG" normalized -> wanted
	for _, ref := range refs {
		n := normalizeImageRef(ref)
		if !strings.HasPrefix(n, "docker.io/") {
			continue
		}
		short := strings.TrimPrefix(strings.TrimPrefix(n, "docker.io/"), "library/")
		want["localhost/"+short] = n
	}
	pr, pw := io.Pipe()
	go func() {
		tr := tar.NewReader(r)
		tw := tar.NewWriter(pw)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				pw.CloseWithError(tw.Close())
				return
			}
			if err != nil {
				pw.CloseWithError(fmt.Errorf("read image archive: %w", err))
				return
			}
			if hdr.Name == "manifest.json" && len(want) > 0 {
				data, err := io.ReadAll(tr)
				if err != nil {
					pw.CloseWithError(err)
					return
				}
				data = rewriteRepoTags(data, want)
				hdr.Size = int64(len(data))
				if err := tw.WriteHeader(hdr); err != nil {
					pw.CloseWithError(err)
					return
				}
				if _, err := tw.Write(data); err != nil {
					pw.CloseWithError(err)
					return
				}
				continue
			}
			if err := tw.WriteHeader(hdr); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := io.Copy(tw, tr); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return pr
}

func rewriteRepoTags(data []byte, want map[string]string) []byte {
	var m []map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return data // not ours to judge: ctr reports a broken archive
	}
	changed := false
	for _, entry := range m {
		tags, _ := entry["RepoTags"].([]any)
		for i, t := range tags {
			s, _ := t.(string)
			if n, ok := want[normalizeImageRef(s)]; ok {
				tags[i] = n
				changed = true
			}
		}
	}
	if !changed {
		return data
	}
	out, err := json.Marshal(m)
	if err != nil {
		return data
	}
	return out
}
