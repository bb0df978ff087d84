package backends

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/k3d/k3d/backends/internal/runtimepb"
)

// ExecAll crosses the process boundary once: the backend tees stdin to each
// node's Exec (teeExec) and sends back one result per node as it ends.
func (s *server) ExecAll(stream pb.Runtime_ExecAllServer) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	start := first.GetStart()
	if start == nil {
		return toStatus(NewError(ErrInvalid, "exec", "the stream did not start with the command"))
	}
	var sendMu sync.Mutex
	var sendErr error
	send := func(m *pb.ExecAllOutput) {
		sendMu.Lock()
		defer sendMu.Unlock()
		if sendErr == nil {
			sendErr = stream.Send(m)
		}
	}
	spec := ExecAllSpec{
		Nodes: start.GetNodes(), Cmd: start.GetCmd(), Env: start.GetEnv(),
		WorkDir: start.GetWorkDir(), User: start.GetUser(), StdinImages: start.GetStdinImages(),
		Progress: func(n int64) {
			send(&pb.ExecAllOutput{Output: &pb.ExecAllOutput_StdinBytes{StdinBytes: n}})
		},
		Done: func(i int, r ExecResult) {
			m := &pb.ExecAllResult{Index: int32(i), ExitCode: int32(r.ExitCode), Stdout: r.Stdout, Stderr: r.Stderr, Unread: r.Unread}
			if r.Err != nil {
				m.Error = errorBytes(r.Err)
			}
			send(&pb.ExecAllOutput{Output: &pb.ExecAllOutput_Result{Result: m}})
		},
	}
	if start.GetHasStdin() {
		spec.Stdin = &execAllStdin{stream: stream}
	}
	if _, err := ExecAll(ctx, s.rt, spec); err != nil {
		return toStatus(err)
	}
	return sendErr
}

// execAllStdin reads the stdin messages of an ExecAll stream.
type execAllStdin struct {
	stream pb.Runtime_ExecAllServer
	buf    []byte
	done   bool
}

func (r *execAllStdin) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.done {
			return 0, io.EOF
		}
		m, err := r.stream.Recv()
		if err != nil {
			if ctx := r.stream.Context(); ctx.Err() != nil {
				return 0, ctx.Err()
			}
			if err == io.EOF {
				// k3d closed its side without the marker: nothing more comes.
				r.done = true
				return 0, io.EOF
			}
			return 0, err
		}
		switch in := m.GetInput().(type) {
		case *pb.ExecAllInput_Stdin:
			r.buf = in.Stdin
		case *pb.ExecAllInput_CloseStdin:
			r.done = true
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// errorBytes is err as the status a failed call would carry, in wire form.
func errorBytes(err error) []byte {
	st, _ := status.FromError(toStatus(err))
	b, merr := proto.Marshal(st.Proto())
	if merr != nil {
		b, _ = proto.Marshal(status.New(codes.Unknown, err.Error()).Proto())
	}
	return b
}

// errorFromBytes turns errorBytes back into an error of the same kind.
func errorFromBytes(b []byte) error {
	var sp spb.Status
	if err := proto.Unmarshal(b, &sp); err != nil {
		return fmt.Errorf("unreadable error from the backend: %w", err)
	}
	st := status.FromProto(&sp)
	if err, ok := fromDetail(st); ok {
		return err
	}
	return errors.New(st.Message())
}

// ExecAll implements AllExecer: stdin is sent to the backend once.
func (c *Client) ExecAll(ctx context.Context, spec ExecAllSpec) ([]ExecResult, error) {
	const method = "ExecAll"
	what := fmt.Sprintf("exec %q in %d nodes", spec.Cmd, len(spec.Nodes))
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.ExecAll(sctx)
	if err != nil {
		return nil, c.callError(ctx, method, what, err)
	}
	err = stream.Send(&pb.ExecAllInput{Input: &pb.ExecAllInput_Start{Start: &pb.ExecAllStart{
		Nodes: spec.Nodes, Cmd: spec.Cmd, Env: spec.Env, WorkDir: spec.WorkDir, User: spec.User,
		HasStdin: spec.Stdin != nil, StdinImages: spec.StdinImages,
	}}})
	if err != nil && err != io.EOF {
		return nil, c.callError(ctx, method, what, err)
	}
	var stdin *stdinPump
	if err == nil {
		stdin = startStdin(spec.Stdin, func(r io.Reader) error { return sendExecAllStdin(r, stream) }, stream.CloseSend, cancel)
	}

	results := make([]ExecResult, len(spec.Nodes))
	got := make([]bool, len(spec.Nodes))
	for {
		out, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			if serr := stdin.failure(sctx, ctx); serr != nil {
				return nil, fmt.Errorf("%s: read stdin: %w", what, serr)
			}
			return nil, c.callError(ctx, method, what, err)
		}
		if p, ok := out.GetOutput().(*pb.ExecAllOutput_StdinBytes); ok {
			if spec.Progress != nil {
				spec.Progress(p.StdinBytes)
			}
			continue
		}
		m := out.GetResult()
		if m == nil {
			continue // a newer backend's message this k3d does not know
		}
		i := int(m.GetIndex())
		if i < 0 || i >= len(results) || got[i] {
			return nil, fmt.Errorf("%s: backend %s sent a result for node %d of %d", what, c.name, i, len(results))
		}
		r := ExecResult{ExitCode: int(m.GetExitCode()), Stdout: m.GetStdout(), Stderr: m.GetStderr(), Unread: m.GetUnread()}
		if b := m.GetError(); len(b) > 0 {
			r.Err = fmt.Errorf("exec %q in node %s: %w", spec.Cmd, spec.Nodes[i], errorFromBytes(b))
		}
		results[i], got[i] = r, true
		if spec.Done != nil {
			spec.Done(i, r)
		}
	}
	for i, ok := range got {
		if !ok {
			return nil, fmt.Errorf("%s: backend %s ended without a result for node %s", what, c.name, spec.Nodes[i])
		}
	}
	return results, nil
}

func sendExecAllStdin(r io.Reader, stream pb.Runtime_ExecAllClient) error {
	msg := &pb.ExecAllInput_Stdin{}
	return sendChunks(r, func(b []byte) error {
		msg.Stdin = b
		return stream.Send(&pb.ExecAllInput{Input: msg})
	}, func() {
		if err := stream.Send(&pb.ExecAllInput{Input: &pb.ExecAllInput_CloseStdin{CloseStdin: &pb.Empty{}}}); err == nil {
			_ = stream.CloseSend()
		}
	})
}
