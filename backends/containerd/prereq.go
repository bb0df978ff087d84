package containerd

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"

	"github.com/k3d/k3d/backends"
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
	return &backends.PrerequisiteError{
		Runtime: runtimeName,
		Missing: fmt.Sprintf("%s not found in %s", what, strings.Join(dirs, " or ")),
		Fix:     "install containernetworking-plugins, or set " + EnvCNIPath,
	}
}

// checkDataRoot makes sure the backend can keep its state (networks, volumes,
// node files, locks) under root: an unwritable root would otherwise surface as
// a permission error halfway through a cluster's first network.
func checkDataRoot(root string) error {
	problem := func(err error) error {
		return &backends.PrerequisiteError{
			Runtime: runtimeName,
			Missing: fmt.Sprintf("data root %s is not writable (%v)", root, unwrapPathError(err)),
			Fix:     "run k3d as root, or set " + EnvRoot + " to a writable directory",
		}
	}
	if err := os.MkdirAll(root, 0o711); err != nil {
		return problem(err)
	}
	f, err := os.CreateTemp(root, ".k3d-write-check-*")
	if err != nil {
		return problem(err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// unwrapPathError keeps the cause of a path error: the path is already named.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func executable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode()&0o111 != 0
}
