package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine/imagebuild"
)

// importImageSpec is a small image of a few MB. Its content is fixed, so
// loading it again in a later run replaces nothing and leaves no dangling
// image behind (the contract has no image delete to clean up with).
func importImageSpec(ref string, size int) imagebuild.Spec {
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, uint64(size)))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	return imagebuild.Spec{Ref: ref, Files: []imagebuild.File{{Path: "/data.bin", Mode: 0o644, Data: data}}, Entrypoint: []string{"/nothing"}}
}

// nodeImageRefs is what `ctr -n k8s.io images ls -q` lists in a node, asked
// through the contract.
func nodeImageRefs(ctx context.Context, t testing.TB, rt backends.Runtime, node string) []string {
	t.Helper()
	var out, errOut bytes.Buffer
	code, err := rt.Exec(ctx, node, backends.ExecSpec{Cmd: []string{"ctr", "-n", "k8s.io", "images", "ls", "-q"}, Stdout: &out, Stderr: &errOut})
	if err != nil || code != 0 {
		t.Fatalf("ctr images ls in %s: exit %d, %v: %s", node, code, err, errOut.String())
	}
	return strings.Fields(out.String())
}

// nodeImageIDs is what `crictl images -o json` lists in a node: image ID
// by tag, asked through the contract.
func nodeImageIDs(ctx context.Context, t testing.TB, rt backends.Runtime, node string) map[string]string {
	t.Helper()
	var out, errOut bytes.Buffer
	code, err := rt.Exec(ctx, node, backends.ExecSpec{Cmd: []string{"crictl", "images", "-o", "json"}, Stdout: &out, Stderr: &errOut})
	if err != nil || code != 0 {
		t.Fatalf("crictl images in %s: exit %d, %v: %s", node, code, err, errOut.String())
	}
	var list struct {
		Images []struct {
			ID       string   `json:"id"`
			RepoTags []string `json:"repoTags"`
		} `json:"images"`
	}
	if err := json.Unmarshal(out.Bytes(), &list); err != nil {
		t.Fatalf("crictl images -o json in %s: %v\n%s", node, err, out.String())
	}
	ids := map[string]string{}
	for _, img := range list.Images {
		for _, tag := range img.RepoTags {
			ids[tag] = img.ID
		}
	}
	return ids
}

// loadSpec builds an image and loads it into the runtime.
func loadSpec(ctx context.Context, t testing.TB, r *runtimeEnv, spec imagebuild.Spec) {
	t.Helper()
	var archive bytes.Buffer
	if err := imagebuild.WriteArchive(&archive, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := r.rt.ImageLoad(ctx, &archive); err != nil {
		t.Fatalf("load %s into %s: %v", spec.Ref, r.name, err)
	}
}

// imageID is the runtime's ID of ref.
func imageID(ctx context.Context, t testing.TB, r *runtimeEnv, ref string) string {
	t.Helper()
	img, err := r.rt.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatalf("inspect %s in %s: %v", ref, r.name, err)
	}
	return img.ID
}

// runStdin runs k3d with stdin.
func (s *session) runStdin(stdin io.Reader, args ...string) k3dRun {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, suite.k3d, args...)
	cmd.Env = s.environ(nil)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	res := k3dRun{args: args, stdout: stdout.String(), stderr: stderr.String(), duration: time.Since(start)}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		s.t.Fatalf("run k3d %s: %v", strings.Join(args, " "), err)
	}
	if exitErr != nil {
		res.code = exitErr.ExitCode()
	}
	return res
}

