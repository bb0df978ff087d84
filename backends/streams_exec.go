package backends

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	pb "github.com/k3d/k3d/backends/internal/runtimepb"
)

// Exec is one bidirectional stream: k3d sends the command, then stdin chunks
// and a close_stdin marker; the backend sends stdout and stderr chunks as they
// come and the exit code last.

// errExecEnded stops a stdin copy that the command no longer reads.
var errExecEnded = errors.New("exec ended")

func (s *server) Exec(stream pb.Runtime_ExecServer) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	start := first.GetStart()
	if start == nil {
		return toStatus(NewError(ErrInvalid, "exec", "the stream did not start with the command"))
	}
	out := &execSender{stream: stream}
	spec := ExecSpec{
		Cmd:     start.GetCmd(),
		Env:     start.GetEnv(),
		WorkDir: start.GetWorkDir(),
		User:    start.GetUser(),
		Stdout:  out.writer(false),
		Stderr:  out.writer(true),
	}
	if start.GetHasStdin() {
		// A pipe hands each chunk to the runtime only as fast as the command
		// reads it, which keeps memory flat and pushes back on k3d through
		// gRPC's flow control.
		pr, pw := io.Pipe()
		spec.Stdin = pr
		defer pr.CloseWithError(errExecEnded)
		go func() {
			for {
				m, err := stream.Recv()
				if err != nil {
					if ctx.Err() != nil {
						err = ctx.Err()
					} else if err == io.EOF {
						err = nil // k3d closed its side without the marker
					}
					pw.CloseWithError(err)
					return
				}
				switch in := m.GetInput().(type) {
				case *pb.ExecInput_Stdin:
					if _, err := pw.Write(in.Stdin); err != nil {
						return
					}
				case *pb.ExecInput_CloseStdin:
					pw.Close()
					return
				}
			}
		}()
	}
	code, err := s.rt.Exec(ctx, start.GetNode(), spec)
	if err != nil {
		return toStatus(err)
	}
	return out.send(&pb.ExecOutput{Output: &pb.ExecOutput_ExitCode{ExitCode: int32(code)}})
}

// execSender serialises the runtime's stdout and stderr writes, which may come
// from two goroutines, onto the one stream.
type execSender struct {
	mu     sync.Mutex
	stream pb.Runtime_ExecServer
}

func (s *execSender) send(m *pb.ExecOutput) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stream.Send(m)
}

func (s *execSender) writer(stderr bool) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		written := 0
		for len(p) > 0 {
			n := min(len(p), chunkSize)
			var m *pb.ExecOutput
			if stderr {
				m = &pb.ExecOutput{Output: &pb.ExecOutput_Stderr{Stderr: p[:n]}}
			} else {
				m = &pb.ExecOutput{Output: &pb.ExecOutput_Stdout{Stdout: p[:n]}}
			}
			if err := s.send(m); err != nil {
				return written, err
			}
			written += n
			p = p[n:]
		}
		return written, nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func (c *Client) Exec(ctx context.Context, node string, spec ExecSpec) (int, error) {
	const method = "Exec"
	what := fmt.Sprintf("exec %q in node %s", spec.Cmd, node)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.Exec(sctx)
	if err != nil {
		return 0, c.callError(ctx, method, what, err)
	}
	err = stream.Send(&pb.ExecInput{Input: &pb.ExecInput_Start{Start: &pb.ExecStart{
		Node:     node,
		Cmd:      spec.Cmd,
		Env:      spec.Env,
		WorkDir:  spec.WorkDir,
		User:     spec.User,
		HasStdin: spec.Stdin != nil,
	}}})
	if err != nil && err != io.EOF {
		return 0, c.callError(ctx, method, what, err)
	}

	var stdin *stdinPump
	if err == nil {
		stdin = startStdin(spec.Stdin, func(r io.Reader) error { return sendStdin(r, stream) }, stream.CloseSend, cancel)
	}

	stdout, stderr := spec.Stdout, spec.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	code, gotExit := 0, false
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			if serr := stdin.failure(sctx, ctx); serr != nil {
				return 0, fmt.Errorf("%s: read stdin: %w", what, serr)
			}
			return 0, c.callError(ctx, method, what, err)
		}
		switch o := m.GetOutput().(type) {
		case *pb.ExecOutput_Stdout:
			if _, err := stdout.Write(o.Stdout); err != nil {
				return 0, fmt.Errorf("%s: write stdout: %w", what, err)
			}
		case *pb.ExecOutput_Stderr:
			if _, err := stderr.Write(o.Stderr); err != nil {
				return 0, fmt.Errorf("%s: write stderr: %w", what, err)
			}
		case *pb.ExecOutput_ExitCode:
			code, gotExit = int(o.ExitCode), true
		}
	}
	if !gotExit {
		return 0, fmt.Errorf("%s: backend %s ended the exec without an exit code", what, c.name)
	}
	return code, nil
}

// stdinPump sends a call's stdin on a goroutine of its own: the command may
// end without reading its stdin, and the call returns then even if the
// caller's reader blocks (the goroutine ends at that reader's next return).
type stdinPump struct {
	done sync.WaitGroup
	// err is set when reading the caller's stdin failed; the call is then
	// cancelled and this error reported instead of the cancellation.
	err error
}

// startStdin sends r with send, cancelling the call if reading r fails;
// with no r it closes the sending side at once.
func startStdin(r io.Reader, send func(io.Reader) error, closeSend func() error, cancel func()) *stdinPump {
	p := &stdinPump{}
	if r == nil {
		_ = closeSend()
		return p
	}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		if err := send(r); err != nil {
			p.err = err
			cancel()
		}
	}()
	return p
}

// failure is the stdin read error behind a failed stream, if that is what
// cancelled it: only the pump cancels the call's context (callCtx) on its
// own, while the caller's (ctx) is still live.
func (p *stdinPump) failure(callCtx, ctx context.Context) error {
	if p == nil || callCtx.Err() == nil || ctx.Err() != nil {
		return nil
	}
	p.done.Wait()
	return p.err
}

// sendStdin copies the caller's stdin to the exec stream, then closes it.
func sendStdin(r io.Reader, stream pb.Runtime_ExecClient) error {
	msg := &pb.ExecInput_Stdin{}
	return sendChunks(r, func(b []byte) error {
		msg.Stdin = b
		return stream.Send(&pb.ExecInput{Input: msg})
	}, func() {
		if err := stream.Send(&pb.ExecInput{Input: &pb.ExecInput_CloseStdin{CloseStdin: &pb.Empty{}}}); err == nil {
			_ = stream.CloseSend()
		}
	})
}

// sendChunks sends what each Read of r returns at once (an interactive
// command must see its input without waiting for a chunk to fill), then
// calls finish at EOF. A failed send ends it quietly: the call is over and
// its status tells how. Only a failed read of r is returned.
func sendChunks(r io.Reader, send func([]byte) error, finish func()) error {
	buf := make([]byte, chunkSize)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if serr := send(buf[:n]); serr != nil {
				return nil
			}
		}
		if err == io.EOF {
			finish()
			return nil
		}
		if err != nil {
			return err
		}
	}
}
