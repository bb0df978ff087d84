package containerd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// cniPlugins are the CNI plugins the backend's network and loopback configs name.
var cniPlugins = []string{"loopback", "bridge", "host-local", "portmap", "firewall"}

// checkCNIPlugins reports, in one line a user can act on, the plugins missing from
// dirs. Checked at Info so that a half-set-up host (containerd answering, no
// plugins) fails before a node is created, not with libcni's "failed to find
// plugin" on the first network.
func checkCNIPlugins(dirs []string) error {
	var missing []string
	for _, p := range cniPlugins {
		if !pluginIn(dirs, p) {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	what := "CNI plugins " + strings.Join(missing, ", ")
	if len(missing) == len(cniPlugins) {
		what = "CNI plugins"
	}
	return fmt.Errorf("%s not found in %s (install containernetworking-plugins, or set %s)",
		what, strings.Join(dirs, " or "), EnvCNIPath)
}

func pluginIn(dirs []string, name string) bool {
	for _, d := range dirs {
		if st, err := os.Stat(filepath.Join(d, name)); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return true
		}
	}
	return false
}
