package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// On a host that cannot give k3s nodes everything (our build machines: cgroup
// v1, no CAP_SYS_RESOURCE), the other end-to-end tests pass only because k3d
// adapts the nodes. With the adaptations turned off, create fails with one
// line that names the cause and the flag that fixes it, and leaves nothing.
func TestHostAdaptationsOff(t *testing.T) {
	t.Parallel()
	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		s := newSession(t, r)
		var report struct {
			Adaptations []struct {
				ID      string `json:"id"`
				Message string `json:"message"`
			} `json:"adaptations"`
		}
		info := s.must("runtime-info", "-o", "json")
		if err := json.Unmarshal([]byte(info.stdout), &report); err != nil {
			t.Fatalf("runtime-info -o json: %v\n%s", err, info.stdout)
		}
		var ids []string
		for _, a := range report.Adaptations {
			if a.ID != "privileges" { // the backend's own, not switchable
				ids = append(ids, a.ID)
			}
		}
		// Without cgroup v1 the double, like k3s, starts and only its pods
		// fail: create has nothing to wait for that would show it.
		if !strings.Contains(strings.Join(ids, ","), "cgroupv1") {
			t.Skipf("%s on this host needs no cgroup v1 adaptation (adaptations: %v): nothing makes create fail here", r.name, ids)
		}

		name := clusterName("noadapt")
		s.deleteOnCleanup(name)
		res := s.run("create", "cluster", name, "--image", r.image, "--host-adapt", "off", "--timeout", "2m")
		if res.code == 0 {
			t.Fatalf("create with --host-adapt off succeeded on a host that needs %v: %s", ids, res)
		}
		var errLine string
		for _, l := range strings.Split(res.stderr, "\n") {
			if strings.HasPrefix(l, "k3d: ") {
				errLine = l
				break
			}
		}
		for _, want := range append(ids, "--host-adapt", "fail-cgroupv1=false", "server-0") {
			if !strings.Contains(errLine, want) {
				t.Errorf("error does not name %q: %q", want, errLine)
			}
		}
		if !strings.Contains(res.stderr, "cgroup v1") {
			t.Errorf("the node's last log lines do not show kubelet's cgroup v1 refusal:\n%s", res.stderr)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if left, err := leftovers(ctx, r.rt, name); err != nil || len(left) > 0 {
			t.Errorf("failed create left %v (%v)", left, err)
		}
	})
}
