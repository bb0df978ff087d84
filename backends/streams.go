package backends

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"

	pb "github.com/k3d/k3d/backends/internal/runtimepb"
)

// Byte streams cross the boundary as Chunk messages of at most chunkSize.
// Download streams (Logs, ReadFile, ImageSave) open with an empty Chunk once
// the runtime accepted the request; upload streams (CopyToNode, ImageLoad)
// carry their request, if any, first. Cancelling either side's context, or
// closing a returned reader, ends the remote work.

// ---- backend side ----

func (s *server) Logs(r *pb.LogsRequest, stream pb.Runtime_LogsServer) error {
	ctx := stream.Context()
	rc, err := s.rt.Logs(ctx, r.GetNode(), LogOptions{
		Since:  fromUnixNano(r.GetSince()),
		Follow: r.GetFollow(),
		Tail:   int(r.GetTail()),
	})
	if err != nil {
		return toStatus(err)
	}
	return sendReader(ctx, rc, stream)
}

func (s *server) ReadFile(r *pb.ReadFileRequest, stream pb.Runtime_ReadFileServer) error {
	ctx := stream.Context()
	rc, err := s.rt.ReadFile(ctx, r.GetNode(), r.GetPath())
	if err != nil {
		return toStatus(err)
	}
	return sendReader(ctx, rc, stream)
}

func (s *server) ImageSave(r *pb.ImageSaveRequest, stream pb.Runtime_ImageSaveServer) error {
	ctx := stream.Context()
	rc, err := s.rt.ImageSave(ctx, r.GetRefs())
	if err != nil {
		return toStatus(err)
	}
	return sendReader(ctx, rc, stream)
}

// sendReader streams rc to k3d and closes it.
func sendReader(ctx context.Context, rc io.ReadCloser, stream grpc.ServerStreamingServer[pb.Chunk]) error {
	// A runtime reader may sit in Read without watching ctx (a follow of a
	// quiet node): closing it when k3d goes away is what stops it promptly.
	var once sync.Once
	closeRC := func() { once.Do(func() { _ = rc.Close() }) }
	stop := context.AfterFunc(ctx, closeRC)
	defer stop()
	defer closeRC()

	if err := stream.Send(&pb.Chunk{}); err != nil {
		return err
	}
	// Reading from the runtime and sending to k3d overlap: a reader goroutine
	// fills a few buffers ahead while the sender ships them, so a slow
	// producer (the daemon's image save) and the wire cost add up to the
	// slower of the two instead of their sum. Each read is sent as soon as it
	// is complete, so a follow of logs is not held back.
	const ahead = 8
	free := make(chan []byte, ahead+1)
	for range ahead + 1 {
		free <- make([]byte, chunkSize)
	}
	filled := make(chan []byte, ahead)
	done := make(chan struct{})
	var readErr error
	go func() {
		defer close(filled)
		for {
			var buf []byte
			select {
			case buf = <-free:
			case <-done:
				return
			}
			n, err := rc.Read(buf[:cap(buf)])
			if n > 0 {
				select {
				case filled <- buf[:n]:
				case <-done:
					return
				}
			} else {
				free <- buf
			}
			if err != nil {
				readErr = err // read by the sender after filled is closed
				return
			}
		}
	}()
	defer close(done)
	msg := &pb.Chunk{}
	for buf := range filled {
		msg.Data = buf
		// Send has marshalled the message by the time it returns, so the
		// buffer can be refilled.
		if err := stream.Send(msg); err != nil {
			closeRC() // unblocks the reader's Read
			return err
		}
		free <- buf
	}
	if readErr == io.EOF {
		return nil
	}
	if ctx.Err() != nil {
		return toStatus(ctx.Err())
	}
	return toStatus(readErr)
}

func (s *server) ImageLoad(stream pb.Runtime_ImageLoadServer) error {
	ctx := stream.Context()
	r := &recvReader{ctx: ctx, recv: func() ([]byte, error) {
		m, err := stream.Recv()
		return m.GetData(), err
	}}
	refs, err := s.rt.ImageLoad(ctx, r)
	if err != nil {
		return toStatus(err)
	}
	return stream.SendAndClose(&pb.ImageLoadReply{Refs: refs})
}

func (s *server) CopyToNode(stream pb.Runtime_CopyToNodeServer) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	start := first.GetStart()
	if start == nil {
		return toStatus(NewError(ErrInvalid, "copy to node", "the stream did not start with the node and directory"))
	}
	r := &recvReader{ctx: ctx, recv: func() ([]byte, error) {
		m, err := stream.Recv()
		return m.GetData(), err
	}}
	if err := s.rt.CopyToNode(ctx, start.GetNode(), start.GetDir(), r); err != nil {
		return toStatus(err)
	}
	return stream.SendAndClose(&pb.Empty{})
}

// recvReader reads an upload stream. When k3d goes away mid-stream the runtime
// sees its context's error, as the contract promises.
type recvReader struct {
	ctx  context.Context
	recv func() ([]byte, error)
	buf  []byte
	err  error
}

