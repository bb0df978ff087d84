package backends_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/internal/testbackend"
)

const bigStream = 200 << 20

// prompt bounds how long cancellation may take to reach the other side.
const prompt = 5 * time.Second

func patternSum(n int64) string {
	h := sha256.New()
	if _, err := io.Copy(h, testbackend.Pattern(n)); err != nil {
		panic(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// bothWays runs a test against the fake in-process and as a backend program.
func bothWays(t *testing.T, test func(t *testing.T, c *backends.Client, f *testbackend.Fake)) {
	t.Run("in-process", func(t *testing.T) {
		f := testbackend.New()
		test(t, backends.ConnectInProcess(t, f), f)
	})
	t.Run("backend-program", func(t *testing.T) {
		test(t, openTestBackend(t, nil), nil)
	})
}

func TestBigStreamsArriveIntact(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 200 MB several times")
	}
	want := patternSum(bigStream)
	bothWays(t, func(t *testing.T, c *backends.Client, _ *testbackend.Fake) {
		ctx := context.Background()
		t.Run("ImageLoad up", func(t *testing.T) {
			refs, err := c.ImageLoad(ctx, testbackend.Pattern(bigStream))
			if err != nil {
				t.Fatal(err)
			}
			if wantRefs := []string{"sha256:" + want, fmt.Sprint("size:", bigStream)}; strings.Join(refs, " ") != strings.Join(wantRefs, " ") {
				t.Errorf("backend received %v, want %v", refs, wantRefs)
			}
		})
		t.Run("ImageSave down", func(t *testing.T) {
			rc, err := c.ImageSave(ctx, []string{fmt.Sprint("pattern:", bigStream)})
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			h := sha256.New()
			n, err := io.Copy(h, rc)
			if err != nil || n != bigStream || hex.EncodeToString(h.Sum(nil)) != want {
				t.Errorf("received %d bytes (err %v), hash match %v", n, err, hex.EncodeToString(h.Sum(nil)) == want)
			}
		})
		t.Run("Exec stdin echoed on stdout", func(t *testing.T) {
			h := sha256.New()
			code, err := c.Exec(ctx, "n", backends.ExecSpec{Cmd: []string{"cat"}, Stdin: testbackend.Pattern(bigStream), Stdout: h})
			if err != nil || code != 0 || hex.EncodeToString(h.Sum(nil)) != want {
				t.Errorf("exec cat: code %d, err %v, hash match %v", code, err, hex.EncodeToString(h.Sum(nil)) == want)
			}
		})
	})
}

func TestCopyToNodeAndReadFile(t *testing.T) {
	bothWays(t, func(t *testing.T, c *backends.Client, _ *testbackend.Fake) {
		ctx := context.Background()
		const size = 3<<20 + 17 // not a multiple of any chunk size
		if err := c.CopyToNode(ctx, "n", "/etc", testbackend.Pattern(size)); err != nil {
			t.Fatal(err)
		}
		rc, err := c.ReadFile(ctx, "n", "/copied/etc")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != patternSum(size) {
			t.Errorf("backend received a stream hashing to %q (err %v), want %q", got, err, patternSum(size))
		}
		rc, err = c.ReadFile(ctx, "n", fmt.Sprint("/pattern/", size))
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		h := sha256.New()
		if n, err := io.Copy(h, rc); err != nil || n != size || hex.EncodeToString(h.Sum(nil)) != patternSum(size) {
			t.Errorf("ReadFile gave %d bytes (err %v), hash match %v", n, err, hex.EncodeToString(h.Sum(nil)) == patternSum(size))
		}
	})
}

func TestExecKeepsStdoutAndStderrApartAndReturnsTheExitCode(t *testing.T) {
	bothWays(t, func(t *testing.T, c *backends.Client, _ *testbackend.Fake) {
		var stdout, stderr strings.Builder
		code, err := c.Exec(context.Background(), "n", backends.ExecSpec{Cmd: []string{"split", "OUT", "ERR", "3"}, Stdout: &stdout, Stderr: &stderr})
		if err != nil {
			t.Fatal(err)
		}
		if code != 3 {
			t.Errorf("exit code %d, want 3", code)
		}
		if stdout.String() != "OUT 0\nOUT 1\nOUT 2\n" || stderr.String() != "ERR 0\nERR 1\nERR 2\n" {
			t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
		}
		// Nil writers discard; the exit code still arrives.
		code, err = c.Exec(context.Background(), "n", backends.ExecSpec{Cmd: []string{"split", "a", "b", "0"}})
		if err != nil || code != 0 {
			t.Errorf("exec with nil writers: %d, %v", code, err)
		}
	})
}

func TestExecReturnsWhenTheCommandEndsWithoutReadingStdin(t *testing.T) {
	bothWays(t, func(t *testing.T, c *backends.Client, _ *testbackend.Fake) {
		// A stdin that never yields anything, like a terminal nobody types in.
		pr, pw := io.Pipe()
		defer pw.Close()
		done := make(chan struct{})
		var code int
		var err error
		go func() {
			defer close(done)
			code, err = c.Exec(context.Background(), "n", backends.ExecSpec{Cmd: []string{"exit-early", "7"}, Stdin: pr})
		}()
		select {
		case <-done:
		case <-time.After(prompt):
			t.Fatal("Exec waited for stdin after the command had ended")
		}
		if err != nil || code != 7 {
			t.Errorf("Exec = %d, %v; want 7", code, err)
		}
	})
}

func TestLogsFollowDeliversUntilCancelled(t *testing.T) {
	bothWays(t, func(t *testing.T, c *backends.Client, f *testbackend.Fake) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		rc, err := c.Logs(ctx, "n", backends.LogOptions{Follow: true})
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		lines := bufio.NewScanner(rc)
		for i := 0; i < 20; i++ {
			if !lines.Scan() {
				t.Fatalf("log stream ended after %d lines: %v", i, lines.Err())
			}
			if want := fmt.Sprint("line ", i); lines.Text() != want {
				t.Fatalf("line %d is %q, want %q", i, lines.Text(), want)
			}
		}
		cancel()
		start := time.Now()
		for lines.Scan() {
			if time.Since(start) > prompt {
				t.Fatal("log stream still delivering after cancel")
			}
		}
		if !errors.Is(lines.Err(), context.Canceled) {
			t.Errorf("after cancel, reading gives %v, want context.Canceled", lines.Err())
		}
		if f != nil {
			waitEvent(t, f, "logs stopped")
		}
	})
}

func TestLogsWithoutFollowEnd(t *testing.T) {
	c := backends.ConnectInProcess(t, testbackend.New())
	rc, err := c.Logs(context.Background(), "n", backends.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || string(got) != "line 0\nline 1\nline 2\n" {
		t.Errorf("logs = %q, %v", got, err)
	}
}

func TestClosingAReaderStopsTheBackendSide(t *testing.T) {
	for _, tc := range []struct {
		name  string
		open  func(c *backends.Client) (io.ReadCloser, error)
		event string
	}{
		{"Logs", func(c *backends.Client) (io.ReadCloser, error) {
			return c.Logs(context.Background(), "n", backends.LogOptions{Follow: true})
		}, "logs stopped"},
		{"ImageSave", func(c *backends.Client) (io.ReadCloser, error) {
			return c.ImageSave(context.Background(), []string{"endless"})
		}, "image save closed"},
		{"ReadFile", func(c *backends.Client) (io.ReadCloser, error) {
			return c.ReadFile(context.Background(), "n", "/pattern/100000000000")
		}, "read file closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := testbackend.New()
			c := backends.ConnectInProcess(t, f)
			rc, err := tc.open(c)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(rc, make([]byte, 64)); err != nil {
				t.Fatal(err)
			}
			// Close from another goroutine while a Read may be waiting.
			readErr := make(chan error, 1)
			go func() {
				_, err := io.Copy(io.Discard, rc)
				readErr <- err
			}()
			rc.Close()
			waitEvent(t, f, tc.event)
			select {
			case err := <-readErr:
				if err == nil {
					t.Error("reading a closed stream reported a clean end")
				}
			case <-time.After(prompt):
				t.Fatal("Read did not return after Close")
			}
		})
	}
}

func TestCancellingAnUploadStopsBothSides(t *testing.T) {
	for _, tc := range []struct {
		name   string
		upload func(ctx context.Context, c *backends.Client, r io.Reader) error
		event  string
	}{
		{"ImageLoad", func(ctx context.Context, c *backends.Client, r io.Reader) error {
			_, err := c.ImageLoad(ctx, r)
			return err
		}, "image load: stream ended: context canceled (context: context canceled)"},
		{"CopyToNode", func(ctx context.Context, c *backends.Client, r io.Reader) error {
			return c.CopyToNode(ctx, "n", "/block", r)
		}, "copy: stream ended: context canceled (context: context canceled)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := testbackend.New()
			c := backends.ConnectInProcess(t, f)
			// 1 MiB arrives, then the input blocks forever, like a slow pipe.
			pr, pw := io.Pipe()
			defer pw.Close()
			go func() { _, _ = io.Copy(pw, testbackend.Pattern(1<<20)) }()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- tc.upload(ctx, c, pr) }()
			time.AfterFunc(100*time.Millisecond, cancel)
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("got %v, want context.Canceled", err)
				}
			case <-time.After(prompt):
				t.Fatal("upload did not return after cancel")
			}
			waitEvent(t, f, tc.event)
		})
	}
}

