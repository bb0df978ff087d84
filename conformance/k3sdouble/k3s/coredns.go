package k3s

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"
)

// corefile is k3s's CoreDNS configuration: NodeHosts, a key of the same
// ConfigMap, is served as a hosts file before anything is forwarded.
const corefile = `.:53 {
    errors
    health
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
      pods insecure
      fallthrough in-addr.arpa ip6.arpa
    }
    hosts /etc/coredns/NodeHosts {
      ttl 60
      reload 15s
      fallthrough
    }
    prometheus :9153
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
    loadbalance
}
`

// errStale is a lost race with another writer of the ConfigMap.
var errStale = errors.New("coredns ConfigMap changed meanwhile")

// syncCoreDNS keeps kube-system/coredns as k3s does: the ConfigMap exists
// once a server runs, and its NodeHosts has one "IP NAME" line per node,
// updated as nodes come, move and go. Every other line (what k3d adds for
// host.k3d.internal and --host-alias) is kept as it is, which is why those
// entries survive in a real cluster until k3s re-applies its manifest.
func syncCoreDNS(ctx context.Context, cms *configMapStore, reg *registry, p *peers, now time.Time) error {
	nodes := reg.all()
	cur, ok := cms.get("kube-system", "coredns")
	if !ok || cur.Deleted {
		rec, err := cms.create(ConfigMapRecord{Namespace: "kube-system", Name: "coredns",
			Labels: map[string]string{"objectset.rio.cattle.io/hash": "k3s-coredns"},
			Data:   map[string]string{"Corefile": corefile, "NodeHosts": nodeHosts("", nodes)}}, now)
		if errors.Is(err, errConfigMapExists) {
			return nil // another writer made it; the next pass updates it
		}
		if err == nil {
			p.pushConfigMaps(ctx, rec)
		}
		return err
	}
	want := nodeHosts(cur.Data["NodeHosts"], nodes)
	if want == cur.Data["NodeHosts"] {
		return nil
	}
	next := cur
	next.Data = map[string]string{}
	for k, v := range cur.Data {
		next.Data[k] = v
	}
	next.Data["NodeHosts"] = want
	rec, err := cms.replace(next, func(c ConfigMapRecord) error {
		if c.ResourceVersion != cur.ResourceVersion {
			return errStale
		}
		return nil
	}, now)
	if errors.Is(err, errStale) {
		return nil
	}
	if err == nil {
		p.pushConfigMaps(ctx, rec)
	}
	return err
}

// nodeHosts rewrites a NodeHosts file: lines naming a node the cluster
// knows (or knew) are replaced by the live nodes' addresses, sorted by name;
// the other lines come first, unchanged and in their order.
func nodeHosts(cur string, nodes []NodeRecord) string {
	known := map[string]bool{}
	for _, n := range nodes {
		known[n.Name] = true
	}
	var out []string
	for _, line := range strings.Split(cur, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) == 2 && known[f[1]] {
			continue
		}
		out = append(out, line)
	}
	var live []NodeRecord
	for _, n := range nodes {
		if !n.Deleted && n.InternalIP != "" {
			live = append(live, n)
		}
	}
	sort.Slice(live, func(i, j int) bool { return live[i].Name < live[j].Name })
	for _, n := range live {
		out = append(out, n.InternalIP+" "+n.Name)
	}
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, "\n") + "\n"
}

// runCoreDNS syncs the ConfigMap every interval, as k3s's node controller
// reacts to node changes.
func runCoreDNS(ctx context.Context, log *logger, cms *configMapStore, reg *registry, p *peers, now func() time.Time, every time.Duration) {
	tick(ctx, every, func() {
		if err := syncCoreDNS(ctx, cms, reg, p, now()); err != nil {
			log.Errorf("Failed to update CoreDNS NodeHosts: %v", err)
		}
	})
}
