package engine

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/k3d/k3d/backends"
)

// nodeCtr plays k3s's ctr in the fake's nodes: import records the RepoTags of
// the archive it read, ls -q lists them.
type nodeCtr struct {
	mu      sync.Mutex
	images  map[string][]string // node -> refs
	imports map[string]int      // node -> import calls
	bytes   map[string]int      // node -> bytes read by import
	failOn  string              // node whose import fails half way
}

func newNodeCtr() *nodeCtr {
	return &nodeCtr{images: map[string][]string{}, imports: map[string]int{}, bytes: map[string]int{}}
}

func (c *nodeCtr) exec(node string, spec backends.ExecSpec) (int, error) {
	cmd := strings.Join(spec.Cmd, " ")
	switch cmd {
	case strings.Join(ctrList, " "):
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, r := range c.images[node] {
			fmt.Fprintln(spec.Stdout, r)
		}
		return 0, nil
	case strings.Join(ctrImport, " "):
		if node == c.failOn {
			// Read a little, then die as a broken containerd would.
			_, _ = io.ReadFull(spec.Stdin, make([]byte, 10))
			fmt.Fprintln(spec.Stderr, "ctr: failed to import: disk full")
			return 1, nil
		}
		data, err := io.ReadAll(spec.Stdin)
		if err != nil {
			return 0, err
		}
		refs := archiveTags(data)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.imports[node]++
		c.bytes[node] += len(data)
		for _, r := range refs {
			if !slices.Contains(c.images[node], normalizeImageRef(r)) {
				c.images[node] = append(c.images[node], normalizeImageRef(r))
			}
		}
		return 0, nil
	}
	return 127, nil
}

func archiveTags(data []byte) []string {
	tr := tar.NewReader(bytes.NewReader(data))
	var out []string
	for {
		hdr, err := tr.Next()
		if err != nil {
			return out
		}
		if hdr.Name == "manifest.json" {
			b, _ := io.ReadAll(tr)
			var m []struct{ RepoTags []string }
			_ = json.Unmarshal(b, &m)
			for _, e := range m {
				out = append(out, e.RepoTags...)
			}
		}
	}
}

func archiveOf(t *testing.T, refs ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	m, _ := json.Marshal([]map[string][]string{{"RepoTags": refs}})
	// A large first entry so the stream spans many writes.
	pad := bytes.Repeat([]byte("x"), 3<<20)
	_ = tw.WriteHeader(&tar.Header{Name: "layer.tar", Mode: 0o644, Size: int64(len(pad)), Typeflag: tar.TypeReg})
	_, _ = tw.Write(pad)
	_ = tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: int64(len(m)), Typeflag: tar.TypeReg})
	_, _ = tw.Write(m)
	_ = tw.Close()
	return buf.Bytes()
}

func importEnv(t *testing.T) (*testEnv, *nodeCtr) {
	t.Helper()
	te := newTestEnv(t)
	ctr := newNodeCtr()
	te.rt.OnExec = ctr.exec
	if _, err := te.e.CreateCluster(ctxT(t), CreateClusterOptions{Name: "img", Servers: 1, Agents: 2, Image: testImage}); err != nil {
		t.Fatalf("create: %v", err)
	}
	return te, ctr
}

var imgNodes = []string{"k3d-img-server-0", "k3d-img-agent-0", "k3d-img-agent-1"}

func TestImportFromRuntimeReachesEveryNodeAndReimportSkips(t *testing.T) {
	te, ctr := importEnv(t)
	te.rt.AddImage("myapp:dev")
	ctx := ctxT(t)
	res, err := te.e.ImportImages(ctx, ImportOptions{Cluster: "img", Images: []string{"myapp:dev"}})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if !slices.Equal(res.Imported, imgNodes) {
		t.Errorf("imported into %v, want %v (never the load balancer)", res.Imported, imgNodes)
	}
	if res.Bytes == 0 {
		t.Error("no bytes reported")
	}
	for _, n := range imgNodes {
		if !slices.Contains(ctr.images[n], "docker.io/library/myapp:dev") {
			t.Errorf("node %s lists %v, want docker.io/library/myapp:dev", n, ctr.images[n])
		}
		if ctr.bytes[n] != int(res.Bytes) {
			t.Errorf("node %s read %d bytes of a %d byte stream", n, ctr.bytes[n], res.Bytes)
		}
	}
	again, err := te.e.ImportImages(ctx, ImportOptions{Cluster: "img", Images: []string{"myapp:dev"}})
	if err != nil {
		t.Fatalf("re-import: %v", err)
	}
	if len(again.Imported) != 0 || !slices.Equal(again.Skipped, imgNodes) {
		t.Errorf("re-import: imported %v, skipped %v; want every node skipped", again.Imported, again.Skipped)
	}
	if ctr.imports["k3d-img-agent-0"] != 1 {
		t.Errorf("agent-0 imported %d times, want once", ctr.imports["k3d-img-agent-0"])
	}
	forced, err := te.e.ImportImages(ctx, ImportOptions{Cluster: "img", Images: []string{"myapp:dev"}, Force: true, Nodes: "agent:1"})
	if err != nil {
		t.Fatalf("forced import: %v", err)
	}
	if !slices.Equal(forced.Imported, []string{"k3d-img-agent-1"}) {
		t.Errorf("--force --nodes agent:1 imported into %v", forced.Imported)
	}
}

