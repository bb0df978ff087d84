package docker

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/k3d/k3d/backends"
)

func TestCopyAndReadFiles(t *testing.T) {
	rt, ctx := needDaemon(t)
	spec := nodeSpec(t, "files")
	createNode(t, spec) // not started: copying works on stopped nodes too

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name, body string
		mode       int64
		uid        int
	}{
		{"k3d/script.sh", "#!/bin/sh\necho hi\n", 0o755, 0},
		{"k3d/owned.txt", "owned", 0o600, 1234},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), Uid: f.uid, Gid: f.uid, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.body))
	}
	if err := tw.WriteHeader(&tar.Header{Name: "k3d/link", Linkname: "script.sh", Typeflag: tar.TypeSymlink}); err != nil {
		t.Fatal(err)
	}
	tw.Close()
	if err := rt.CopyToNode(ctx, spec.Name, "/tmp", &buf); err != nil {
		t.Fatal(err)
	}

	read := func(p string) (string, error) {
		rc, err := rt.ReadFile(ctx, spec.Name, p)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return string(b), err
	}
	// Only the file's bytes: no tar header or padding (k3d v5 leaked them).
	if got, err := read("/tmp/k3d/script.sh"); err != nil || got != "#!/bin/sh\necho hi\n" {
		t.Errorf("ReadFile = %q, %v", got, err)
	}
	if got, err := read("/tmp/k3d/link"); err != nil || got != "#!/bin/sh\necho hi\n" {
		t.Errorf("ReadFile through a symlink = %q, %v", got, err)
	}
	_, err := read("/tmp/k3d/missing")
	wantKind(t, err, backends.IsNotFound, "ErrNotFound", "/tmp/k3d/missing")
	_, err = read("/tmp/k3d")
	wantKind(t, err, backends.IsInvalid, "ErrInvalid", "not a regular file")
	_, err = rt.ReadFile(ctx, "k3d-test-no-such-node", "/etc/hosts")
	wantKind(t, err, backends.IsNotFound, "ErrNotFound", `node "k3d-test-no-such-node"`)
	err = rt.CopyToNode(ctx, spec.Name, "/no/such/dir", strings.NewReader(""))
	wantKind(t, err, backends.IsNotFound, "ErrNotFound", "/no/such/dir")

	// Modes and owners as in the tar.
	if err := rt.StartNode(ctx, spec.Name); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{
		"/tmp/k3d/script.sh": "755 0:0 18\n",
		"/tmp/k3d/owned.txt": "600 1234:1234 5\n",
	} {
		if out, _, _ := execOut(t, spec.Name, "stat", p); out != want {
			t.Errorf("stat %s = %q, want %q", p, out, want)
		}
	}
}
