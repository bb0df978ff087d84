package containerd

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/oci"
	"tags.cncf.io/container-device-interface/pkg/cdi"

	"github.com/k3d/k3d/backends"
)

// gpuEdits resolves a node's GPU request against the host's CDI specs, as
// containerd's CRI plugin does for Kubernetes: GPUs are CDI devices
// (nvidia.com/gpu=all), and a host without a spec for them refuses the node
// before anything is made.
func (r *Runtime) gpuEdits(spec backends.NodeSpec) (oci.SpecOpts, error) {
	devices, err := backends.CDIGPUDevices(spec.GPUs)
	if err != nil {
		return nil, invalid(nodeObj(spec.Name), "%v", err)
	}
	if len(devices) == 0 {
		return nil, nil
	}
	cache, err := cdi.NewCache(cdi.WithSpecDirs(r.cdiDirs...), cdi.WithAutoRefresh(false))
	if err != nil && cache == nil {
		return nil, fmt.Errorf("read the CDI specs in %s: %w", strings.Join(r.cdiDirs, ", "), err)
	}
	// A broken spec of another vendor must not hide the GPUs' one: the
	// cache keeps what it could read, and unresolved devices say the rest.
	var missing []string
	for _, d := range devices {
		if cache.GetDevice(d) == nil {
			missing = append(missing, d)
		}
	}
	if len(missing) > 0 {
		return nil, backends.NewError(backends.ErrPrerequisite, nodeObj(spec.Name), fmt.Sprintf(
			"GPUs asked for, but no CDI spec in %s has %s: install the NVIDIA Container Toolkit and run `nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml`",
			strings.Join(r.cdiDirs, " or "), strings.Join(missing, ", ")))
	}
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if _, err := cache.InjectDevices(s, devices...); err != nil {
			return fmt.Errorf("inject CDI devices %s: %w", strings.Join(devices, ", "), err)
		}
		return nil
	}, nil
}

// cdiDirsFrom is the CDI spec directories: a colon-separated list, or the
// CDI default (/etc/cdi, /var/run/cdi).
func cdiDirsFrom(list string) []string {
	if list == "" {
		return cdi.DefaultSpecDirs
	}
	return filepath.SplitList(list)
}
