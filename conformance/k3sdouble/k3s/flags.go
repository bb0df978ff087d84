package k3s

import (
	"fmt"
	"strconv"
	"strings"
)

// config is what `k3s server` and `k3s agent` are told by flags and K3S_* env.
type config struct {
	server bool

	dataDir        string
	token          string
	tokenFile      string
	agentToken     string
	agentTokenFile string
	serverURL      string
	clusterInit    bool

	tlsSANs     []string
	httpsPort   int
	bindAddress string
	disable     []string

	datastoreEndpoint string
	datastoreCAFile   string
	datastoreCertFile string
	datastoreKeyFile  string

	nodeName        string
	nodeLabels      []string
	nodeTaints      []string
	nodeIPs         []string
	nodeExternalIPs []string
	kubeletArgs     []string
	apiserverArgs   []string

	writeKubeconfig     string
	writeKubeconfigMode string
	flannelBackend      string
	disableNetPolicy    bool

	// ignored are flags the double accepts without acting on them.
	ignored []string
}

type flagKind int

const (
	flagString flagKind = iota
	flagSlice           // repeatable, each value kept whole (kubelet args hold commas)
	flagCSV             // repeatable, values split on commas
	flagBool
	flagInt
)

type flagDef struct {
	names []string
	kind  flagKind
	env   string
	str   *string
	list  *[]string
	b     *bool
	i     *int
}

func (c *config) defs() []flagDef {
	d := []flagDef{
		{names: []string{"data-dir", "d"}, kind: flagString, env: "K3S_DATA_DIR", str: &c.dataDir},
		{names: []string{"token", "t"}, kind: flagString, env: "K3S_TOKEN", str: &c.token},
		{names: []string{"token-file"}, kind: flagString, env: "K3S_TOKEN_FILE", str: &c.tokenFile},
		{names: []string{"server", "s"}, kind: flagString, env: "K3S_URL", str: &c.serverURL},
		{names: []string{"node-name"}, kind: flagString, env: "K3S_NODE_NAME", str: &c.nodeName},
		{names: []string{"node-label"}, kind: flagSlice, list: &c.nodeLabels},
		{names: []string{"node-taint"}, kind: flagSlice, list: &c.nodeTaints},
		{names: []string{"node-ip", "i"}, kind: flagCSV, list: &c.nodeIPs},
		{names: []string{"node-external-ip"}, kind: flagCSV, list: &c.nodeExternalIPs},
		{names: []string{"kubelet-arg"}, kind: flagSlice, list: &c.kubeletArgs},
		{names: []string{"flannel-backend"}, kind: flagString, str: &c.flannelBackend},
	}
	if !c.server {
		return d
	}
	return append(d,
		flagDef{names: []string{"agent-token"}, kind: flagString, env: "K3S_AGENT_TOKEN", str: &c.agentToken},
		flagDef{names: []string{"agent-token-file"}, kind: flagString, env: "K3S_AGENT_TOKEN_FILE", str: &c.agentTokenFile},
		flagDef{names: []string{"cluster-init"}, kind: flagBool, env: "K3S_CLUSTER_INIT", b: &c.clusterInit},
		flagDef{names: []string{"tls-san"}, kind: flagCSV, list: &c.tlsSANs},
		flagDef{names: []string{"https-listen-port"}, kind: flagInt, i: &c.httpsPort},
		flagDef{names: []string{"bind-address"}, kind: flagString, str: &c.bindAddress},
		flagDef{names: []string{"disable"}, kind: flagCSV, list: &c.disable},
		flagDef{names: []string{"datastore-endpoint"}, kind: flagString, env: "K3S_DATASTORE_ENDPOINT", str: &c.datastoreEndpoint},
		flagDef{names: []string{"datastore-cafile"}, kind: flagString, env: "K3S_DATASTORE_CAFILE", str: &c.datastoreCAFile},
		flagDef{names: []string{"datastore-certfile"}, kind: flagString, env: "K3S_DATASTORE_CERTFILE", str: &c.datastoreCertFile},
		flagDef{names: []string{"datastore-keyfile"}, kind: flagString, env: "K3S_DATASTORE_KEYFILE", str: &c.datastoreKeyFile},
		flagDef{names: []string{"kube-apiserver-arg"}, kind: flagSlice, list: &c.apiserverArgs},
		flagDef{names: []string{"write-kubeconfig", "o"}, kind: flagString, env: "K3S_KUBECONFIG_OUTPUT", str: &c.writeKubeconfig},
		flagDef{names: []string{"write-kubeconfig-mode"}, kind: flagString, env: "K3S_KUBECONFIG_MODE", str: &c.writeKubeconfigMode},
		flagDef{names: []string{"disable-network-policy"}, kind: flagBool, b: &c.disableNetPolicy},
	)
}

