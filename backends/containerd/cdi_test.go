package containerd

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/k3d/k3d/backends"
)

// A GPU request turns into the devices of the host's CDI spec for
// nvidia.com/gpu, as `nvidia-ctk cdi generate` writes it; a host without one
// refuses the node with ErrPrerequisite naming what to install.
func TestGPUsAreCDIDevices(t *testing.T) {
	dir := t.TempDir()
	r := &Runtime{cdiDirs: []string{dir}}
	spec := backends.NodeSpec{Name: "k3d-gpu-agent-0", GPUs: "all"}

	_, err := r.gpuEdits(spec)
	if !backends.IsPrerequisite(err) || !strings.Contains(err.Error(), "nvidia-ctk cdi generate") || !strings.Contains(err.Error(), "nvidia.com/gpu=all") {
		t.Fatalf("no CDI spec: err = %v, want ErrPrerequisite naming nvidia.com/gpu=all and nvidia-ctk", err)
	}

	const nvidia = `cdiVersion: "0.5.0"
kind: nvidia.com/gpu
devices:
- name: "0"
  containerEdits:
    env: ["NVIDIA_VISIBLE_DEVICES=0"]
- name: all
  containerEdits:
    env: ["NVIDIA_VISIBLE_DEVICES=all"]
containerEdits:
  env: ["NVIDIA_DRIVER_CAPABILITIES=all"]
`
	if err := os.WriteFile(filepath.Join(dir, "nvidia.yaml"), []byte(nvidia), 0o644); err != nil {
		t.Fatal(err)
	}
	for gpus, want := range map[string]string{"all": "NVIDIA_VISIBLE_DEVICES=all", "1": "NVIDIA_VISIBLE_DEVICES=0"} {
		spec.GPUs = gpus
		opt, err := r.gpuEdits(spec)
		if err != nil {
			t.Fatalf("gpus %s: %v", gpus, err)
		}
		s := &oci.Spec{Process: &specs.Process{}, Linux: &specs.Linux{}}
		if err := opt(context.Background(), nil, nil, s); err != nil {
			t.Fatalf("gpus %s: inject: %v", gpus, err)
		}
		if !slices.Contains(s.Process.Env, want) || !slices.Contains(s.Process.Env, "NVIDIA_DRIVER_CAPABILITIES=all") {
			t.Errorf("gpus %s: env %v, want %s and the spec's common edits", gpus, s.Process.Env, want)
		}
	}
	spec.GPUs = "2" // the spec has one GPU
	if _, err := r.gpuEdits(spec); !backends.IsPrerequisite(err) || !strings.Contains(err.Error(), "nvidia.com/gpu=1") {
		t.Errorf("two GPUs of one: err = %v, want ErrPrerequisite naming nvidia.com/gpu=1", err)
	}
	spec.GPUs = "lots"
	if _, err := r.gpuEdits(spec); !backends.IsInvalid(err) {
		t.Errorf("gpus lots: err = %v, want ErrInvalid", err)
	}
}
