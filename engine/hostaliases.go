package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine/kubeapi"
)

// HostAlias is an /etc/hosts entry every node of a cluster gets, and that
// CoreDNS answers to pods (k3d v5's --host-alias IP:NAME[,NAME...]).
type HostAlias struct {
	IP        string
	Hostnames []string
}

// LabelHostAliases records a cluster's host aliases on its k3s nodes
// ("IP=NAME,NAME;IP=NAME": '=' since an IPv6 address holds ':'), so that nodes added later get them and a
// restarted cluster's CoreDNS gets them back.
const LabelHostAliases = "k3d.cluster.hostAliases"

// ParseHostAlias reads IP:NAME[,NAME...]. An IPv6 address is bracketed or
// taken up to the last colon.
func ParseHostAlias(s string) (HostAlias, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return HostAlias{}, invalidf("--host-alias %q: give IP:NAME[,NAME...], e.g. 192.168.1.10:db.local", s)
	}
	a := HostAlias{IP: strings.Trim(s[:i], "[]"), Hostnames: strings.Split(s[i+1:], ",")}
	return a, a.validate("--host-alias " + s)
}

func (a HostAlias) validate(what string) error {
	if _, err := netip.ParseAddr(a.IP); err != nil {
		return invalidf("%s: %q is not an IP address", what, a.IP)
	}
	if len(a.Hostnames) == 0 {
		return invalidf("%s: no host name given", what)
	}
	for _, h := range a.Hostnames {
		if !dns1123Subdomain.MatchString(h) {
			return invalidf("%s: %q is not a host name (letters, digits, '-' and '.')", what, h)
		}
	}
	return nil
}

func (a HostAlias) entries() []backends.HostEntry {
	out := make([]backends.HostEntry, len(a.Hostnames))
	for i, h := range a.Hostnames {
		out[i] = backends.HostEntry{Hostname: h, IP: a.IP}
	}
	return out
}

func encodeHostAliases(as []HostAlias) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = a.IP + "=" + strings.Join(a.Hostnames, ",")
	}
	return strings.Join(parts, ";")
}

func decodeHostAliases(s string) []HostAlias {
	var out []HostAlias
	for _, p := range strings.Split(s, ";") {
		ip, names, ok := strings.Cut(p, "=")
		if ok && ip != "" && names != "" {
			out = append(out, HostAlias{IP: ip, Hostnames: strings.Split(names, ",")})
		}
	}
	return out
}

// nodeHostsLines are the lines k3d keeps in CoreDNS's NodeHosts:
// host.k3d.internal at the gateway, then the aliases.
func nodeHostsLines(gateway string, aliases []HostAlias) []string {
	var lines []string
	if gateway != "" {
		lines = append(lines, gateway+" "+hostGatewayName)
	}
	for _, a := range aliases {
		lines = append(lines, a.IP+" "+strings.Join(a.Hostnames, " "))
	}
	return lines
}

// withNodeHosts puts lines into a NodeHosts file, replacing any earlier
// line for the same names, and keeps every other line (k3s's node lines).
func withNodeHosts(cur string, lines []string) string {
	names := map[string]bool{}
	for _, l := range lines {
		for _, n := range strings.Fields(l)[1:] {
			names[n] = true
		}
	}
	var out []string
	for _, l := range strings.Split(cur, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || slices.ContainsFunc(f[1:], func(n string) bool { return names[n] }) {
			continue
		}
		out = append(out, l)
	}
	out = append(lines, out...)
	return strings.Join(out, "\n") + "\n"
}

// injectNodeHosts adds host.k3d.internal and the host aliases to CoreDNS's
// NodeHosts, so pods resolve them as nodes do, as k3d v5 does after
// create and start. CoreDNS's ConfigMap is k3s's and may not exist yet;
// without it the names are missing in pods only, which is a note.
func (e *Engine) injectNodeHosts(ctx context.Context, cluster string, kubeconfig []byte, gateway string, aliases []HostAlias) {
	lines := nodeHostsLines(gateway, aliases)
	if len(lines) == 0 {
		return
	}
	err := e.step("Adding host entries to CoreDNS", func() error {
		c, err := kubeapi.New(kubeconfig)
		if err != nil {
			return err
		}
		return retryNotFound(ctx, corednsWait, func() error {
			return c.UpdateConfigMap(ctx, "kube-system", "coredns", func(data map[string]string) bool {
				next := withNodeHosts(data["NodeHosts"], lines)
				if next == data["NodeHosts"] {
					return false
				}
				data["NodeHosts"] = next
				return true
			})
		})
	})
	if err != nil {
		e.note(fmt.Sprintf("cluster %s: pods will not resolve %s: could not update CoreDNS's NodeHosts: %v", cluster, strings.Join(hostNames(gateway, aliases), ", "), err))
	}
}

func hostNames(gateway string, aliases []HostAlias) []string {
	var out []string
	if gateway != "" {
		out = append(out, hostGatewayName)
	}
	for _, a := range aliases {
		out = append(out, a.Hostnames...)
	}
	return out
}

// corednsWait bounds the wait for k3s to create CoreDNS's ConfigMap.
const corednsWait = time.Minute

// retryNotFound runs fn again while it reports a missing object, for at
// most wait.
func retryNotFound(ctx context.Context, wait time.Duration, fn func() error) error {
	deadline := time.Now().Add(wait)
	for {
		err := fn()
		if err == nil || !errors.Is(err, kubeapi.ErrNotFound) || time.Now().After(deadline) {
			return err
		}
		if serr := sleepCtx(ctx, 500*time.Millisecond); serr != nil {
			return err
		}
	}
}

// clusterHostAliases are the host aliases a cluster was created with, as
// its servers' label records them.
func clusterHostAliases(c Cluster) []HostAlias {
	for _, n := range c.Nodes {
		if v := n.Labels[LabelHostAliases]; v != "" && n.Role.k3sNode() {
			return decodeHostAliases(v)
		}
	}
	return nil
}

// clusterGateway is the cluster network's gateway, where host.k3d.internal
// points; "" when the runtime reports none.
func (e *Engine) clusterGateway(ctx context.Context, c Cluster) string {
	if c.Network == "" {
		return ""
	}
	n, err := e.rt.InspectNetwork(ctx, c.Network)
	if err != nil {
		return ""
	}
	return n.Gateway
}
