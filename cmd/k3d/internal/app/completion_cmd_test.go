package app

import (
	"strings"
	"testing"
)

// A shell asking for completions gets k3d's own subcommands and flags back,
// one per line, and nothing is run.
func TestCompletionAnswersTheShell(t *testing.T) {
	c := newCLI(t)
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"k3d cre", []string{"create"}},
		{"k3d create cluster --ag", []string{"--agents", "--agents-memory"}},
		{"k3d cluster ", []string{"create", "delete", "list"}},
	} {
		assertCompletes(t, c, tc.line, tc.want)
	}
	if n := c.rt.Calls("CreateNode"); n != 0 {
		t.Errorf("completing created %d nodes", n)
	}
}

// `source <(k3d completion bash)` needs the script itself on stdout.
func TestCompletionPrintsTheScript(t *testing.T) {
	c := newCLI(t)
	for shell, want := range map[string]string{"bash": "complete ", "zsh": "complete ", "fish": "function __complete_"} {
		code, out, stderr := c.run("completion", shell)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("k3d completion %s: exit %d, stdout %q, stderr %q; want a script containing %q", shell, code, out, stderr, want)
		}
	}
	if code, _, stderr := c.run("completion", "tcsh"); code == 0 || !strings.Contains(stderr, "tcsh") {
		t.Errorf("k3d completion tcsh: exit %d, stderr %q; want an error naming tcsh", code, stderr)
	}
}

// Cluster and node names complete from the runtime, for arguments and for
// --cluster alike.
func TestCompletionNamesFromTheRuntime(t *testing.T) {
	c := newCLI(t)
	if code, _, stderr := c.run("create", "cluster", "comp", "--agents", "1", "-i", testImage); code != 0 {
		t.Fatalf("create cluster: %s", stderr)
	}
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"k3d delete cluster ", []string{"comp"}},
		{"k3d cluster stop co", []string{"comp"}},
		{"k3d kubeconfig get ", []string{"comp"}},
		{"k3d shell ", []string{"comp"}},
		{"k3d node create extra --cluster ", []string{"comp"}},
		{"k3d get node ", []string{"k3d-comp-server-0", "k3d-comp-agent-0", "k3d-comp-serverlb"}},
		{"k3d node stop k3d-comp-a", []string{"k3d-comp-agent-0"}},
	} {
		assertCompletes(t, c, tc.line, tc.want)
	}
}

// --runtime comes before the subcommand, where the library does not look.
func TestCompletionReadsTheRuntimeFlag(t *testing.T) {
	for line, want := range map[string]string{
		"k3d --runtime podman get node ":   "podman",
		"k3d --runtime=containerd node ls": "containerd",
		"k3d get node ":                    "",
		"k3d --runtime":                    "",
	} {
		if got := runtimeFlag(strings.Fields(line)); got != want {
			t.Errorf("%q: runtime %q, want %q", line, got, want)
		}
	}
}

// assertCompletes asks k3d to complete line, as a shell does, and checks that
// every word of want is offered and nothing goes to stderr.
func assertCompletes(t *testing.T, c *cli, line string, want []string) {
	t.Helper()
	// k3d sees the request through its Env; the library reads the process's.
	c.env["COMP_LINE"] = line
	t.Setenv("COMP_LINE", line)
	t.Setenv("COMP_POINT", "")
	code, out, stderr := c.run()
	if code != 0 {
		t.Fatalf("%q: exit %d, stderr %q", line, code, stderr)
	}
	got := strings.Fields(out)
	for _, w := range want {
		if !contains(got, w) {
			t.Errorf("%q: completions %v lack %q", line, got, w)
		}
	}
	if stderr != "" {
		t.Errorf("%q: completion wrote to stderr: %q", line, stderr)
	}
}
