package backends

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// ExecAllSpec is one command run in several nodes at once, all reading the
// same stdin, which is read once (an image stream fanned out to every node).
type ExecAllSpec struct {
	Nodes   []string
	Cmd     []string
	Env     []string
	WorkDir string
	User    string
	// Stdin is read once and every node's command gets all of it; nil gives
	// each an empty stdin. A command that ends without reading all of it is
	// dropped from the copy and the others go on.
	Stdin io.Reader
	// StdinImages, instead of Stdin, has the runtime itself save these
	// images (ImageSave, retagged as RetagArchive does) as the commands'
	// stdin: an image import whose stream never leaves the backend.
	StdinImages []string
	// Done, if set, is called as each node's command ends, one call at a
	// time, with its index in Nodes.
	Done func(i int, r ExecResult)
	// Progress, if set, is told how many bytes of stdin were handed to the
	// commands so far, now and then and at the end.
	Progress func(stdinBytes int64)
}

// ExecResult is how one node's command of an ExecAll ended.
type ExecResult struct {
	// ExitCode is the command's; meaningful when Err is nil.
	ExitCode int
	// Err says the command could not run or finish (a contract error:
	// ErrNotRunning, ErrNotFound, ...); a non-zero exit is not an error.
	Err error
	// Stdout and Stderr are the last outputLimit bytes of the command's.
	Stdout, Stderr []byte
	// Unread is true when the command ended before reading all of Stdin.
	Unread bool
}

// outputLimit bounds what ExecResult keeps of a command's output: ExecAll is
// for commands whose input matters, not their output.
const outputLimit = 64 << 10

// AllExecer is a Runtime that fans one stdin out to several nodes by itself.
// The protocol's Client is one: the stream then crosses the process boundary
// once instead of once per node.
type AllExecer interface {
	ExecAll(ctx context.Context, spec ExecAllSpec) ([]ExecResult, error)
}

// ExecAll runs spec on rt, through rt's own ExecAll when it has one, else
// one Exec per node with stdin teed. The results are in the order of
// spec.Nodes; the error is only for stdin itself failing (then every node
// that had not ended gets it too).
func ExecAll(ctx context.Context, rt Runtime, spec ExecAllSpec) ([]ExecResult, error) {
	if a, ok := rt.(AllExecer); ok {
		return a.ExecAll(ctx, spec)
	}
	return teeExec(ctx, rt, spec)
}

// errExecAllEnded ends a node's stdin pipe once its command has returned, so
// that the copy stops feeding it instead of blocking.
var errExecAllEnded = errors.New("command ended")

// teeSink is one node's stdin during teeExec.
type teeSink struct {
	pw *io.PipeWriter
	// dead: a write failed, the command no longer reads (the copy's own
	// flag; lost is the same news for the node's side).
	dead bool
	mu   sync.Mutex
	// closed: all of stdin was handed over; srcErr: stdin failed instead;
	// lost: some of stdin could not be handed over. settled is closed at
	// the first of these.
	closed  bool
	srcErr  error
	lost    bool
	settled chan struct{}
	once    sync.Once
}

func newTeeSink(pw *io.PipeWriter) *teeSink {
	return &teeSink{pw: pw, settled: make(chan struct{})}
}

func (s *teeSink) lose() {
	s.mu.Lock()
	s.lost = true
	s.mu.Unlock()
	s.once.Do(func() { close(s.settled) })
}

func (s *teeSink) end(srcErr error) {
	s.mu.Lock()
	s.closed, s.srcErr = srcErr == nil, srcErr
	s.mu.Unlock()
	s.once.Do(func() { close(s.settled) })
	if srcErr != nil {
		s.pw.CloseWithError(srcErr)
	} else {
		s.pw.Close()
	}
}

// teeExec is ExecAll on top of Exec: each chunk of stdin is handed to every
// live node before the next is read, so memory stays at one chunk and the
// slowest node sets the pace (each node has to read everything anyway).
func teeExec(ctx context.Context, rt Runtime, spec ExecAllSpec) ([]ExecResult, error) {
	if len(spec.StdinImages) > 0 {
		if spec.Stdin != nil {
			return nil, NewError(ErrInvalid, "exec", "both stdin and images to save as stdin")
		}
		rc, err := rt.ImageSave(ctx, spec.StdinImages)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		tagged := RetagArchive(rc, spec.StdinImages)
		defer tagged.Close()
		spec.Stdin = tagged
	}
	if spec.Stdin != nil && spec.Progress != nil {
		spec.Stdin = &progressReader{r: spec.Stdin, report: spec.Progress}
		defer spec.Stdin.(*progressReader).flush()
	}
	results := make([]ExecResult, len(spec.Nodes))
	sinks := make([]*teeSink, len(spec.Nodes))
	var doneMu sync.Mutex
	var wg sync.WaitGroup
	for i, node := range spec.Nodes {
		var stdin io.Reader
		var pr *io.PipeReader
		if spec.Stdin != nil {
			var pw *io.PipeWriter
			pr, pw = io.Pipe()
			sinks[i] = newTeeSink(pw)
			stdin = pr
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			stdout, stderr := &tailBuffer{max: outputLimit}, &tailBuffer{max: outputLimit}
			code, err := rt.Exec(ctx, node, ExecSpec{Cmd: spec.Cmd, Env: spec.Env, WorkDir: spec.WorkDir, User: spec.User, Stdin: stdin, Stdout: stdout, Stderr: stderr})
			res := ExecResult{ExitCode: code, Err: err, Stdout: stdout.bytes(), Stderr: stderr.bytes()}
			if pr != nil {
				// A command that read everything sees this only as EOF.
				pr.CloseWithError(errExecAllEnded)
				s := sinks[i]
				if res.Err == nil {
					// A command may read the last byte and end before stdin's
					// end is known here (a tar reader stops at the archive's
					// end marker): it left stdin unread only if more comes.
					<-s.settled
				}
				s.mu.Lock()
				switch {
				case res.Err != nil:
				case s.srcErr != nil:
					res.Err = s.srcErr
				case s.lost:
					res.Unread = true
				}
				s.mu.Unlock()
			}
			results[i] = res
			if spec.Done != nil {
				doneMu.Lock()
				spec.Done(i, res)
				doneMu.Unlock()
			}
		}()
	}
	var readErr error
	if spec.Stdin != nil {
		readErr = copyToAll(ctx, spec.Stdin, sinks)
		for _, s := range sinks {
			s.end(readErr)
		}
	}
	wg.Wait()
	return results, readErr
}

// copyToAll reads r until EOF and writes each chunk to every sink still
// reading, all at once. It fails only when r does or ctx ends.
func copyToAll(ctx context.Context, r io.Reader, sinks []*teeSink) error {
	buf := make([]byte, chunkSize)
	var wg sync.WaitGroup
	for {
		n, err := r.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			for _, s := range sinks {
				if s.dead {
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := s.pw.Write(chunk); err != nil {
						s.dead = true
						s.lose()
					}
				}()
			}
			wg.Wait()
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// progressReportEvery spaces stdin progress reports.
const progressReportEvery = 100 * time.Millisecond

// progressReader reports the bytes read through it.
type progressReader struct {
	r      io.Reader
	report func(int64)
	n      int64
	last   time.Time
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if now := time.Now(); now.Sub(p.last) >= progressReportEvery {
		p.last = now
		p.report(p.n)
	}
	return n, err
}

func (p *progressReader) flush() { p.report(p.n) }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.b...)
}
