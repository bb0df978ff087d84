package loadbalancer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// testOptions are the production timings made short enough for tests; the
// privilege drop is off because tests run as whoever runs them.
func testOptions() options {
	o := defaultOptions()
	o.poll = 20 * time.Millisecond
	o.dialTimeout = time.Second
	o.udpIdle = 2 * time.Second
	o.dropTo = -1
	return o
}

// logSink collects the proxy's log lines so that tests can wait for events
// instead of sleeping.
type logSink struct {
	t       testing.TB
	mu      sync.Mutex
	lines   []string
	changed chan struct{}
}

func newLogSink(t testing.TB) *logSink { return &logSink{t: t, changed: make(chan struct{})} }

func (s *logSink) logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	s.t.Log("proxy: " + line)
	s.mu.Lock()
	s.lines = append(s.lines, line)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// mark is the number of lines so far; wait looks only at lines after it.
func (s *logSink) mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.lines)
}

func (s *logSink) wait(after int, substr string) string {
	s.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		s.mu.Lock()
		for _, l := range s.lines[min(after, len(s.lines)):] {
			if strings.Contains(l, substr) {
				s.mu.Unlock()
				return l
			}
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			s.t.Fatalf("no proxy log line containing %q within 5s", substr)
		}
	}
}

func (s *logSink) count(substr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.lines {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

// running is a proxy started by a test.
type running struct {
	path   string
	ports  []uint16
	log    *logSink
	cancel context.CancelFunc
	done   chan error
}

// startProxy runs serve on nports ports of the test's choosing, with the
// config mk builds for them. Ports are found by asking the kernel for a free
// one; should another process take one before the proxy binds it, the proxy
// says so and the test starts over on new ports rather than failing.
func startProxy(t testing.TB, opts options, nports int, mk func(ports []uint16) Config) *running {
	t.Helper()
	for attempt := 0; ; attempt++ {
		r := &running{path: filepath.Join(t.TempDir(), ConfigFile), log: newLogSink(t), done: make(chan error, 1)}
		for range nports {
			r.ports = append(r.ports, freePort(t))
		}
		r.write(t, mk(r.ports))
		ctx, cancel := context.WithCancel(context.Background())
		r.cancel = cancel
		go func() { r.done <- serve(ctx, r.path, opts, r.log.logf) }()
		r.log.wait(0, "loaded ")
		if r.log.count("not opened") == 0 {
			t.Cleanup(func() { r.stop(t) })
			return r
		}
		r.stop(t)
		if attempt == 3 {
			t.Fatal("could not bind the test's ports after 4 attempts")
		}
	}
}

func (r *running) write(t testing.TB, c Config) {
	t.Helper()
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	r.writeRaw(t, b)
}

// writeRaw replaces the config file at once: a test that counts the
// proxy's reactions must not let it see a half-written file.
func (r *running) writeRaw(t testing.TB, b []byte) {
	t.Helper()
	tmp := r.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, r.path); err != nil {
		t.Fatal(err)
	}
}

// stop cancels the proxy and returns how long it took to return.
func (r *running) stop(t testing.TB) time.Duration {
	t.Helper()
	start := time.Now()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("serve returned %v", err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return within 5s of cancel")
	}
	return time.Since(start)
}

func (r *running) addr(i int) string { return fmt.Sprintf("127.0.0.1:%d", r.ports[i]) }

func freePort(t testing.TB) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// backend is a TCP upstream that greets each connection with its name and a
// newline, then echoes until the client half-closes.
type backend struct {
	name  string
	addr  string
	conns atomic.Int64
}

func newBackend(t testing.TB, name string) *backend {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, addr: l.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b.conns.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.WriteString(c, name+"\n")
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return b
}

// deadAddr is an address where nothing listens: connections are refused.
func deadAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freePort(t))
}

// greeting connects through addr and returns the backend's name and the
// open connection.
func greeting(t testing.TB, addr string) (string, *net.TCPConn) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	// Byte by byte: a buffered reader would swallow echoed data.
	var sb strings.Builder
	buf := make([]byte, 1)
	for {
		if _, err := c.Read(buf); err != nil {
			t.Fatalf("read greeting through %s: %v (got %q)", addr, err, sb.String())
		}
		if buf[0] == '\n' {
			break
		}
		sb.WriteByte(buf[0])
	}
	return sb.String(), c.(*net.TCPConn)
}

// echo sends msg on c and reads it back.
func echo(t testing.TB, c net.Conn, msg string) {
	t.Helper()
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write through proxy: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read echo through proxy: %v", err)
	}
	if string(buf) != msg {
		t.Fatalf("echo: got %q, want %q", buf, msg)
	}
}

// refused reports whether nothing accepts connections at addr any more.
func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return errors.Is(err, syscall.ECONNREFUSED)
	}
	c.Close()
	return false
}

func dialTCP(addr string) (*net.TCPConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}
