package containerd

import (
	"fmt"
	"os"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
)

// requiredPlugins are the plugin types the backend's own CNI configurations
// name, read from them so that the check cannot drift from what is invoked.
func requiredPlugins() []string {
	var types []string
	if lo, err := libcni.NetworkConfFromBytes([]byte(loopbackConf)); err == nil {
		for _, p := range lo.Plugins {
			types = append(types, p.Network.Type)
		}
	}
	for _, p := range newNetConf("", netInfo{}, "").Plugins {
		types = append(types, p["type"].(string))
		if ipam, ok := p["ipam"].(map[string]any); ok {
			types = append(types, ipam["type"].(string))
		}
	}
	return types
}

// checkCNIPlugins reports, in one line a user can act on, the plugins missing from
// dirs. Checked at Info so that a half-set-up host (containerd answering, no
// plugins) fails before a node is created, not with libcni's "failed to find
// plugin" on the first network.
func checkCNIPlugins(dirs []string) error {
	want := requiredPlugins()
	var missing []string
	for _, p := range want {
		// libcni's own lookup, plus the exec bit it only finds missing at invoke time.
		path, err := invoke.FindInPath(p, dirs)
		if err != nil || !executable(path) {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	what := "CNI plugins " + strings.Join(missing, ", ")
	if len(missing) == len(want) {
		what = "CNI plugins"
	}
	return fmt.Errorf("%s not found in %s (install containernetworking-plugins, or set %s)",
		what, strings.Join(dirs, " or "), EnvCNIPath)
}

func executable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode()&0o111 != 0
}
