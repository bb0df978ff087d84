package containerd

import (
	"testing"

	"github.com/containerd/containerd/containers"
)

// Labels come back as given: containerd's restart labels hidden, and empty
// values (which containerd cannot store) restored.
func TestNodeLabels(t *testing.T) {
	given := map[string]string{"app": "k3d", "k3d.role": "server", "k3d.empty": ""}
	stored := copyLabels(given)
	empty := splitEmptyLabels(stored)
	stored[labelRestartStatus] = desireRunning
	got := nodeLabels(nodeRecord{c: containers.Container{Labels: stored}, meta: nodeMeta{EmptyLabels: empty}})
	if len(got) != len(given) {
		t.Errorf("labels %v, want %v", got, given)
	}
	for k, v := range given {
		if gv, ok := got[k]; !ok || gv != v {
			t.Errorf("label %q: %q (present %t), want %q", k, gv, ok, v)
		}
	}
	if !matches(got, map[string]string{"k3d.empty": "", "app": "k3d"}) || matches(got, map[string]string{"k3d.role": "agent"}) || matches(got, map[string]string{"absent": ""}) {
		t.Errorf("selectors do not match as the contract says")
	}
}
