package containerd

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "A=1"}, []string{"A=2", "B=two words"})
	if want := []string{"PATH=/bin", "A=2", "B=two words"}; !slices.Equal(got, want) {
		t.Errorf("merged env %q, want %q", got, want)
	}
}

// Exec users are looked up in the node's own passwd and group files.
func TestLookupUser(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/:/bin/sh\nk3d:x:1000:1001::/:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nwheel:x:10:\n"), 0o644)
	for user, want := range map[string][2]uint32{
		"4321:4321": {4321, 4321},
		"4321":      {4321, 0},
		"1000":      {1000, 1001},
		"k3d":       {1000, 1001},
		"k3d:wheel": {1000, 10},
		"0:wheel":   {0, 10},
		"k3d:12":    {1000, 12},
	} {
		u, err := lookupUser(root, user)
		if err != nil || u.UID != want[0] || u.GID != want[1] {
			t.Errorf("user %q: %d:%d, %v; want %d:%d", user, u.UID, u.GID, err, want[0], want[1])
		}
	}
	for _, bad := range []string{"nobody", "k3d:nogroup"} {
		if _, err := lookupUser(root, bad); err == nil {
			t.Errorf("user %q found", bad)
		}
	}
}
