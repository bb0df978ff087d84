package conformance

import (
	"bytes"
	"crypto/rand"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
)

// testExecAll: one stdin, sent once, reaches the command in every running
// node whole; a node that is not running fails alone with ErrNotRunning.
func testExecAll(t *testing.T, f *fixture) {
	a, b, idle := f.name("a"), f.name("b"), f.name("idle")
	f.runNode(backends.NodeSpec{Name: a})
	f.runNode(backends.NodeSpec{Name: b})
	f.createNode(backends.NodeSpec{Name: idle})

	// More than a pipe buffer and a protocol chunk, so the nodes really read
	// concurrently.
	in := make([]byte, 3<<20+17)
	_, _ = rand.Read(in)
	nodes := []string{a, idle, b}
	done := 0
	res, err := backends.ExecAll(f.ctx, f.rt, backends.ExecAllSpec{
		Nodes: nodes,
		Cmd:   []string{"/testprog", "echo", "-err", "fed", "-exit", "5"},
		Stdin: bytes.NewReader(in),
		Done:  func(int, backends.ExecResult) { done++ },
	})
	if err != nil {
		t.Fatalf("exec all in %v: %v", nodes, err)
	}
	if len(res) != len(nodes) || done != len(nodes) {
		t.Fatalf("exec all in %d nodes: %d results, %d done calls", len(nodes), len(res), done)
	}
	for i, n := range nodes {
		r := res[i]
		if n == idle {
			if !backends.IsNotRunning(r.Err) {
				t.Errorf("exec all: node %s is not running: want ErrNotRunning, got %v", n, r.Err)
			}
			continue
		}
		if r.Err != nil || r.ExitCode != 5 || r.Unread {
			t.Errorf("exec all: node %s: err=%v exit=%d unread=%v, want exit 5 with all stdin read", n, r.Err, r.ExitCode, r.Unread)
		}
		// stdout keeps only its tail: compare that part.
		if tail := in[len(in)-len(r.Stdout):]; len(r.Stdout) == 0 || !bytes.Equal(r.Stdout, tail) {
			t.Errorf("exec all: node %s echoed %d bytes that are not the end of its stdin", n, len(r.Stdout))
		}
		if string(r.Stderr) != "fed" {
			t.Errorf("exec all: node %s stderr %q, want %q", n, r.Stderr, "fed")
		}
	}

	// The runtime can be the source itself: the image's save stream is the
	// stdin, read inside the backend, and its size is reported as progress.
	var fed int64
	res, err = backends.ExecAll(f.ctx, f.rt, backends.ExecAllSpec{
		Nodes:       []string{a, b},
		Cmd:         []string{"/testprog", "echo"},
		StdinImages: []string{f.s.image},
		Progress:    func(n int64) { fed = n },
	})
	if err != nil {
		t.Fatalf("exec all with the save of %s as stdin: %v", f.s.image, err)
	}
	for i, r := range res {
		if r.Err != nil || r.ExitCode != 0 || r.Unread || len(r.Stdout) == 0 {
			t.Errorf("exec all with an image as stdin: node %d: err=%v exit=%d unread=%v, %d bytes echoed", i, r.Err, r.ExitCode, r.Unread, len(r.Stdout))
		}
	}
	if fed < 1024 {
		t.Errorf("exec all with an image as stdin: progress says %d bytes were fed, want the whole archive", fed)
	}
	// The archive names the image as containerd would: it ends with the
	// tar's two zero blocks, and somewhere holds manifest.json.
	if tail := res[0].Stdout; len(tail) < 1024 || !bytes.Equal(tail[len(tail)-1024:], make([]byte, 1024)) {
		t.Errorf("exec all with an image as stdin: node %s did not get a whole tar archive", a)
	}
	_, err = backends.ExecAll(f.ctx, f.rt, backends.ExecAllSpec{
		Nodes: []string{a}, Cmd: []string{"/testprog", "echo"}, StdinImages: []string{"k3d-conformance-missing:nope"},
	})
	if !backends.IsNotFound(err) {
		t.Errorf("exec all with a missing image as stdin: want ErrNotFound, got %v", err)
	}

	// A command that reads all of stdin and ends before stdin's end is known
	// (ctr stops at the tar's end marker) left nothing unread. One that stops
	// early with most of stdin still to come did, and its exit code is still
	// its own: more is left than the runtime's connection buffers, so the
	// rest cannot vanish into them.
	for _, c := range []struct {
		size, read int
		unread     bool
	}{{1 << 20, 1 << 20, false}, {len(in), 1 << 20, true}} {
		res, err := backends.ExecAll(f.ctx, f.rt, backends.ExecAllSpec{
			Nodes: []string{a, b}, Cmd: []string{"/testprog", "read", strconv.Itoa(c.read)},
			Stdin: io.MultiReader(bytes.NewReader(in[:c.size]), lateEOF(300*time.Millisecond)),
		})
		if err != nil {
			t.Fatalf("exec all reading %d of %d bytes: %v", c.read, c.size, err)
		}
		for i, r := range res {
			if r.Err != nil || r.ExitCode != 0 || r.Unread != c.unread {
				t.Errorf("exec all: node %d read %d of %d bytes: err=%v exit=%d unread=%v, want unread=%v",
					i, c.read, c.size, r.Err, r.ExitCode, r.Unread, c.unread)
			}
		}
	}
}

// lateEOF is the end of a stream, known only a while after its last byte.
type lateEOF time.Duration

func (l lateEOF) Read([]byte) (int, error) {
	time.Sleep(time.Duration(l))
	return 0, io.EOF
}
