package containerd

import "testing"

// A shared chain counts as idle only when it holds nothing but what the
// plugin put there itself.
func TestIdleChain(t *testing.T) {
	fwd := sharedChains[0]
	if !idle("-N CNI-FORWARD\n-A CNI-FORWARD -m comment --comment \"CNI firewall plugin admin overrides\" -j CNI-ADMIN\n", fwd) {
		t.Errorf("CNI-FORWARD with only its admin jump is not idle")
	}
	if idle("-N CNI-FORWARD\n-A CNI-FORWARD -m comment --comment \"CNI firewall plugin admin overrides\" -j CNI-ADMIN\n-A CNI-FORWARD -s 10.88.0.2/32 -j ACCEPT\n", fwd) {
		t.Errorf("CNI-FORWARD with another user's rule is idle")
	}
}