func (r *recvReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		data, err := r.recv()
		switch {
		case err == io.EOF:
			r.err = io.EOF
		case err != nil && r.ctx.Err() != nil:
			r.err = r.ctx.Err()
		case err != nil:
			r.err = err
		default:
			r.buf = data
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// ---- k3d side ----

func (c *Client) Logs(ctx context.Context, node string, opts LogOptions) (io.ReadCloser, error) {
	req := &pb.LogsRequest{Node: node, Since: unixNano(opts.Since), Follow: opts.Follow, Tail: int32(opts.Tail)}
	return c.download(ctx, "Logs", "read logs of node "+node, func(ctx context.Context) (grpc.ServerStreamingClient[pb.Chunk], error) {
		return c.rpc.Logs(ctx, req)
	})
}

func (c *Client) ReadFile(ctx context.Context, node, path string) (io.ReadCloser, error) {
	req := &pb.ReadFileRequest{Node: node, Path: path}
	return c.download(ctx, "ReadFile", "read "+path+" from node "+node, func(ctx context.Context) (grpc.ServerStreamingClient[pb.Chunk], error) {
		return c.rpc.ReadFile(ctx, req)
	})
}

func (c *Client) ImageSave(ctx context.Context, refs []string) (io.ReadCloser, error) {
	req := &pb.ImageSaveRequest{Refs: refs}
	return c.download(ctx, "ImageSave", fmt.Sprintf("save images %v", refs), func(ctx context.Context) (grpc.ServerStreamingClient[pb.Chunk], error) {
		return c.rpc.ImageSave(ctx, req)
	})
}

// download opens a server stream and waits for its opening message, so that
// an error of the request is returned here rather than from the first Read.
func (c *Client) download(ctx context.Context, method, what string, open func(context.Context) (grpc.ServerStreamingClient[pb.Chunk], error)) (io.ReadCloser, error) {
	sctx, cancel := context.WithCancel(ctx)
	stream, err := open(sctx)
	if err == nil {
		_, err = stream.Recv()
	}
	if err == io.EOF {
		cancel()
		return nil, fmt.Errorf("%s: backend %s ended the stream without opening it", what, c.name)
	}
	if err != nil {
		cancel()
		return nil, c.callError(ctx, method, what, err)
	}
	return &chunkReader{ctx: ctx, cancel: cancel, stream: stream, c: c, method: method, what: what}, nil
}

// chunkReader reads a download stream; Close cancels the stream, which stops
// the backend's side.
type chunkReader struct {
	ctx    context.Context // the caller's, to tell its cancellation apart
	cancel context.CancelFunc
	stream grpc.ServerStreamingClient[pb.Chunk]
	c      *Client
	method string
	what   string

	buf    []byte
	err    error
	closed atomic.Bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		m, err := r.stream.Recv()
		switch {
		case r.closed.Load():
			r.err = fmt.Errorf("%s: %w", r.what, os.ErrClosed)
		case err == io.EOF:
			r.err = io.EOF
			r.cancel()
		case err != nil:
			r.err = r.c.callError(r.ctx, r.method, r.what, err)
			r.cancel()
		default:
			r.buf = m.GetData()
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// Close may be called while another goroutine is in Read: that Read returns.
func (r *chunkReader) Close() error {
	r.closed.Store(true)
	r.cancel()
	return nil
}

func (c *Client) ImageLoad(ctx context.Context, tarStream io.Reader) ([]string, error) {
	const method, what = "ImageLoad", "load images"
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.ImageLoad(sctx)
	if err != nil {
		return nil, c.callError(ctx, method, what, err)
	}
	err = upload(ctx, tarStream, func(b []byte) error {
		return stream.Send(&pb.Chunk{Data: b})
	}, stream.CloseSend)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	reply, err := stream.CloseAndRecv()
	if err != nil {
		return nil, c.callError(ctx, method, what, err)
	}
	return reply.GetRefs(), nil
}

func (c *Client) CopyToNode(ctx context.Context, node, dir string, tarStream io.Reader) error {
	const method = "CopyToNode"
	what := "copy to " + dir + " in node " + node
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.CopyToNode(sctx)
	if err == nil {
		err = stream.Send(&pb.CopyToNodeInput{Input: &pb.CopyToNodeInput_Start{Start: &pb.CopyToNodeStart{Node: node, Dir: dir}}})
	}
	if err != nil && err != io.EOF {
		return c.callError(ctx, method, what, err)
	}
	if err == nil {
		msg := &pb.CopyToNodeInput_Data{}
		err = upload(ctx, tarStream, func(b []byte) error {
			msg.Data = b
			return stream.Send(&pb.CopyToNodeInput{Input: msg})
		}, stream.CloseSend)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	_, err = stream.CloseAndRecv()
	return c.callError(ctx, method, what, err)
}

// upload copies r to a stream in chunks. It returns nil when everything was
// sent or when the backend ended the stream early (its status tells why), and
// the error of r or of ctx otherwise. Reading r happens on its own goroutine
// so that a reader that blocks does not keep a cancelled call waiting.
func upload(ctx context.Context, r io.Reader, send func([]byte) error, closeSend func() error) error {
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, chunkSize)
		for {
			n, err := io.ReadFull(r, buf)
			if n > 0 {
				if serr := send(buf[:n]); serr != nil {
					// io.EOF: the backend finished (or failed) first.
					done <- nil
					return
				}
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				done <- closeSend()
				return
			}
			if err != nil {
				done <- fmt.Errorf("read input: %w", err)
				return
			}
		}
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
