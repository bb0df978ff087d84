package backends

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
)

// process runs a backend program for go-plugin (it is the runner.Runner that
// ClientConfig.RunnerFunc hands back). Owning it lets k3d set the child's
// death signal, keep k3d's stdin away from it, read the handshake line for a
// clear version error, and learn the exit status the moment the child ends.
type process struct {
	path string
	cmd  *exec.Cmd

	mu     sync.Mutex // guards pid, killed and cmd.Process
	pid    int
	killed bool // Kill came first: Start must not start it

	stdout *handshakeReader
	stderr io.ReadCloser

	done    chan struct{} // closed once the process has been waited for
	waitErr error         // set before done is closed
}

func newProcess(path string, env []string) (*process, error) {
	cmd := exec.Command(path)
	cmd.Env = env
	// The backend has no business with k3d's stdin (a user may be piping an
	// image into k3d); go-plugin would otherwise pass it through.
	cmd.Stdin = nil
	setDeathSignal(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	return &process{
		path:   path,
		cmd:    cmd,
		stdout: &handshakeReader{r: stdout},
		stderr: stderr,
		done:   make(chan struct{}),
	}, nil
}

func (p *process) Start(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.killed {
		return errStartCancelled
	}
	if err := p.cmd.Start(); err != nil {
		return err
	}
	p.pid = p.cmd.Process.Pid
	return nil
}

var errStartCancelled = errors.New("start cancelled")

// Wait is called once, by go-plugin, after the child's stdout and stderr have
// been read to the end.
func (p *process) Wait(context.Context) error {
	err := p.cmd.Wait()
	p.waitErr = err
	close(p.done)
	return err
}

func (p *process) Kill(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.killed = true
	if p.cmd.Process == nil {
		return nil
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func (p *process) Stdout() io.ReadCloser           { return p.stdout }
func (p *process) Stderr() io.ReadCloser           { return p.stderr }
func (p *process) Name() string                    { return p.path }
func (p *process) Diagnose(context.Context) string { return "" }

func (p *process) ID() string {
	if pid := p.processID(); pid != 0 {
		return strconv.Itoa(pid)
	}
	return ""
}

// processID is the child's pid, 0 before it started.
func (p *process) processID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

func (p *process) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (p *process) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}

// exited reports whether the process has ended and, if so, how.
func (p *process) exited() (bool, string) {
	select {
	case <-p.done:
		if p.waitErr == nil {
			return true, "exit status 0"
		}
		return true, p.waitErr.Error()
	default:
		return false, ""
	}
}

// handshakeReader passes the backend's stdout to go-plugin and keeps its first
// line: the handshake "core|protocol|network|address|grpc|".
type handshakeReader struct {
	r io.ReadCloser

	mu   sync.Mutex
	line []byte
	seen bool // the first newline has been read
}

func (h *handshakeReader) Read(b []byte) (int, error) {
	n, err := h.r.Read(b)
	h.mu.Lock()
	if !h.seen && n > 0 {
		chunk := b[:n]
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			chunk = chunk[:i]
			h.seen = true
		}
		if len(h.line) < 4096 {
			h.line = append(h.line, chunk...)
		}
	}
	h.mu.Unlock()
	return n, err
}

func (h *handshakeReader) Close() error { return h.r.Close() }

func (h *handshakeReader) firstLine() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.TrimSpace(string(h.line))
}

// handshakeProtocol returns the protocol version a backend announced in its
// handshake line, or false when the line is not a go-plugin handshake.
func handshakeProtocol(line string) (int, bool) {
	parts := strings.Split(line, "|")
	if len(parts) < 4 {
		return 0, false
	}
	v, err := strconv.Atoi(parts[1])
	if err != nil {
		return 0, false
	}
	return v, true
}

// lastLines keeps what a dying backend said last on stderr, to explain its end.
type lastLines struct {
	mu    sync.Mutex
	panic string // first "panic: " or "fatal error: " line
	last  string
}

func (l *lastLines) add(line string) {
	line = strings.TrimSpace(line)
	if line == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.panic == "" && (strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ")) {
		l.panic = line
	}
	l.last = line
}

// reason is the line that best explains a backend's end, or "".
func (l *lastLines) reason() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.panic
	if s == "" {
		s = l.last
	}
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// lineSink gathers a backend's output lines (raw stderr, the stdout and stderr
// it writes after Serve started, go-plugin's own log) into one writer, one
// whole line per Write so that lines from different sources never mix.
type lineSink struct {
	mu   sync.Mutex
	out  io.Writer // nil discards
	tail lastLines
}

// writer returns a writer for one source of lines; the lines of sources that
// are the backend's own (not go-plugin's log) are kept to explain its end.
func (s *lineSink) writer(prefix string, backends bool) *lineWriter {
	return &lineWriter{sink: s, prefix: prefix, backends: backends}
}

type lineWriter struct {
	sink     *lineSink
	prefix   string
	backends bool
	buf      []byte
}

const maxLogLine = 64 << 10

func (w *lineWriter) Write(b []byte) (int, error) {
	w.sink.mu.Lock()
	defer w.sink.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			w.buf = append(w.buf, b...)
			if len(w.buf) >= maxLogLine {
				w.emit()
			}
			break
		}
		w.buf = append(w.buf, b[:i]...)
		b = b[i+1:]
		w.emit()
	}
	return n, nil
}

// emit writes the buffered line; the caller holds the sink's lock.
func (w *lineWriter) emit() {
	line := string(w.buf)
	w.buf = w.buf[:0]
	if w.backends {
		w.sink.tail.add(line)
	}
	if w.sink.out != nil {
		_, _ = fmt.Fprintf(w.sink.out, "%s%s\n", w.prefix, line)
	}
}

// flush writes out a last line that had no newline.
func (w *lineWriter) flush() {
	w.sink.mu.Lock()
	defer w.sink.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit()
	}
}