// Images go into every server and agent of a cluster from the cluster's own
// runtime, from a tarball and from stdin; a second import skips; a stopped
// node fails by name while the others still get the image.
func TestImageImport(t *testing.T) {
	t.Parallel()
	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		ctx := context.Background()
		s := newSession(t, r)
		const ref = "k3d-e2e-import:v1"
		loadImportImage(ctx, t, r, ref, 3<<20)
		name := clusterName("img")
		s.createCluster(name, "--agents", "2")
		byRole := clusterNodes(ctx, t, r.rt, name)
		k3sNodes := append(nodeNames(byRole["server"]), nodeNames(byRole["agent"])...)
		if len(k3sNodes) != 3 {
			t.Fatalf("want 1 server and 2 agents, got %v", k3sNodes)
		}
		holders := func(want string) []string {
			var out []string
			for _, n := range k3sNodes {
				if slices.Contains(nodeImageRefs(ctx, t, r.rt, n), want) {
					out = append(out, n)
				}
			}
			return out
		}

		res := s.must("image", "import", ref, "-c", name)
		if got := holders("docker.io/library/" + ref); !slices.Equal(got, k3sNodes) {
			t.Errorf("after import, nodes holding %s: %v, want %v\n%s", ref, got, k3sNodes, res)
		}

		again := s.must("image", "load", ref, "-c", name)
		if !strings.Contains(again.stderr, "Skipped") || strings.Contains(again.stderr, "Imported") {
			t.Errorf("re-import does not say every node was skipped:\n%s", again)
		}

		// Skipping goes by image ID: a rebuild under the same tag is
		// imported again, into the nodes that hold the old build only.
		const rebuilt = "k3d-e2e-import:rebuilt"
		loadSpec(ctx, t, r, importImageSpec(rebuilt, 1<<20))
		s.must("image", "import", rebuilt, "-c", name)
		loadSpec(ctx, t, r, importImageSpec(rebuilt, 1<<20+512))
		newID := imageID(ctx, t, r, rebuilt)
		first := s.must("image", "import", rebuilt, "-c", name, "--nodes", "agent:0")
		if !strings.Contains(first.stderr, "Imported "+rebuilt+" into "+k3sNodes[1]) {
			t.Errorf("a rebuild under the same tag was not imported into %s:\n%s", k3sNodes[1], first)
		}
		rest := s.must("image", "import", rebuilt, "-c", name)
		if !strings.Contains(rest.stderr, "Imported "+rebuilt+" into "+k3sNodes[0]+", "+k3sNodes[2]) || !strings.Contains(rest.stderr, "Skipped "+k3sNodes[1]+":") {
			t.Errorf("want the rebuild imported into %s and %s, and %s (holding it) skipped:\n%s", k3sNodes[0], k3sNodes[2], k3sNodes[1], rest)
		}
		for _, n := range k3sNodes {
			if got := nodeImageIDs(ctx, t, r.rt, n)["docker.io/library/"+rebuilt]; got != newID {
				t.Errorf("node %s holds %s as %s, want the rebuild %s", n, rebuilt, got, newID)
			}
		}

		dir := t.TempDir()
		file := filepath.Join(dir, "file.tar")
		f, err := os.Create(file)
		if err != nil {
			t.Fatal(err)
		}
		err = imagebuild.WriteArchive(f, importImageSpec("k3d-e2e-import:file", 1<<20))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		s.must("image", "import", file, "-c", name)
		if got := holders("docker.io/library/k3d-e2e-import:file"); !slices.Equal(got, k3sNodes) {
			t.Errorf("after importing %s, nodes holding it: %v, want %v", file, got, k3sNodes)
		}

		var stdin bytes.Buffer
		if err := imagebuild.WriteArchive(&stdin, importImageSpec("k3d-e2e-import:stdin", 1<<20)); err != nil {
			t.Fatal(err)
		}
		if res := s.runStdin(&stdin, "image", "import", "-", "-c", name, "--nodes", "agent:*"); res.code != 0 {
			t.Fatalf("import from stdin: %s", res)
		}
		if got, want := holders("docker.io/library/k3d-e2e-import:stdin"), nodeNames(byRole["agent"]); !slices.Equal(got, want) {
			t.Errorf("after importing stdin into agent:*, nodes holding it: %v, want %v", got, want)
		}

		// --keep-tarball leaves the stream in the image volume, and a node
		// added later imports it from there.
		kept := s.must("image", "import", ref, "-c", name, "--keep-tarball")
		const keptPath = "/k3d/images/k3d-e2e-import_v1.tar"
		if !strings.Contains(kept.stderr, "Kept "+keptPath+" in volume k3d-"+name+"-images") {
			t.Errorf("--keep-tarball does not say where the tarball is:\n%s", kept)
		}
		for _, n := range k3sNodes {
			rc, err := r.rt.ReadFile(ctx, n, keptPath)
			if err != nil {
				t.Errorf("%s in node %s: %v", keptPath, n, err)
				continue
			}
			size, _ := io.Copy(io.Discard, rc)
			rc.Close()
			if size < 3<<20 {
				t.Errorf("%s in node %s holds %d bytes, want the whole image", keptPath, n, size)
			}
		}
		late := "late" + randomHex(2)
		s.must("create", "node", late, "--cluster", name)
		if refs := nodeImageRefs(ctx, t, r.rt, "k3d-"+late+"-0"); !slices.Contains(refs, "docker.io/library/"+ref) {
			t.Errorf("node k3d-%s-0, added after --keep-tarball, lacks %s: %v", late, ref, refs)
		}

		// A stopped node: the import names it and the others still finish.
		stopped := k3sNodes[2]
		if err := r.rt.StopNode(ctx, stopped, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		lateTar := filepath.Join(dir, "late.tar")
		lf, err := os.Create(lateTar)
		if err != nil {
			t.Fatal(err)
		}
		err = imagebuild.WriteArchive(lf, importImageSpec("k3d-e2e-import:late", 1<<20))
		if cerr := lf.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		fail := s.run("image", "import", lateTar, "-c", name)
		line, _ := oneErrorLine(fail.stderr)
		if fail.code == 0 || !strings.Contains(line, stopped) || !strings.Contains(line, "not running") {
			t.Errorf("import with %s stopped: want an error naming it as not running:\n%s", stopped, fail)
		}
		for _, n := range k3sNodes[:2] {
			if !slices.Contains(nodeImageRefs(ctx, t, r.rt, n), "docker.io/library/k3d-e2e-import:late") {
				t.Errorf("node %s did not get the image while %s was stopped", n, stopped)
			}
		}

		t.Run("from another runtime", func(t *testing.T) {
			other, otherName := openOtherRuntime(ctx, t, r.name)
			if other == nil {
				t.Skip(otherName)
			}
			s := s.with(t)
			const xref = "k3d-e2e-import:cross"
			var a bytes.Buffer
			if err := imagebuild.WriteArchive(&a, importImageSpec(xref, 1<<20)); err != nil {
				t.Fatal(err)
			}
			if _, err := other.ImageLoad(ctx, &a); err != nil {
				t.Fatalf("load %s into %s: %v", xref, otherName, err)
			}
			s.must("image", "import", xref, "-c", name, "--from", otherName, "--nodes", "server:0")
			if !slices.Contains(nodeImageRefs(ctx, t, r.rt, k3sNodes[0]), "docker.io/library/"+xref) {
				t.Errorf("%s lacks %s imported from %s: it lists %v", k3sNodes[0], xref, otherName, nodeImageRefs(ctx, t, r.rt, k3sNodes[0]))
			}
		})
	})
}

