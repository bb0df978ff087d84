package containerd

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// The CNI plugins put each node's rules in chains of its own, which DEL
// removes, and hook those into chains they share between all their networks
// (the firewall plugin's CNI-FORWARD and CNI-ADMIN, portmap's
// CNI-HOSTPORT-*), which DEL leaves. When the last k3d network goes, these
// are removed too, so that k3d leaves no iptables rule behind — but only
// when they hold nothing: another CNI user on the host (Podman, nerdctl, a
// Kubernetes node) may have its own rules in them.

// sharedChain is a chain the plugins share, what it may hold when unused,
// and the built-in chains that jump to it.
type sharedChain struct {
	table, chain string
	// idle are the rules (as `iptables -S` prints them, without "-A CHAIN")
	// the plugin puts in when it creates the chain.
	idle []string
	// from are the chains holding jumps to it.
	from []string
	// alsoIdle is a chain it jumps to, which must be idle too: the two go
	// together.
	alsoIdle string
}

var sharedChains = []sharedChain{
	// CNI-FORWARD first: it jumps to CNI-ADMIN, which cannot go before.
	{"filter", "CNI-FORWARD", []string{`-m comment --comment "CNI firewall plugin admin overrides" -j CNI-ADMIN`}, []string{"FORWARD"}, "CNI-ADMIN"},
	{"filter", "CNI-ADMIN", nil, nil, ""},
	{"nat", "CNI-HOSTPORT-DNAT", nil, []string{"PREROUTING", "OUTPUT"}, ""},
	{"nat", "CNI-HOSTPORT-MASQ", []string{`-m mark --mark 0x2000/0x2000 -j MASQUERADE`}, []string{"POSTROUTING"}, ""},
	{"nat", "CNI-HOSTPORT-SETMARK", []string{`-m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000`}, nil, ""},
}

// lastNetwork reports whether no network is left under the data root, in
// any namespace.
func (r *Runtime) lastNetwork() bool {
	files, err := filepath.Glob(r.root.shared("*", "networks", "*.conflist"))
	return err == nil && len(files) == 0
}

// removeSharedChains removes the plugins' shared chains that are idle. The
// CNI lock keeps the plugins from adding to them meanwhile. Best effort:
// a chain left is harmless.
func (r *Runtime) removeSharedChains(ctx context.Context) error {
	if _, err := exec.LookPath("iptables"); err != nil {
		return nil
	}
	unlock, err := r.lock(ctx, lockCNI)
	if err != nil {
		return err
	}
	defer unlock()
	// A CNI-DN-* chain is some container's published ports, hooked into
	// CNI-HOSTPORT-DNAT and using CNI-HOSTPORT-SETMARK.
	natChains, err := iptables(ctx, "-t", "nat", "-S")
	if err != nil {
		return err
	}
	if strings.Contains(natChains, "-N CNI-DN-") {
		return nil
	}
	var errs []string
	for _, c := range sharedChains {
		rules, err := iptables(ctx, "-t", c.table, "-S", c.chain)
		if err != nil {
			continue // not there
		}
		if !idle(rules, c) || referenced(ctx, c) {
			continue
		}
		if c.alsoIdle != "" {
			other, err := iptables(ctx, "-t", c.table, "-S", c.alsoIdle)
			if err == nil && !idle(other, sharedChain{chain: c.alsoIdle}) {
				continue
			}
		}
		for _, from := range c.from {
			if err := deleteJumps(ctx, c.table, from, c.chain); err != nil {
				errs = append(errs, err.Error())
			}
		}
		if _, err := iptables(ctx, "-t", c.table, "-F", c.chain); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if _, err := iptables(ctx, "-t", c.table, "-X", c.chain); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove the CNI plugins' iptables chains: %s", strings.Join(errs, "; "))
	}
	return nil
}

// idle reports whether rules (`iptables -S CHAIN`) hold only c's own.
func idle(rules string, c sharedChain) bool {
	sc := bufio.NewScanner(strings.NewReader(rules))
	for sc.Scan() {
		rule, ok := strings.CutPrefix(sc.Text(), "-A "+c.chain+" ")
		if ok && !slices.Contains(c.idle, rule) {
			return false
		}
	}
	return true
}

// referenced reports whether a chain other than the built-in ones in c.from
// (and the shared chains themselves) jumps to c.
func referenced(ctx context.Context, c sharedChain) bool {
	all, err := iptables(ctx, "-t", c.table, "-S")
	if err != nil {
		return true
	}
	sc := bufio.NewScanner(strings.NewReader(all))
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasSuffix(l, "-j "+c.chain) && !strings.Contains(l, "-j "+c.chain+" ") {
			continue
		}
		f := strings.Fields(l)
		if len(f) < 2 || slices.Contains(c.from, f[1]) || slices.ContainsFunc(sharedChains, func(s sharedChain) bool { return s.chain == f[1] }) {
			continue
		}
		return true
	}
	return false
}

// deleteJumps deletes the rules of chain from that jump to target. Each is
// deleted by its rule spec, never by its number: dockerd and netavark add
// and remove rules in FORWARD at any time, and a number read a moment ago
// can name another tool's rule by now (deleting Docker's ACCEPT for a new
// bridge cuts its containers off from each other).
func deleteJumps(ctx context.Context, table, from, target string) error {
	out, err := iptables(ctx, "-t", table, "-S", from)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		args, ok := strings.CutPrefix(sc.Text(), "-A "+from+" ")
		if !ok || (!strings.HasSuffix(args, "-j "+target) && !strings.Contains(args, "-j "+target+" ")) {
			continue
		}
		spec, err := splitRule(args)
		if err != nil {
			return fmt.Errorf("rule %q of %s: %w", args, from, err)
		}
		if _, err := iptables(ctx, append([]string{"-t", table, "-D", from}, spec...)...); err != nil {
			return err
		}
	}
	return nil
}

// splitRule splits a rule as `iptables -S` prints it into arguments: words,
// with double quotes around those that hold spaces (comments).
func splitRule(rule string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(rule); i++ {
		ch := rule[i]
		switch {
		case ch == '"':
			quoted = !quoted
			inWord = true
		case ch == '\\' && quoted && i+1 < len(rule):
			i++
			cur.WriteByte(rule[i])
		case ch == ' ' && !quoted:
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unbalanced quote")
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

// iptables runs iptables, waiting for the xtables lock as the plugins do.
func iptables(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "iptables", append([]string{"-w"}, args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
