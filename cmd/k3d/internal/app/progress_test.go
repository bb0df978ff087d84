package app

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/k3d/k3d/engine"
)

// In a log, a transfer is a line when it starts and one when it ends with
// what it moved; a burst of updates adds no lines in between.
func TestTransferInALogDoesNotSpam(t *testing.T) {
	var buf bytes.Buffer
	p := &progress{log: zerolog.New(&buf), w: &buf}
	tr := p.Transfer("Streaming app:1 into 3 nodes")
	for i := int64(1); i <= 500; i++ {
		tr.Update(engine.TransferState{Bytes: i << 20, Nodes: 3, NodesDone: int(i / 200)})
	}
	tr.Update(engine.TransferState{Bytes: 500 << 20, Nodes: 3, NodesDone: 3})
	tr.Done(nil)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want a start and an end line, got %d:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[1], "524.3 MB into 3 of 3 nodes") {
		t.Errorf("end line does not say what moved: %s", lines[1])
	}
}

// On a terminal the status line shows bytes of the total and nodes done.
func TestTransferOnATerminalShowsBytesAndNodes(t *testing.T) {
	var buf bytes.Buffer
	p := &progress{log: zerolog.New(&buf), w: &buf, tty: true}
	tr := p.Transfer("Pulling image k3s:x")
	tr.Update(engine.TransferState{Bytes: 12_300_000, Total: 45_000_000})
	p.mu.Lock()
	p.drawLocked()
	p.mu.Unlock()
	if !strings.Contains(buf.String(), "… Pulling image k3s:x: 12.3 MB of 45.0 MB (27%)") {
		t.Errorf("status line: %q", buf.String())
	}
	buf.Reset()
	tr = p.Transfer("Streaming app:1 into 2 nodes")
	tr.Update(engine.TransferState{Bytes: 1e6, Nodes: 2, NodesDone: 2, NodesFailed: 1})
	tr.Done(nil)
	if !strings.Contains(buf.String(), "1.0 MB into 1 of 2 nodes") {
		t.Errorf("finished line: %q", buf.String())
	}
}
