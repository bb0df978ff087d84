package k3s

import (
	"testing"
	"time"
)

// A node reports the memory its /proc/meminfo says it has, as the kubelet
// does through cadvisor: that is how a k3d memory limit becomes visible.
func TestNodeMemoryFromMeminfo(t *testing.T) {
	if got := parseMemTotal("MemTotal:        1048576 kB\nSwapTotal: 0 kB\n"); got != 1048576 {
		t.Fatalf("parseMemTotal = %d, want 1048576", got)
	}
	if got := parseMemTotal("SwapTotal: 0 kB\n"); got != 0 {
		t.Fatalf("parseMemTotal without MemTotal = %d, want 0", got)
	}
	n := toNode(NodeRecord{Name: "agent-0", MemoryKB: 524288, HeartbeatAt: time.Now()}, time.Now(), "1")
	if got := n.Status.Capacity["memory"]; got != "524288Ki" {
		t.Errorf("capacity memory = %q, want 524288Ki", got)
	}
	if got := n.Status.Allocatable["memory"]; got != "421888Ki" {
		t.Errorf("allocatable memory = %q, want 421888Ki (capacity less the 100Mi eviction threshold)", got)
	}
	if got := n.Status.Capacity["cpu"]; got == "" {
		t.Errorf("capacity has no cpu")
	}
}
