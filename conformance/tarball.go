package conformance

import (
	"archive/tar"
	"bytes"
	"testing"
	"time"
)

// tarEntry is one file or directory of a tar stream the suite copies into a
// node.
type tarEntry struct {
	name     string
	dir      bool
	mode     int64
	uid, gid int
	data     []byte
}

// tarOf builds a tar stream of entries, in order.
func tarOf(t *testing.T, entries ...tarEntry) *bytes.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{
			Name:     e.name,
			Mode:     e.mode,
			Uid:      e.uid,
			Gid:      e.gid,
			ModTime:  time.Now(),
			Size:     int64(len(e.data)),
			Typeflag: tar.TypeReg,
		}
		if e.dir {
			hdr.Typeflag = tar.TypeDir
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar header %s: %v", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatalf("tar %s: %v", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("close tar: %v", err)
	}
	return bytes.NewReader(buf.Bytes())
}
