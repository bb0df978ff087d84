package containerd

import (
	"slices"
	"strings"
	"testing"
)

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

// Rules are read back from `iptables -S` as arguments that delete exactly
// that rule, comments with spaces included.
func TestSplitRule(t *testing.T) {
	got, err := splitRule(`-m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD`)
	want := []string{"-m", "comment", "--comment", "CNI firewall plugin rules", "-j", "CNI-FORWARD"}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("splitRule = %q, %v; want %q", got, err, want)
	}
	if _, err := splitRule(`-m comment --comment "open`); err == nil {
		t.Error("an unbalanced quote is accepted")
	}
}

// deleteJumps removes the jumps to a chain and nothing else, however the
// chain's other rules move meanwhile: it deletes by rule, not by number.
// Runs on a chain of its own, where iptables is usable.
func TestDeleteJumpsKeepsOtherRules(t *testing.T) {
	ctx := t.Context()
	if _, err := iptables(ctx, "-S", "INPUT"); err != nil {
		t.Skipf("iptables is not usable here: %v", err)
	}
	from, target := "K3DTEST-FROM", "K3DTEST-TO"
	cleanup := func() {
		for _, c := range []string{from, target} {
			iptables(ctx, "-F", c)
			iptables(ctx, "-X", c)
		}
	}
	cleanup()
	t.Cleanup(cleanup)
	for _, args := range [][]string{
		{"-N", from}, {"-N", target},
		{"-A", from, "-i", "br-other", "-o", "br-other", "-j", "ACCEPT"},
		{"-A", from, "-m", "comment", "--comment", "a jump with spaces", "-j", target},
		{"-A", from, "-o", "br-other", "-j", "RETURN"},
		{"-A", from, "-j", target},
	} {
		if _, err := iptables(ctx, args...); err != nil {
			t.Fatal(err)
		}
	}
	if err := deleteJumps(ctx, "filter", from, target); err != nil {
		t.Fatal(err)
	}
	out, err := iptables(ctx, "-S", from)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "-j "+target) || !strings.Contains(out, "-i br-other -o br-other -j ACCEPT") || !strings.Contains(out, "-o br-other -j RETURN") {
		t.Errorf("after deleteJumps:\n%s\nwant both other rules and no jump to %s", out, target)
	}
}