// openOtherRuntime opens a reachable runtime other than this one, or returns
// nil and why there is none.
func openOtherRuntime(ctx context.Context, t *testing.T, this string) (*backends.Client, string) {
	var why []string
	for _, name := range []string{"docker", "podman", "containerd"} {
		if name == this {
			continue
		}
		path := filepath.Join(suite.binDir, "k3d-runtime-"+name)
		if _, err := os.Stat(path); err != nil {
			why = append(why, name+": no backend in "+suite.binDir)
			continue
		}
		c, err := backends.OpenPath(ctx, path, backends.OpenOptions{Stderr: io.Discard})
		if err != nil {
			why = append(why, name+": "+err.Error())
			continue
		}
		if _, err := c.Info(ctx); err != nil {
			c.Close()
			why = append(why, name+": unreachable")
			continue
		}
		t.Cleanup(func() { c.Close() })
		return c, name
	}
	return nil, "no second runtime to import from (" + strings.Join(why, "; ") + ")"
}

// --no-image-volume makes no shared volume and mounts none, and image import
// still reaches every node; only --keep-tarball, which needs the volume, is
// refused with a reason.
func TestNoImageVolume(t *testing.T) {
	t.Parallel()
	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		ctx := context.Background()
		s := newSession(t, r)
		ref := "k3d-e2e-novol:" + r.name
		loadImportImage(ctx, t, r, ref, 1<<20)
		name := clusterName("novol")
		s.createCluster(name, "--agents", "1", "--no-image-volume")
		if _, err := r.rt.InspectVolume(ctx, "k3d-"+name+"-images"); !backends.IsNotFound(err) {
			t.Errorf("volume k3d-%s-images: %v, want none", name, err)
		}
		byRole := clusterNodes(ctx, t, r.rt, name)
		k3sNodes := append(nodeNames(byRole["server"]), nodeNames(byRole["agent"])...)
		for _, n := range append(byRole["server"], byRole["agent"]...) {
			for _, m := range n.Mounts {
				if m.Target == "/k3d/images" {
					t.Errorf("%s mounts %s at /k3d/images despite --no-image-volume", n.Name, m.Source)
				}
			}
		}
		res := s.must("image", "import", ref, "-c", name)
		for _, n := range k3sNodes {
			if !slices.Contains(nodeImageRefs(ctx, t, r.rt, n), "docker.io/library/"+ref) {
				t.Errorf("after import, %s lacks %s\n%s", n, ref, res)
			}
		}
		if kept := s.run("image", "import", ref, "-c", name, "--keep-tarball"); kept.code == 0 || !strings.Contains(kept.stderr, "no image volume") {
			t.Errorf("--keep-tarball without an image volume: want a refusal naming it, got %s", kept)
		}
		s.must("delete", "cluster", name)
	})
}

// loadImportImage builds an image of about size bytes and loads it into the
// runtime, for a cluster to import from.
func loadImportImage(ctx context.Context, t *testing.T, r *runtimeEnv, ref string, size int) {
	t.Helper()
	var archive bytes.Buffer
	if err := imagebuild.WriteArchive(&archive, importImageSpec(ref, size)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.rt.ImageLoad(ctx, &archive); err != nil {
		t.Fatalf("load %s into %s: %v", ref, r.name, err)
	}
}
