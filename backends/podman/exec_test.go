package podman

import (
	"bytes"
	"testing"
)

func TestHoldBack(t *testing.T) {
	// A command that could not start: the service's complaint is all there is.
	var out, errOut bytes.Buffer
	h := &holdBack{stdout: &out, stderr: &errOut, started: func() bool { return false }}
	h.err().Write([]byte("Error: runc: exec failed: unable to start container process: exec: \"/no/such\": stat /no/such: no such file or directory: OCI runtime attempted to invoke a command that was not found\n"))
	if msg := h.complaint(); msg == "" || bytes.Contains([]byte(msg), []byte("Error: ")) {
		t.Errorf("complaint %q, want the service's message without its prefix", msg)
	}
	if out.Len()+errOut.Len() != 0 {
		t.Errorf("held output passed on: %q %q", out.String(), errOut.String())
	}

	// A command that exits 127 itself, with output of its own: nothing is a complaint.
	out.Reset()
	errOut.Reset()
	h = &holdBack{stdout: &out, stderr: &errOut, started: func() bool { return false }}
	h.out().Write([]byte("a"))
	h.err().Write([]byte("b"))
	h.out().Write([]byte("c"))
	if msg := h.complaint(); msg != "" {
		t.Errorf("complaint %q from a command's own output", msg)
	}
	if err := h.flush(); err != nil {
		t.Fatal(err)
	}
	h.err().Write([]byte("d"))
	if out.String() != "ac" || errOut.String() != "bd" {
		t.Errorf("stdout %q stderr %q, want ac and bd", out.String(), errOut.String())
	}

	// A running command's output passes at once.
	out.Reset()
	h = &holdBack{stdout: &out, stderr: &errOut, started: func() bool { return true }}
	h.out().Write([]byte("progress"))
	if out.String() != "progress" {
		t.Errorf("output of a running command held back: %q", out.String())
	}
}

func TestSplitTag(t *testing.T) {
	for ref, want := range map[string][2]string{
		"k3d-helper:dev":                  {"k3d-helper", "dev"},
		"k3d-helper":                      {"k3d-helper", "latest"},
		"registry.local:5000/k3s":         {"registry.local:5000/k3s", "latest"},
		"registry.local:5000/k3s:v1.36.1": {"registry.local:5000/k3s", "v1.36.1"},
	} {
		if repo, tag := splitTag(ref); repo != want[0] || tag != want[1] {
			t.Errorf("splitTag(%q): %q %q, want %q", ref, repo, tag, want)
		}
	}
}
