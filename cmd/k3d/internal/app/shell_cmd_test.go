package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// `k3d shell NAME -- CMD` runs CMD with KUBECONFIG set to a private file
// that holds that cluster only, and removes the file when CMD ends.
func TestShellRunsACommandWithTheClustersOwnKubeconfig(t *testing.T) {
	c := newCLI(t)
	c.env["PATH"] = os.Getenv("PATH")
	for _, n := range []string{"dev", "other"} {
		if code, _, stderr := c.run("create", "cluster", n, "-i", testImage); code != 0 {
			t.Fatalf("create %s: %s", n, stderr)
		}
	}
	// The user's own kubeconfig (now holding both clusters) must not leak in.
	c.env["KUBECONFIG"] = filepath.Join(c.home, ".kube", "config")

	code, out, stderr := c.run("shell", "dev", "--", "sh", "-c", `echo "$KUBECONFIG"; ls -ln "$KUBECONFIG"; cat "$KUBECONFIG"`)
	if code != 0 {
		t.Fatalf("shell: exit %d: %s", code, stderr)
	}
	path, rest, _ := strings.Cut(out, "\n")
	perms, kc, _ := strings.Cut(rest, "\n")
	if path == c.env["KUBECONFIG"] || !filepath.IsAbs(path) {
		t.Errorf("KUBECONFIG in the shell is %q", path)
	}
	if !strings.HasPrefix(perms, "-rw-------") {
		t.Errorf("kubeconfig mode: %q, want -rw-------", perms)
	}
	cfg, err := clientcmd.Load([]byte(kc))
	if err != nil {
		t.Fatalf("the shell's kubeconfig: %v\n%s", err, kc)
	}
	if cfg.CurrentContext != "k3d-dev" || len(cfg.Clusters) != 1 || cfg.Clusters["k3d-dev"] == nil {
		t.Errorf("the shell's kubeconfig: current %q, clusters %v", cfg.CurrentContext, keysOf(cfg.Clusters))
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("kubeconfig %s still there after the shell ended (%v)", path, err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Errorf("temp dir %s still there after the shell ended (%v)", filepath.Dir(path), err)
	}
}

func TestShellExitCodeShellAndErrors(t *testing.T) {
	c := newCLI(t)
	c.env["PATH"] = os.Getenv("PATH")
	if code, _, stderr := c.run("create", "cluster", "dev", "-i", testImage, "--kubeconfig-update-default=false"); code != 0 {
		t.Fatalf("create: %s", stderr)
	}

	// The command's exit code is k3d's, with no error line of k3d's own.
	if code, _, stderr := c.run("shell", "dev", "--", "sh", "-c", "exit 7"); code != 7 || strings.Contains(stderr, "k3d: ") {
		t.Errorf("exit 7: k3d exited %d, stderr %q", code, stderr)
	}

	// --command goes through $SHELL, falling back to /bin/sh.
	c.env["SHELL"] = "/bin/sh"
	if code, out, stderr := c.run("shell", "dev", "--command", `echo "in $KUBECONFIG"`); code != 0 || !strings.HasPrefix(out, "in /") {
		t.Errorf("--command: %d %q %q", code, out, stderr)
	}
	delete(c.env, "SHELL")
	if code, out, stderr := c.run("shell", "dev", "--command", "echo fallback"); code != 0 || out != "fallback\n" {
		t.Errorf("--command without SHELL: %d %q %q", code, out, stderr)
	}
	// An interactive shell reads its commands from stdin.
	if code, out, stderr := c.runStdin("echo from-stdin; exit 3\n", "shell", "dev"); code != 3 || out != "from-stdin\n" {
		t.Errorf("interactive shell: %d %q %q", code, out, stderr)
	}

	code, _, stderr := c.run("shell", "nope")
	if line := errLine(t, stderr); code != 1 || line != "k3d: shell: cluster nope not found: list clusters with `k3d cluster list`" {
		t.Errorf("unknown cluster: %d %q", code, stderr)
	}
	if strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("unknown cluster: more than one line: %q", stderr)
	}
	if code, _, stderr := c.run("shell", "dev", "--command", "true", "--", "true"); code == 0 || !strings.Contains(errLine(t, stderr), "not both") {
		t.Errorf("--command and --: %d %q", code, stderr)
	}
	if code, _, stderr := c.run("shell", "dev", "--shell", "/no/such/shell"); code != 1 || !strings.Contains(errLine(t, stderr), "--shell") {
		t.Errorf("missing shell: %d %q", code, stderr)
	}
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
