package backends_test

import (
	"context"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/internal/testbackend"
)

// One stdin reaches every node whole, while a node that cannot run the
// command, or that stops reading, fails alone with its own contract error.
func TestExecAllFansOneStdinOutToEveryNode(t *testing.T) {
	const size = 20 << 20
	bothWays(t, func(t *testing.T, c *backends.Client, _ *testbackend.Fake) {
		nodes := []string{"a", "fail-notrunning", "b", "c"}
		var mu sync.Mutex
		var doneOrder []int
		res, err := c.ExecAll(context.Background(), backends.ExecAllSpec{
			Nodes: nodes, Cmd: []string{"cat"}, Stdin: testbackend.Pattern(size),
			Done: func(i int, r backends.ExecResult) {
				mu.Lock()
				doneOrder = append(doneOrder, i)
				mu.Unlock()
			},
		})
		if err != nil {
			t.Fatalf("ExecAll: %v", err)
		}
		if len(res) != len(nodes) || len(doneOrder) != len(nodes) {
			t.Fatalf("got %d results and %d Done calls for %d nodes", len(res), len(doneOrder), len(nodes))
		}
		for i, n := range nodes {
			r := res[i]
			if n == "fail-notrunning" {
				if !backends.IsNotRunning(r.Err) || !strings.Contains(r.Err.Error(), n) {
					t.Errorf("node %s: want a not-running error naming it, got %v", n, r.Err)
				}
				continue
			}
			if r.Err != nil || r.ExitCode != 0 || r.Unread {
				t.Errorf("node %s: err=%v code=%d unread=%v", n, r.Err, r.ExitCode, r.Unread)
			}
		}
	})
}

// The whole stream arrives intact in each node (cat's output is kept only
// up to a limit, so each node hashes what it read instead).
func TestExecAllDeliversTheWholeStream(t *testing.T) {
	const size = 8 << 20
	want := patternSum(size)
	bothWays(t, func(t *testing.T, c *backends.Client, _ *testbackend.Fake) {
		res, err := c.ExecAll(context.Background(), backends.ExecAllSpec{
			Nodes: []string{"a", "b"}, Cmd: []string{"sha256"}, Stdin: testbackend.Pattern(size),
		})
		if err != nil {
			t.Fatalf("ExecAll: %v", err)
		}
		for i, r := range res {
			if r.Err != nil || strings.TrimSpace(string(r.Stdout)) != want {
				t.Errorf("node %d: err=%v, read %q, want sha256 %s", i, r.Err, r.Stdout, want)
			}
		}
	})
}

// A node whose command ends without reading stdin does not hold up the others.
func TestExecAllGoesOnWithoutANodeThatStopsReading(t *testing.T) {
	bothWays(t, func(t *testing.T, c *backends.Client, _ *testbackend.Fake) {
		res, err := c.ExecAll(context.Background(), backends.ExecAllSpec{
			Nodes: []string{"a", "b"}, Cmd: []string{"exit-early", "3"}, Stdin: testbackend.Pattern(4 << 20),
		})
		if err != nil {
			t.Fatalf("ExecAll: %v", err)
		}
		for i, r := range res {
			if r.Err != nil || r.ExitCode != 3 || !r.Unread {
				t.Errorf("node %d: err=%v code=%d unread=%v, want exit 3 with stdin unread", i, r.Err, r.ExitCode, r.Unread)
			}
		}
	})
}

// A command that reads all of stdin and ends before stdin's end is known
// (ctr stops reading at the tar's end marker) has not left any unread; one
// that ends with more of stdin to come has.
func TestExecAllUnreadOnlyWhenMoreCame(t *testing.T) {
	const size = 1 << 20
	bothWays(t, func(t *testing.T, c *backends.Client, _ *testbackend.Fake) {
		for _, tc := range []struct {
			read       int64
			wantUnread bool
		}{{size, false}, {size / 2, true}} {
			res, err := c.ExecAll(context.Background(), backends.ExecAllSpec{
				Nodes: []string{"a", "b"}, Cmd: []string{"read-bytes", strconv.FormatInt(tc.read, 10)},
				Stdin: io.MultiReader(testbackend.Pattern(size), &lateEOF{wait: 300 * time.Millisecond}),
			})
			if err != nil {
				t.Fatalf("ExecAll: %v", err)
			}
			for i, r := range res {
				if r.Err != nil || r.ExitCode != 0 || r.Unread != tc.wantUnread {
					t.Errorf("node %d reading %d of %d bytes: err=%v code=%d unread=%v, want unread=%v",
						i, tc.read, size, r.Err, r.ExitCode, r.Unread, tc.wantUnread)
				}
			}
		}
	})
}

// lateEOF is the end of a stream that is known only a while after its last
// byte was sent.
type lateEOF struct{ wait time.Duration }

func (l *lateEOF) Read([]byte) (int, error) {
	time.Sleep(l.wait)
	return 0, io.EOF
}
