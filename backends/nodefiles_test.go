package backends_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/k3d/k3d/backends"
)

// A node's files are written where a runtime can read them, are recognised
// by inspection, and go with the node; a name that would leave the root is
// refused.
func TestNodeFiles(t *testing.T) {
	f := backends.NodeFiles{Root: filepath.Join(t.TempDir(), "nodefiles")}
	p, err := f.Put("k3d-dev-agent-0", backends.MeminfoFile, backends.Meminfo(512<<20))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "MemTotal: 524288 kB\nSwapTotal: 0 kB\n" {
		t.Fatalf("meminfo = %q, %v", b, err)
	}
	if st, err := os.Stat(filepath.Dir(p)); err != nil || st.Mode().Perm()&0o005 != 0o005 {
		t.Errorf("node files directory must be readable by a rootless runtime's user: %v %v", st.Mode(), err)
	}
	own := backends.Mount{Type: backends.MountBind, Source: p, Target: backends.MeminfoPath, ReadOnly: true}
	data := backends.Mount{Type: backends.MountBind, Source: p, Target: "/meminfo"}
	if got := backends.WithoutMeminfo("k3d-dev-agent-0", []backends.Mount{own, data}); len(got) != 1 || got[0] != data {
		t.Errorf("mounts less the node's meminfo = %+v, want only %+v", got, data)
	}
	if got := backends.WithoutMeminfo("k3d-dev-agent-1", []backends.Mount{own}); len(got) != 1 {
		t.Errorf("another node's meminfo mount is taken for this node's: %+v", got)
	}
	if err := f.Remove("k3d-dev-agent-0"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(p)); !os.IsNotExist(err) {
		t.Errorf("node files left after Remove: %v", err)
	}
	if err := f.Remove("k3d-never-made"); err != nil {
		t.Errorf("Remove of a node without files: %v", err)
	}
	for _, bad := range []string{"", "..", "a/b"} {
		if _, err := f.Put(bad, "x", nil); !backends.IsInvalid(err) {
			t.Errorf("Put(%q): %v, want ErrInvalid", bad, err)
		}
	}
}