func TestABackendFailingEarlyStopsTheUpload(t *testing.T) {
	bothWays(t, func(t *testing.T, c *backends.Client, _ *testbackend.Fake) {
		// The fake fails after 1 MiB; the client must not push all 100 GB.
		start := time.Now()
		err := c.CopyToNode(context.Background(), "n", "/fail-early", testbackend.Pattern(100<<30))
		if !backends.IsInvalid(err) || !strings.Contains(err.Error(), "no such directory") {
			t.Errorf("got %v, want the backend's ErrInvalid", err)
		}
		if time.Since(start) > prompt {
			t.Errorf("took %v", time.Since(start))
		}
	})
}

func TestCancellingACallReachesTheBackend(t *testing.T) {
	t.Run("Exec", func(t *testing.T) {
		f := testbackend.New()
		c := backends.ConnectInProcess(t, f)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := c.Exec(ctx, "n", backends.ExecSpec{Cmd: []string{"block"}, Stdin: strings.NewReader("x")})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
		waitEvent(t, f, "exec: context done")
	})
	t.Run("InspectNode deadline", func(t *testing.T) {
		f := testbackend.New()
		c := backends.ConnectInProcess(t, f)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := c.InspectNode(ctx, "block")
		if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "inspect node block: ") {
			t.Errorf("got %v, want context.DeadlineExceeded saying what was done", err)
		}
		waitEvent(t, f, "inspect node: context done")
	})
	t.Run("backend program", func(t *testing.T) {
		c := openTestBackend(t, nil)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		_, err := c.Exec(ctx, "n", backends.ExecSpec{Cmd: []string{"block"}})
		if !errors.Is(err, context.Canceled) || time.Since(start) > prompt {
			t.Errorf("got %v after %v, want context.Canceled promptly", err, time.Since(start))
		}
		// The backend is still usable.
		if _, err := c.Info(context.Background()); err != nil {
			t.Errorf("Info after a cancelled call: %v", err)
		}
	})
}

// waitEvent waits for the fake to report something starting with want.
func waitEvent(t *testing.T, f *testbackend.Fake, want string) {
	t.Helper()
	timeout := time.After(prompt)
	for {
		select {
		case e := <-f.Events:
			if strings.HasPrefix(e, want) {
				return
			}
		case <-timeout:
			t.Fatalf("the backend side never reported %q", want)
		}
	}
}
