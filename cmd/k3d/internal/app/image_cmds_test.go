package app

import (
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
	c.rt.OnExec = func(node string, spec backends.ExecSpec) (int, error) {
		switch strings.Join(spec.Cmd, " ") {
		case "ctr -n k8s.io images ls -q":
			mu.Lock()
			defer mu.Unlock()
			if imported[node] > 0 {
				io.WriteString(spec.Stdout, "docker.io/library/myapp:dev\n")
			}
			return 0, nil
		case "ctr -n k8s.io images import -":
			if _, err := io.Copy(io.Discard, spec.Stdin); err != nil {
				return 1, nil
			}
			mu.Lock()
			imported[node]++
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
	for _, args := range [][]string{{"image", "load", "myapp:dev", "-c", "imgs"}, {"tools", "import-images", "myapp:dev", "--name", "imgs", "--no-remove"}} {
		code, _, stderr = c.run(args...)
		if code != 0 || !strings.Contains(stderr, "Skipped k3d-imgs-server-0, k3d-imgs-agent-0") {
			t.Errorf("k3d %s: want success saying both nodes were skipped, got exit %d:\n%s", strings.Join(args, " "), code, stderr)
		}
	}
	code, _, stderr = c.run("image", "import", "nosuch:1", "-c", "imgs")
	if line := errLine(t, stderr); code == 0 || !strings.Contains(line, "nosuch:1") {
		t.Errorf("unknown image: exit %d, %q", code, line)
	}
}
