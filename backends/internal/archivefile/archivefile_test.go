package archivefile

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/k3d/k3d/backends"
)

// node is a file system as an archive endpoint shows it: each path is
// answered with a one-entry tar stream.
type node map[string]*tar.Header

func (n node) fetch(p string) (io.ReadCloser, error) {
	hdr, ok := n[p]
	if !ok {
		return nil, backends.NotFound(fmt.Sprintf("path %q", p))
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	h := *hdr
	body := []byte(nil)
	if h.Typeflag == tar.TypeReg {
		body = []byte("contents of " + p)
		h.Size = int64(len(body))
	}
	if err := tw.WriteHeader(&h); err != nil {
		return nil, err
	}
	tw.Write(body)
	tw.Close()
	return io.NopCloser(&buf), nil
}

func object(p string) string { return fmt.Sprintf("file %q", p) }

// A regular file is read; relative and absolute links are followed to it;
// a directory, a missing path and a link loop give the contract's errors.
func TestOpen(t *testing.T) {
	n := node{
		"/etc/real":     {Name: "real", Typeflag: tar.TypeReg, Mode: 0o644},
		"/etc/rel":      {Name: "rel", Typeflag: tar.TypeSymlink, Linkname: "real"},
		"/abs":          {Name: "abs", Typeflag: tar.TypeSymlink, Linkname: "/etc/rel"},
		"/etc":          {Name: "etc", Typeflag: tar.TypeDir, Mode: 0o755},
		"/loop":         {Name: "loop", Typeflag: tar.TypeSymlink, Linkname: "/loop"},
		"/etc/dangling": {Name: "dangling", Typeflag: tar.TypeSymlink, Linkname: "gone"},
	}
	for _, p := range []string{"/etc/real", "/etc/rel", "/abs"} {
		rc, err := Open(p, object, n.fetch)
		if err != nil {
			t.Fatalf("Open(%s): %v", p, err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if string(got) != "contents of /etc/real" {
			t.Errorf("Open(%s) read %q, want the contents of /etc/real", p, got)
		}
	}
	for p, want := range map[string]error{
		"/etc": backends.ErrInvalid, "/loop": backends.ErrInvalid, "/missing": backends.ErrNotFound, "/etc/dangling": backends.ErrNotFound,
	} {
		if _, err := Open(p, object, n.fetch); !errors.Is(err, want) {
			t.Errorf("Open(%s) = %v, want a %v error", p, err, want)
		}
	}
}
