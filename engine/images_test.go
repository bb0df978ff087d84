package engine

import (
	"archive/tar"
	"bytes"
	"context"
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

// nodeCtr plays k3s's ctr and crictl in the fake's nodes: import records
// the RepoTags of the archive it read with the ID the source runtime gives
// them (as the config digest in a real archive would), crictl lists them.
type nodeCtr struct {
	mu      sync.Mutex
	images  map[string]map[string]string // node -> ref -> image ID
	imports map[string]int               // node -> import calls
	bytes   map[string]int               // node -> bytes read by import
	files   map[string][]string          // node -> archives imported from a path
	failOn  string                       // node whose import fails half way
	noList  string                       // node whose crictl fails
	idOf    func(ref string) string
}

func newNodeCtr(idOf func(string) string) *nodeCtr {
	return &nodeCtr{images: map[string]map[string]string{}, imports: map[string]int{}, bytes: map[string]int{}, files: map[string][]string{}, idOf: idOf}
}

// refs are the references a node holds.
func (c *nodeCtr) refs(node string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for r := range c.images[node] {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

func (c *nodeCtr) exec(node string, spec backends.ExecSpec) (int, error) {
	cmd := strings.Join(spec.Cmd, " ")
	switch {
	case cmd == strings.Join(crictlImages, " "):
		if node == c.noList {
			fmt.Fprintln(spec.Stderr, "crictl: connect: connection refused")
			return 1, nil
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		type img struct {
			ID       string   `json:"id"`
			RepoTags []string `json:"repoTags"`
		}
		var list []img
		for r, id := range c.images[node] {
			list = append(list, img{ID: id, RepoTags: []string{r}})
		}
		return 0, json.NewEncoder(spec.Stdout).Encode(map[string]any{"images": list})
	case cmd == strings.Join(ctrImport, " "):
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
		c.record(node, data)
		return 0, nil
	case strings.HasPrefix(cmd, "ctr -n k8s.io images import /k3d/images/"):
		c.mu.Lock()
		defer c.mu.Unlock()
		c.files[node] = append(c.files[node], spec.Cmd[len(spec.Cmd)-1])
		return 0, nil
	}
	return 127, nil
}

func (c *nodeCtr) record(node string, data []byte) {
	refs := archiveTags(data)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.imports[node]++
	c.bytes[node] += len(data)
	if c.images[node] == nil {
		c.images[node] = map[string]string{}
	}
	for _, r := range refs {
		c.images[node][backends.NormalizeImageRef(r)] = c.idOf(r)
	}
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
	ctr := newNodeCtr(func(ref string) string {
		img, err := te.rt.ImageInspect(context.Background(), ref)
		if err != nil {
			return "sha256:from-a-tarball-" + ref
		}
		return img.ID
	})
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
		if !slices.Contains(ctr.refs(n), "docker.io/library/myapp:dev") {
			t.Errorf("node %s lists %v, want docker.io/library/myapp:dev", n, ctr.refs(n))
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
			if !slices.Contains(ctr.refs(n), ref) {
				t.Errorf("node %s lacks %s: %v", n, ref, ctr.refs(n))
			}
		}
	}
	if len(ctr.refs("k3d-img-agent-0")) != 0 {
		t.Errorf("agent-0 was not selected but got %v", ctr.refs("k3d-img-agent-0"))
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
	if !slices.Contains(ctr.refs("k3d-img-server-0"), "docker.io/library/myapp:dev") {
		t.Errorf("server lacks the image: %v", ctr.refs("k3d-img-server-0"))
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
		if got := backends.NormalizeImageRef(in); got != want {
			t.Errorf("NormalizeImageRef(%q) = %q, want %q", in, got, want)
		}
	}
}

// Podman saves "myapp:dev" as localhost/myapp:dev; the node must hold the
// name a pod's `image: myapp:dev` asks for.
func TestRetaggedGivesPodmanImagesTheNameAsked(t *testing.T) {
	in := archiveOf(t, "localhost/myapp:dev", "localhost/other:1")
	out, err := io.ReadAll(backends.RetagArchive(bytes.NewReader(in), []string{"myapp:dev"}))
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

// transferRecorder is a Progress that also shows transfers, as the CLI does.
type transferRecorder struct {
	recorder
	mu        sync.Mutex
	transfers map[string][]TransferState
	ended     map[string]error
}

type recordedTransfer struct {
	r   *transferRecorder
	msg string
}

func (r *transferRecorder) Transfer(msg string) Transfer {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.transfers == nil {
		r.transfers, r.ended = map[string][]TransferState{}, map[string]error{}
	}
	r.transfers[msg] = nil
	return recordedTransfer{r, msg}
}

func (t recordedTransfer) Update(s TransferState) {
	t.r.mu.Lock()
	defer t.r.mu.Unlock()
	t.r.transfers[t.msg] = append(t.r.transfers[t.msg], s)
}

func (t recordedTransfer) Done(err error) {
	t.r.mu.Lock()
	defer t.r.mu.Unlock()
	if _, ok := t.r.ended[t.msg]; ok {
		panic("transfer ended twice: " + t.msg)
	}
	t.r.ended[t.msg] = err
}

// last is the final state of the transfer whose message has prefix.
func (r *transferRecorder) last(t *testing.T, prefix string) (TransferState, error) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for msg, states := range r.transfers {
		if strings.HasPrefix(msg, prefix) {
			err, ended := r.ended[msg]
			if !ended {
				t.Errorf("transfer %q never ended", msg)
			}
			if len(states) == 0 {
				t.Fatalf("transfer %q had no update", msg)
			}
			return states[len(states)-1], err
		}
	}
	t.Fatalf("no transfer %q among %v", prefix, r.transfers)
	return TransferState{}, nil
}

// A rebuilt image under the same tag is imported again; a node holding
// the image as it is now is skipped; a node holding one of two requested
// images as they are now still gets both.
func TestImportSkipsByImageIDNotByName(t *testing.T) {
	te, ctr := importEnv(t)
	ctx := ctxT(t)
	te.rt.SetImageID("myapp:dev", "sha256:build1")
	te.rt.SetImageID("side:1", "sha256:side1")
	if _, err := te.e.ImportImages(ctx, ImportOptions{Cluster: "img", Images: []string{"myapp:dev", "side:1"}}); err != nil {
		t.Fatalf("import: %v", err)
	}

	te.rt.SetImageID("myapp:dev", "sha256:build2") // rebuilt, same tag
	res, err := te.e.ImportImages(ctx, ImportOptions{Cluster: "img", Images: []string{"myapp:dev"}, Nodes: "agent:0"})
	if err != nil {
		t.Fatalf("import of the rebuild: %v", err)
	}
	if !slices.Equal(res.Imported, []string{"k3d-img-agent-0"}) || len(res.Skipped) != 0 {
		t.Errorf("rebuilt image into agent:0: imported %v, skipped %v; want it imported", res.Imported, res.Skipped)
	}
	res, err = te.e.ImportImages(ctx, ImportOptions{Cluster: "img", Images: []string{"myapp:dev"}})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if want := []string{"k3d-img-server-0", "k3d-img-agent-1"}; !slices.Equal(res.Imported, want) || !slices.Equal(res.Skipped, []string{"k3d-img-agent-0"}) {
		t.Errorf("imported %v, skipped %v; want the rebuild into %v and agent-0 (holding it) skipped", res.Imported, res.Skipped, want)
	}
	for _, n := range imgNodes {
		if id := ctr.images[n]["docker.io/library/myapp:dev"]; id != "sha256:build2" {
			t.Errorf("node %s holds myapp:dev as %s, want the rebuild", n, id)
		}
	}

	te.rt.SetImageID("side:1", "sha256:side2")
	res, err = te.e.ImportImages(ctx, ImportOptions{Cluster: "img", Images: []string{"myapp:dev", "side:1"}})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if !slices.Equal(res.Imported, imgNodes) {
		t.Errorf("one of two images rebuilt: imported %v, want every node", res.Imported)
	}
	if te.rt.Calls("ImageExists") > 0 && te.rt.Calls("ImageInspect") == 0 {
		t.Error("the source was asked for presence, not for image IDs")
	}
}

// A node whose images cannot be listed is sent the image, not skipped and
// not failed: importing again does no harm.
func TestImportIntoNodeThatCannotListImages(t *testing.T) {
	te, ctr := importEnv(t)
	ctx := ctxT(t)
	te.rt.AddImage("myapp:dev")
	if _, err := te.e.ImportImages(ctx, ImportOptions{Cluster: "img", Images: []string{"myapp:dev"}}); err != nil {
		t.Fatal(err)
	}
	ctr.noList = "k3d-img-agent-1"
	res, err := te.e.ImportImages(ctx, ImportOptions{Cluster: "img", Images: []string{"myapp:dev"}})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if !slices.Equal(res.Imported, []string{"k3d-img-agent-1"}) || len(res.Skipped) != 2 {
		t.Errorf("imported %v, skipped %v; want agent-1 imported again, the others skipped", res.Imported, res.Skipped)
	}
}

// The import's progress says how many bytes went out and how many nodes are
// done; the stream has no known length, a tarball does.
func TestImportReportsBytesAndNodes(t *testing.T) {
	te, ctr := importEnv(t)
	tr := &transferRecorder{}
	te.e = New(te.rt, WithProgress(tr))
	ctx := ctxT(t)
	te.rt.AddImage("myapp:dev")
	ctr.failOn = "k3d-img-agent-1"
	res, err := te.e.ImportImages(ctx, ImportOptions{Cluster: "img", Images: []string{"myapp:dev"}})
	if err == nil {
		t.Fatal("import into a failing node succeeded")
	}
	st, terr := tr.last(t, "Streaming myapp:dev from")
	if st.Bytes != res.Bytes || st.Bytes == 0 || st.Total != 0 {
		t.Errorf("final state %+v; want %d bytes of an unknown total", st, res.Bytes)
	}
	if st.Nodes != 3 || st.NodesDone != 3 || st.NodesFailed != 1 {
		t.Errorf("final state %+v; want 3 of 3 nodes done, 1 failed", st)
	}
	if terr == nil {
		t.Error("a transfer with a failed node ended as a success")
	}

	ctr.failOn = ""
	path := filepath.Join(t.TempDir(), "img.tar")
	data := archiveOf(t, "from/file:1")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := te.e.ImportImages(ctx, ImportOptions{Cluster: "img", Tarballs: []string{path}, Nodes: "server:0"}); err != nil {
		t.Fatal(err)
	}
	st, terr = tr.last(t, "Streaming "+path)
	if st.Total != int64(len(data)) || st.Bytes != st.Total || st.Nodes != 1 || st.NodesDone != 1 || terr != nil {
		t.Errorf("tarball transfer ended at %+v (%v); want %d of %d bytes, 1 of 1 nodes", st, terr, len(data), len(data))
	}
}

// --keep-tarball writes each stream once into the image volume and lists it
// there; nodes added later import what is kept, from their own mount.
func TestKeepTarballKeepsTheStreamForNodesAddedLater(t *testing.T) {
	// A temporary directory of its own: k3d processes of other test
	// packages (e2e's --keep-tarball) use the shared one meanwhile.
	t.Setenv("TMPDIR", t.TempDir())
	te, ctr := importEnv(t)
	ctx := ctxT(t)
	te.rt.AddImage("myapp:dev")
	path := filepath.Join(t.TempDir(), "tools.tar")
	tools := archiveOf(t, "tools:1")
	if err := os.WriteFile(path, tools, 0o644); err != nil {
		t.Fatal(err)
	}
	// The fake does not share volumes between nodes: files are where they
	// were copied in, through the first node imported into, agent-0 here,
	// which is also what the new agent below is copied from.
	res, err := te.e.ImportImages(ctx, ImportOptions{Cluster: "img", Images: []string{"myapp:dev"}, Tarballs: []string{path}, KeepTarball: true, Nodes: "agent:0"})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if want := []string{"/k3d/images/myapp_dev.tar", "/k3d/images/tools.tar"}; !slices.Equal(res.Kept, want) || res.ImageVolume != "k3d-img-images" {
		t.Errorf("kept %v in %s, want %v in k3d-img-images", res.Kept, res.ImageVolume, want)
	}
	saved, ok := te.rt.File("k3d-img-agent-0", "/k3d/images/myapp_dev.tar")
	if !ok || len(saved) != ctr.bytes["k3d-img-agent-0"]-len(tools) || !slices.Equal(archiveTags(saved), []string{"myapp:dev"}) {
		t.Errorf("kept save stream: %d bytes (present %v), want the %d bytes the node read", len(saved), ok, ctr.bytes["k3d-img-agent-0"]-len(tools))
	}
	if kept, _ := te.rt.File("k3d-img-agent-0", "/k3d/images/tools.tar"); !bytes.Equal(kept, tools) {
		t.Errorf("kept tarball differs from %s (%d bytes, want %d)", path, len(kept), len(tools))
	}
	if idx, _ := te.rt.File("k3d-img-agent-0", "/k3d/images/"+keptIndex); string(idx) != "myapp_dev.tar\ntools.tar\n" {
		t.Errorf("index of kept tarballs = %q", idx)
	}
	// Keeping again replaces, and lists each tarball once; a node that
	// holds the image is still skipped.
	again, err := te.e.ImportImages(ctx, ImportOptions{Cluster: "img", Images: []string{"myapp:dev"}, KeepTarball: true, Nodes: "agent:0"})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if len(again.Imported) != 0 || !slices.Equal(again.Kept, []string{"/k3d/images/myapp_dev.tar"}) {
		t.Errorf("keeping again: imported %v, kept %v; want nothing imported and the tarball kept", again.Imported, again.Kept)
	}
	if idx, _ := te.rt.File("k3d-img-agent-0", "/k3d/images/"+keptIndex); string(idx) != "myapp_dev.tar\ntools.tar\n" {
		t.Errorf("index after keeping again = %q", idx)
	}
	if entries, _ := os.ReadDir(os.TempDir()); slices.ContainsFunc(entries, func(e os.DirEntry) bool { return strings.HasPrefix(e.Name(), "k3d-keep-") }) {
		t.Error("a temporary k3d-keep-* directory was left behind")
	}

	if _, err := te.engine().CreateNodes(ctx, CreateNodeOptions{Name: "late", Cluster: "img", Role: RoleAgent, Replicas: 1}); err != nil {
		t.Fatalf("create node: %v", err)
	}
	if got, want := ctr.files["k3d-late-0"], []string{"/k3d/images/myapp_dev.tar", "/k3d/images/tools.tar"}; !slices.Equal(got, want) {
		t.Errorf("the new node imported %v, want %v", got, want)
	}
}

func TestKeepTarballNeedsAnImageVolume(t *testing.T) {
	te, _ := importEnv(t)
	ctx := ctxT(t)
	te.rt.AddImage("myapp:dev")
	// A cluster made by hand, without the image volume.
	lone := backends.NodeSpec{Name: "k3d-bare-server-0", Image: testImage,
		Labels: map[string]string{LabelApp: LabelAppValue, LabelCluster: "bare", LabelRole: "server"}}
	if _, err := te.rt.CreateNode(ctx, lone); err != nil {
		t.Fatal(err)
	}
	if err := te.rt.StartNode(ctx, lone.Name); err != nil {
		t.Fatal(err)
	}
	_, err := te.e.ImportImages(ctx, ImportOptions{Cluster: "bare", Images: []string{"myapp:dev"}, KeepTarball: true})
	if !backends.IsInvalid(err) || !strings.Contains(err.Error(), "--keep-tarball") {
		t.Errorf("want an error saying to leave --keep-tarball out, got %v", err)
	}
}
