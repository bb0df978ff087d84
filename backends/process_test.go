package backends_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
)

func TestABackendCrashIsReportedAsSuch(t *testing.T) {
	for _, tc := range []struct {
		method string
		call   func(c *backends.Client) error
	}{
		{"InspectNode", func(c *backends.Client) error {
			_, err := c.InspectNode(context.Background(), "crash")
			return err
		}},
		{"Exec", func(c *backends.Client) error {
			_, err := c.Exec(context.Background(), "n", backends.ExecSpec{Cmd: []string{"crash"}, Stdin: strings.NewReader("x")})
			return err
		}},
		{"ImageSave", func(c *backends.Client) error {
			// The backend dies after sending 8 MiB, in the middle of the stream.
			rc, err := c.ImageSave(context.Background(), []string{fmt.Sprint("crash-after:", 8<<20)})
			if err != nil {
				return err
			}
			defer rc.Close()
			n, err := io.Copy(io.Discard, rc)
			if n == 0 {
				t.Error("no data arrived before the crash")
			}
			return err
		}},
	} {
		t.Run(tc.method, func(t *testing.T) {
			stderr := &syncBuffer{}
			c := openTestBackend(t, stderr)
			start := time.Now()
			err := tc.call(c)
			took := time.Since(start)
			var exited *backends.BackendExitedError
			if !errors.As(err, &exited) {
				t.Fatalf("got %v (%T), want a *backends.BackendExitedError", err, err)
			}
			if backends.IsUnreachable(err) {
				t.Error("a crashed backend looks like an unreachable runtime daemon")
			}
			want := fmt.Sprintf("backend k3d-runtime-test exited unexpectedly during %s: exit status 2 (panic: fake backend crash in %s", tc.method, tc.method)
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error\n got %q\nwant %q...", err, want)
			}
			if took > 3*time.Second {
				t.Errorf("the crash took %v to be reported", took)
			}
			// The panic reached k3d's debug log.
			if !strings.Contains(stderr.String(), "panic: fake backend crash") {
				t.Errorf("backend stderr did not reach OpenOptions.Stderr:\n%s", stderr)
			}
			// Later calls fail the same way, at once.
			if _, err := c.Info(context.Background()); !errors.As(err, &exited) {
				t.Errorf("call after the crash: %v", err)
			}
		})
	}
}

func TestABackendOfAnotherProtocolVersionIsRefused(t *testing.T) {
	_, err := backends.OpenPath(context.Background(), testBackendV2, backends.OpenOptions{})
	want := fmt.Sprintf("backend %s speaks protocol 2, this k3d speaks 1: rebuild it with make build", testBackendV2)
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
	var mismatch *backends.ProtocolMismatchError
	if !errors.As(err, &mismatch) || mismatch.Backend != 2 || mismatch.K3d != backends.ProtocolVersion {
		t.Errorf("got %#v", mismatch)
	}
}

func TestProgramsThatAreNotBackendsAreRefusedClearly(t *testing.T) {
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		path string
		want string
	}{
		{script("k3d-runtime-exits", "echo 'cannot start: no config' >&2; exit 3"),
			"exited before the k3d handshake: exit status 3 (cannot start: no config)"},
		{script("k3d-runtime-chatty", "echo hello; exec sleep 60"),
			`is not a k3d backend: it answered "hello" to the k3d handshake`},
		{filepath.Join(dir, "k3d-runtime-absent"), "no such file or directory"},
	} {
		start := time.Now()
		_, err := backends.OpenPath(context.Background(), tc.path, backends.OpenOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("OpenPath(%s) = %v; want it to name the path and say %q", filepath.Base(tc.path), err, tc.want)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("OpenPath(%s) took %v", filepath.Base(tc.path), took)
		}
	}
}

func TestOpenHonoursItsContext(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k3d-runtime-silent")
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := backends.OpenPath(ctx, p, backends.OpenOptions{})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("got %v after %v, want context.DeadlineExceeded promptly", err, time.Since(start))
	}
}

func TestRunningABackendByHandSaysWhatItIs(t *testing.T) {
	cmd := exec.Command(testBackend)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
		t.Errorf("exit: %v, want status 1", err)
	}
	want := "k3d-runtime-test is a k3d backend: k3d starts it when it needs the test runtime (k3d --runtime test ...); there is no need to run it by hand\n"
	if stderr.String() != want || stdout.Len() != 0 {
		t.Errorf("stderr %q, stdout %q; want stderr %q", stderr.String(), stdout.String(), want)
	}
}

func TestCloseStopsTheBackendProcess(t *testing.T) {
	c, err := backends.OpenPath(context.Background(), testBackend, backends.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pid := c.PID()
	if !processAlive(pid) {
		t.Fatalf("backend %d not running after Open", pid)
	}
	logs, err := c.Logs(context.Background(), "n", backends.LogOptions{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	if c.Path() != testBackend {
		t.Errorf("Path() = %q, want %q", c.Path(), testBackend)
	}
	c.Close()
	if processAlive(pid) {
		t.Errorf("backend %d still running after Close", pid)
	}
	if _, err := c.Info(context.Background()); !errors.Is(err, backends.ErrBackendClosed) {
		t.Errorf("call after Close: %v, want ErrBackendClosed", err)
	}
	// A stream that was open ends with the same error, not with a hang.
	if _, err := io.Copy(io.Discard, logs); !errors.Is(err, backends.ErrBackendClosed) {
		t.Errorf("reading a stream cut by Close: %v, want ErrBackendClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestTheBackendDiesWithK3d(t *testing.T) {
	for _, mode := range []string{
		"open",  // started as k3d starts it: the kernel's death signal
		"plain", // without the death signal: Serve's parent watchdog
	} {
		t.Run(mode, func(t *testing.T) {
			parent := exec.Command(os.Args[0], "-test.run=^$")
			// The backend dies by SIGKILL and cannot remove its socket: keep
			// it in a directory the test removes.
			parent.Env = append(os.Environ(), "BACKENDS_TEST_PARENT="+mode, "BACKENDS_TEST_BACKEND="+testBackend, "TMPDIR="+t.TempDir())
			parent.Stderr = os.Stderr
			out, err := parent.Output()
			if err != nil {
				t.Fatalf("parent: %v", err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
			if err != nil {
				t.Fatalf("parent printed %q", out)
			}
			t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
			deadline := time.Now().Add(5 * time.Second)
			for processAlive(pid) {
				if time.Now().After(deadline) {
					t.Fatalf("backend %d still running 5s after its parent exited", pid)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// processAlive reports whether pid runs (a zombie has ended).
func processAlive(pid int) bool {
	f, err := os.Open(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	// The state follows the parenthesised command name.
	if i := strings.LastIndexByte(line, ')'); i >= 0 && i+2 < len(line) {
		return line[i+2] != 'Z' && line[i+2] != 'X'
	}
	return true
}

func TestBackendDiagnosticsGoToOpenOptionsStderrOnly(t *testing.T) {
	stderr := &syncBuffer{}
	c := openTestBackend(t, stderr)
	if _, err := c.Info(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(stderr.String(), "fake backend: info asked\n") {
		if time.Now().After(deadline) {
			t.Fatalf("the backend's stderr line did not arrive; got:\n%s", stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.Close()
	// go-plugin's chatter about starting and connecting stays out.
	for _, noise := range []string{"starting plugin", "plugin address", "waiting for RPC address", "using plugin"} {
		if strings.Contains(stderr.String(), noise) {
			t.Errorf("debug log holds go-plugin noise %q:\n%s", noise, stderr)
		}
	}
}
