package containerd

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Paths in a stopped node land in its bind mounts' sources (volumes, the
// hosts file) or in its root filesystem, and symlinks do not lead out.
func TestResolveStoppedNode(t *testing.T) {
	root, vol, hosts := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "hosts")
	os.Symlink("/etc", filepath.Join(root, "link"))
	nfs := &nodeFS{root: root, binds: []specs.Mount{
		{Destination: "/vol", Source: vol},
		{Destination: "/vol/deeper", Source: vol + "/d"},
		{Destination: "/etc/hosts", Source: hosts},
	}}
	for p, want := range map[string]string{
		"/etc/hosts":        hosts,
		"/vol/x":            vol + "/x",
		"/vol/deeper/y":     vol + "/d/y",
		"/volume/z":         root + "/volume/z",
		"/link/passwd":      root + "/etc/passwd",
		"/../../etc/shadow": root + "/etc/shadow",
	} {
		got, err := nfs.resolve(p)
		if err != nil || got != want {
			t.Errorf("resolve %s: %s, %v; want %s", p, got, err, want)
		}
	}
}

// untar keeps modes, owners, links and set-ID bits, and replaces files.
func TestUntar(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("owners from a tar need root")
	}
	dst := t.TempDir()
	os.WriteFile(filepath.Join(dst, "replaced"), []byte("old"), 0o644)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, data string) {
		h.Size = int64(len(data))
		tw.WriteHeader(h)
		tw.Write([]byte(data))
	}
	add(&tar.Header{Name: "dir/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 1234, Gid: 5678}, "")
	add(&tar.Header{Name: "dir/file", Typeflag: tar.TypeReg, Mode: 0o4755, Uid: 1234, Gid: 5678}, "data")
	add(&tar.Header{Name: "dir/link", Typeflag: tar.TypeSymlink, Linkname: "file"}, "")
	add(&tar.Header{Name: "dir/hard", Typeflag: tar.TypeLink, Linkname: "dir/file"}, "")
	add(&tar.Header{Name: "replaced", Typeflag: tar.TypeReg, Mode: 0o600}, "new")
	add(&tar.Header{Name: "../escape", Typeflag: tar.TypeReg, Mode: 0o600}, "x")
	tw.Close()
	where := func(name string) (string, error) { return filepath.Join(dst, name), nil }
	if err := untar(context.Background(), &buf, where); err != nil {
		t.Fatal(err)
	}
	check := func(p string, mode os.FileMode, uid, gid uint32) {
		t.Helper()
		fi, err := os.Lstat(filepath.Join(dst, p))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != mode || st.Uid != uid || st.Gid != gid {
			t.Errorf("%s: %s %d:%d, want %s %d:%d", p, fi.Mode(), st.Uid, st.Gid, mode, uid, gid)
		}
	}
	check("dir", os.ModeDir|0o750, 1234, 5678)
	check("dir/file", os.ModeSetuid|0o755, 1234, 5678)
	check("replaced", 0o600, 0, 0)
	if l, _ := os.Readlink(filepath.Join(dst, "dir/link")); l != "file" {
		t.Errorf("symlink reads %q", l)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "dir/hard")); string(b) != "data" {
		t.Errorf("hard link reads %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "replaced")); string(b) != "new" {
		t.Errorf("replaced file reads %q", b)
	}
	if _, err := os.Stat(filepath.Join(dst, "escape")); err != nil {
		t.Errorf("an entry naming ../escape is not kept inside: %v", err)
	}
}