// knownBool are k3s boolean flags the double does not act on: they take no
// value, so the argument after them is not theirs.
var knownBool = map[string]bool{
	"debug": true, "rootless": true, "selinux": true, "secrets-encryption": true,
	"prefer-bundled-bin": true, "docker": true, "protect-kernel-defaults": true,
	"embedded-registry": true, "supervisor-metrics": true, "flannel-ipv6-masq": true,
	"flannel-external-ip": true, "etcd-expose-metrics": true, "etcd-snapshot-compress": true,
	"etcd-s3": true, "etcd-s3-insecure": true, "etcd-s3-skip-ssl-verify": true,
	"cluster-reset": true, "alsologtostderr": true, "with-node-id": true,
	"tls-san-security": true, "enable-pprof": true, "kube-proxy-arg-skip": true,
	"lb-server-port-disabled": true, "vpn-auth-skip": true,
}

// parseConfig reads flags over K3S_* environment variables (flags win), the
// way k3s's CLI does. Unknown flags are accepted and reported in ignored.
func parseConfig(server bool, args []string, getenv func(string) string) (*config, error) {
	c := &config{server: server}
	defs := c.defs()
	byName := map[string]*flagDef{}
	for i := range defs {
		for _, n := range defs[i].names {
			byName[n] = &defs[i]
		}
	}
	set := map[*flagDef]bool{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			return nil, fmt.Errorf("unexpected argument %q (flags start with --)", a)
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		def := byName[name]
		if def == nil {
			ign := a
			if !hasVal && !looksBool(name) && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++
				ign += " " + args[i]
			}
			c.ignored = append(c.ignored, ign)
			continue
		}
		if def.kind == flagBool {
			if !hasVal {
				val = "true"
			}
		} else if !hasVal {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("flag needs an argument: %s", a)
			}
			i++
			val = args[i]
		}
		if err := def.set(val, set[def]); err != nil {
			return nil, fmt.Errorf("invalid value %q for flag %s: %w", val, a, err)
		}
		set[def] = true
	}
	for i := range defs {
		d := &defs[i]
		if set[d] || d.env == "" {
			continue
		}
		if v := getenv(d.env); v != "" {
			if err := d.set(v, false); err != nil {
				return nil, fmt.Errorf("invalid value %q for %s: %w", v, d.env, err)
			}
		}
	}
	if c.dataDir == "" {
		c.dataDir = DefaultDataDir
	}
	if c.httpsPort == 0 && !set[byName["https-listen-port"]] {
		c.httpsPort = 6443
	}
	return c, nil
}

func looksBool(name string) bool {
	return knownBool[name] || strings.HasPrefix(name, "disable-") || strings.HasPrefix(name, "enable-")
}

func (d *flagDef) set(val string, again bool) error {
	switch d.kind {
	case flagString:
		*d.str = val
	case flagBool:
		b, err := strconv.ParseBool(val)
		if err != nil {
			return err
		}
		*d.b = b
	case flagInt:
		n, err := strconv.Atoi(val)
		if err != nil {
			return err
		}
		if n < 0 || n > 65535 {
			return fmt.Errorf("port out of range")
		}
		*d.i = n
	case flagSlice:
		if !again {
			*d.list = nil
		}
		*d.list = append(*d.list, val)
	case flagCSV:
		if !again {
			*d.list = nil
		}
		for _, v := range strings.Split(val, ",") {
			if v = strings.TrimSpace(v); v != "" {
				*d.list = append(*d.list, v)
			}
		}
	}
	return nil
}
