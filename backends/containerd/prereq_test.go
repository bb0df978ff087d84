package containerd

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCNIPluginsMissing(t *testing.T) {
	empty := t.TempDir()
	err := checkCNIPlugins([]string{empty, "/nonexistent/cni"})
	want := "CNI plugins not found in " + empty + " or /nonexistent/cni (install containernetworking-plugins, or set K3D_CNI_PATH)"
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
	want = "CNI plugins portmap, firewall not found in " + partial + " (install containernetworking-plugins, or set K3D_CNI_PATH)"
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