func TestImportTarballAndStdin(t *testing.T) {
	te, ctr := importEnv(t)
	ctx := ctxT(t)
	path := filepath.Join(t.TempDir(), "img.tar")
	if err := os.WriteFile(path, archiveOf(t, "from/file:1"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := te.e.ImportImages(ctx, ImportOptions{Cluster: "img", Tarballs: []string{path, "-"},
		Stdin: bytes.NewReader(archiveOf(t, "from/stdin:2")), Nodes: "server:0;agent:1"})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	want := []string{"k3d-img-server-0", "k3d-img-agent-1"}
	if !slices.Equal(res.Imported, want) {
		t.Errorf("imported into %v, want %v", res.Imported, want)
	}
	for _, n := range want {
		for _, ref := range []string{"docker.io/from/file:1", "docker.io/from/stdin:2"} {
			if !slices.Contains(ctr.images[n], ref) {
				t.Errorf("node %s lacks %s: %v", n, ref, ctr.images[n])
			}
		}
	}
	if len(ctr.images["k3d-img-agent-0"]) != 0 {
		t.Errorf("agent-0 was not selected but got %v", ctr.images["k3d-img-agent-0"])
	}
}

func TestImportFailingAndStoppedNodesDoNotStopTheOthers(t *testing.T) {
	te, ctr := importEnv(t)
	te.rt.AddImage("myapp:dev")
	ctx := ctxT(t)
	if err := te.rt.StopNode(ctx, "k3d-img-agent-1", 0); err != nil {
		t.Fatal(err)
	}
	ctr.failOn = "k3d-img-agent-0"
	res, err := te.e.ImportImages(ctx, ImportOptions{Cluster: "img", Images: []string{"myapp:dev"}})
	if err == nil {
		t.Fatal("import into a stopped and a failing node succeeded")
	}
	for _, want := range []string{"k3d-img-agent-0", "disk full", "k3d-img-agent-1", "not running"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	var ne *NodeError
	if !errors.As(err, &ne) {
		t.Errorf("error carries no NodeError: %v", err)
	}
	if !slices.Equal(res.Imported, []string{"k3d-img-server-0"}) {
		t.Errorf("imported into %v, want the server still done", res.Imported)
	}
	if !slices.Contains(ctr.images["k3d-img-server-0"], "docker.io/library/myapp:dev") {
		t.Errorf("server lacks the image: %v", ctr.images["k3d-img-server-0"])
	}
}

func TestImportRefusesUnknownImagesAndBadFilters(t *testing.T) {
	te, _ := importEnv(t)
	ctx := ctxT(t)
	_, err := te.e.ImportImages(ctx, ImportOptions{Cluster: "img", Images: []string{"nope:1"}})
	if !backends.IsNotFound(err) || !strings.Contains(err.Error(), "nope:1") {
		t.Errorf("unknown image: want not-found naming it, got %v", err)
	}
	_, err = te.e.ImportImages(ctx, ImportOptions{Cluster: "img", Tarballs: []string{"/does/not/exist.tar"}})
	if !backends.IsInvalid(err) || !strings.Contains(err.Error(), "/does/not/exist.tar") {
		t.Errorf("missing tarball: got %v", err)
	}
	te.rt.AddImage("myapp:dev")
	_, err = te.e.ImportImages(ctx, ImportOptions{Cluster: "img", Images: []string{"myapp:dev"}, Nodes: "loadbalancer"})
	if !backends.IsInvalid(err) {
		t.Errorf("--nodes loadbalancer: want invalid, got %v", err)
	}
	_, err = te.e.ImportImages(ctx, ImportOptions{Cluster: "nosuch", Images: []string{"myapp:dev"}})
	if !backends.IsNotFound(err) {
		t.Errorf("unknown cluster: want not found, got %v", err)
	}
}

func TestNormalizeImageRef(t *testing.T) {
	for in, want := range map[string]string{
		"nginx":                     "docker.io/library/nginx:latest",
		"me/app:1":                  "docker.io/me/app:1",
		"localhost:5000/app":        "localhost:5000/app:latest",
		"ghcr.io/x/y@sha256:abc":    "ghcr.io/x/y@sha256:abc",
		"docker.io/library/nginx:1": "docker.io/library/nginx:1",
	} {
		if got := normalizeImageRef(in); got != want {
			t.Errorf("normalizeImageRef(%q) = %q, want %q", in, got, want)
		}
	}
}

// Podman saves "myapp:dev" as localhost/myapp:dev; the node must hold the
// name a pod's `image: myapp:dev` asks for.
func TestRetaggedGivesPodmanImagesTheNameAsked(t *testing.T) {
	in := archiveOf(t, "localhost/myapp:dev", "localhost/other:1")
	out, err := io.ReadAll(retagged(bytes.NewReader(in), []string{"myapp:dev"}))
	if err != nil {
		t.Fatal(err)
	}
	got := archiveTags(out)
	if !slices.Equal(got, []string{"docker.io/library/myapp:dev", "localhost/other:1"}) {
		t.Errorf("RepoTags after retag: %v", got)
	}
	if len(out) < 3<<20 {
		t.Errorf("layer data lost: %d bytes out", len(out))
	}
}
