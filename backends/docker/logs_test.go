package docker

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
)

// waitLog reads a node's log until it holds want (the program's output is
// there once it has been written; no sleeping).
func waitLog(t *testing.T, node, want string) string {
	t.Helper()
	rt, ctx := needDaemon(t)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rc, err := rt.Logs(ctx, node, backends.LogOptions{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var sb strings.Builder
	sc := bufio.NewScanner(rc)
	for sc.Scan() {
		sb.WriteString(sc.Text() + "\n")
		if strings.Contains(sb.String(), want) {
			return sb.String()
		}
	}
	t.Fatalf("log of %s ended without %q: %q (%v)", node, want, sb.String(), sc.Err())
	return ""
}

// Stdout and stderr come out as one stream, in the order written, without
// the daemon's framing.
func TestLogs(t *testing.T) {
	rt, ctx := needDaemon(t)
	spec := nodeSpec(t, "logs")
	spec.Cmd = []string{"serve", "lines", "20"}
	spec.Env = []string{"TESTPROG_TICK=50ms"}
	startedNode(t, spec)
	waitLog(t, spec.Name, "tick 2\n")

	rc, err := rt.Logs(ctx, spec.Name, backends.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := 1; i <= 20; i++ {
		stream := map[bool]string{true: "out", false: "err"}[i%2 == 1]
		fmt.Fprintf(&want, "line %d %s\n", i, stream)
	}
	want.WriteString("testprog ready\ntestprog ready on stderr\n")
	if !strings.HasPrefix(string(all), want.String()) {
		t.Errorf("log = %q\nwant it to start with %q", all, want.String())
	}

	t.Run("tail", func(t *testing.T) {
		rc, err := rt.Logs(ctx, spec.Name, backends.LogOptions{Tail: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, _ := io.ReadAll(rc)
		if strings.Count(string(b), "\n") != 1 || !strings.HasPrefix(string(b), "tick ") {
			t.Errorf("tail 1 = %q, want one tick line", b)
		}
	})

	t.Run("since", func(t *testing.T) {
		rc, err := rt.Logs(ctx, spec.Name, backends.LogOptions{Since: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if strings.Contains(string(b), "line 1 out") {
			t.Errorf("since now = %q, holds output from before", b)
		}
	})

	t.Run("follow ends on close and on cancel", func(t *testing.T) {
		rc, err := rt.Logs(ctx, spec.Name, backends.LogOptions{Follow: true, Since: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(rc).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "tick ") {
			t.Errorf("first followed line = %q, %v", line, err)
		}
		done := make(chan error, 1)
		go func() { _, err := io.Copy(io.Discard, rc); done <- err }()
		rc.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("a closed follow stream still blocks its reader")
		}

		cctx, cancel := context.WithCancel(ctx)
		rc, err = rt.Logs(cctx, spec.Name, backends.LogOptions{Follow: true})
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		go func() { _, err := io.Copy(io.Discard, rc); done <- err }()
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("a follow stream outlives its context")
		}
	})

	t.Run("follow ends when the node stops", func(t *testing.T) {
		rc, err := rt.Logs(ctx, spec.Name, backends.LogOptions{Follow: true, Tail: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		done := make(chan string, 1)
		go func() { b, _ := io.ReadAll(rc); done <- string(b) }()
		if err := rt.StopNode(ctx, spec.Name, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		select {
		case out := <-done:
			if !strings.Contains(out, "testprog stopping") {
				t.Errorf("followed log until stop = %q, want the program's last words", out)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("a follow stream outlives its node")
		}
	})

	_, err = rt.Logs(ctx, "k3d-test-no-such-node", backends.LogOptions{})
	wantKind(t, err, backends.IsNotFound, "ErrNotFound", `node "k3d-test-no-such-node"`)
}
