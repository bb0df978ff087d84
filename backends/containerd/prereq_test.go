package containerd

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/k3d/k3d/backends"
)

func TestCNIPluginsMissing(t *testing.T) {
	empty := t.TempDir()
	err := checkCNIPlugins([]string{empty, "/nonexistent/cni"})
	if !backends.IsPrerequisite(err) {
		t.Errorf("empty CNI path: %v is not a prerequisite error", err)
	}
	want := "containerd: CNI plugins not found in " + empty + " or /nonexistent/cni (install containernetworking-plugins, or set K3D_CNI_PATH)"
	if err == nil || err.Error() != want {
		t.Fatalf("empty CNI path: got %v, want %q", err, want)
	}

	partial := t.TempDir()
	for _, p := range []string{"loopback", "bridge", "host-local"} {
		if err := os.WriteFile(filepath.Join(partial, p), []byte("#!/bin/true\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A plugin that is present but not executable counts as missing.
	if err := os.WriteFile(filepath.Join(partial, "portmap"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err = checkCNIPlugins([]string{partial})
	want = "containerd: CNI plugins portmap, firewall not found in " + partial + " (install containernetworking-plugins, or set K3D_CNI_PATH)"
	if err == nil || err.Error() != want {
		t.Fatalf("partial CNI path: got %v, want %q", err, want)
	}

	if err := os.Chmod(filepath.Join(partial, "portmap"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(partial, "firewall"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := checkCNIPlugins([]string{partial}); err != nil {
		t.Fatalf("complete CNI path: %v", err)
	}
}

func TestDataRootNotWritable(t *testing.T) {
	ok := filepath.Join(t.TempDir(), "made", "here")
	if err := checkDataRoot(ok); err != nil {
		t.Fatalf("a root that can be made: %v", err)
	}
	if left, _ := os.ReadDir(ok); len(left) != 0 {
		t.Errorf("the check left %v in the data root", left)
	}

	// A file where the root should be: refused for root too, unlike a mode.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := checkDataRoot(filepath.Join(file, "root"))
	want := "containerd: data root " + file + "/root is not writable (not a directory) (run k3d as root, or set K3D_CONTAINERD_ROOT to a writable directory)"
	if !backends.IsPrerequisite(err) || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}
