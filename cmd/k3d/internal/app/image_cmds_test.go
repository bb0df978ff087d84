package app

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/k3d/k3d/backends"
)

// The three spellings import into every server and agent; a second import
// says the nodes were skipped; an unknown image is one line naming it.
func TestImageImportForms(t *testing.T) {
	c := newCLI(t)
	var mu sync.Mutex
	imported := map[string]int{}
	ids := map[string]string{} // node -> ID of myapp:dev when last imported
	c.rt.OnExec = func(node string, spec backends.ExecSpec) (int, error) {
		switch strings.Join(spec.Cmd, " ") {
		case "crictl images -o json":
			mu.Lock()
			defer mu.Unlock()
			if imported[node] == 0 {
				io.WriteString(spec.Stdout, `{"images":[]}`)
				return 0, nil
			}
			fmt.Fprintf(spec.Stdout, `{"images":[{"id":%q,"repoTags":["docker.io/library/myapp:dev"],"repoDigests":[],"size":"10"}]}`, ids[node])
			return 0, nil
		case "ctr -n k8s.io images import -":
			if _, err := io.Copy(io.Discard, spec.Stdin); err != nil {
				return 1, nil
			}
			img, _ := c.rt.ImageInspect(context.Background(), "myapp:dev")
			mu.Lock()
			imported[node]++
			ids[node] = img.ID
			mu.Unlock()
			return 0, nil
		}
		return 127, nil
	}
	c.rt.AddImage("myapp:dev")
	if code, _, stderr := c.run("create", "cluster", "imgs", "--image", testImage, "--agents", "1"); code != 0 {
		t.Fatalf("create: %s", stderr)
	}
	code, _, stderr := c.run("image", "import", "myapp:dev", "-c", "imgs")
	if code != 0 {
		t.Fatalf("image import: %s", stderr)
	}
	if imported["k3d-imgs-server-0"] != 1 || imported["k3d-imgs-agent-0"] != 1 || imported["k3d-imgs-serverlb"] != 0 {
		t.Errorf("imports per node: %v; want one into the server and the agent, none into the load balancer", imported)
	}
	if !strings.Contains(stderr, "Imported myapp:dev into k3d-imgs-server-0, k3d-imgs-agent-0") {
		t.Errorf("no summary line:\n%s", stderr)
	}
	for _, args := range [][]string{{"image", "load", "myapp:dev", "-c", "imgs"}, {"tools", "import-images", "myapp:dev", "--name", "imgs"}} {
		code, _, stderr = c.run(args...)
		if code != 0 || !strings.Contains(stderr, "Skipped k3d-imgs-server-0, k3d-imgs-agent-0") {
			t.Errorf("k3d %s: want success saying both nodes were skipped, got exit %d:\n%s", strings.Join(args, " "), code, stderr)
		}
	}
	// A rebuild under the same tag is imported again.
	c.rt.SetImageID("myapp:dev", "sha256:rebuilt")
	code, _, stderr = c.run("image", "import", "myapp:dev", "-c", "imgs")
	if code != 0 || !strings.Contains(stderr, "Imported myapp:dev into k3d-imgs-server-0, k3d-imgs-agent-0") {
		t.Errorf("import of a rebuilt image: exit %d, want both nodes imported:\n%s", code, stderr)
	}
	// The seed's --no-remove keeps the tarball, as --keep-tarball does,
	// and says where.
	code, _, stderr = c.run("tools", "import-images", "myapp:dev", "--name", "imgs", "--no-remove")
	if code != 0 || !strings.Contains(stderr, "Kept /k3d/images/myapp_dev.tar in volume k3d-imgs-images") {
		t.Errorf("--no-remove: exit %d, want the kept tarball named:\n%s", code, stderr)
	}
	code, _, stderr = c.run("image", "import", "nosuch:1", "-c", "imgs")
	if line := errLine(t, stderr); code == 0 || !strings.Contains(line, "nosuch:1") {
		t.Errorf("unknown image: exit %d, %q", code, line)
	}
}

// A node image the runtime lacks is pulled with its bytes shown; one that
// is unreachable fails in one line that says how to get it locally.
func TestCreatePullsAMissingNodeImage(t *testing.T) {
	c := newCLI(t)
	c.rt.AddRemoteImage("registry.example/k3s:pulled", 30e6)
	code, _, stderr := c.run("create", "cluster", "pulled", "--image", "registry.example/k3s:pulled")
	if code != 0 {
		t.Fatalf("create: %s", stderr)
	}
	if !strings.Contains(stderr, "Pulling image registry.example/k3s:pulled into fake: done in") || !strings.Contains(stderr, "30.0 MB") {
		t.Errorf("no pull progress with its size:\n%s", stderr)
	}
	code, _, stderr = c.run("create", "cluster", "nopull", "--image", "127.0.0.1:9/k3s:x")
	line := errLine(t, stderr)
	if code == 0 || !strings.Contains(line, "127.0.0.1:9/k3s:x") || !strings.Contains(line, "could not be reached") || !strings.Contains(line, "k3d image import") {
		t.Errorf("unreachable registry: exit %d, %q", code, line)
	}
}
