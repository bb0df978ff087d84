package backends

import (
	"context"
	"io"
	"sync"

	pb "github.com/k3d/k3d/backends/internal/runtimepb"
)

// ImageInspect and ImagePull on both sides of the wire. A pull is a server
// stream of progress messages whose final status is the pull's result, so a
// typed error (an unreachable registry, an unknown image) arrives after any
// progress that came before it.

// ---- k3d side ----

func (c *Client) ImageInspect(ctx context.Context, ref string) (Image, error) {
	r, err := c.rpc.ImageInspect(ctx, &pb.ImageRef{Ref: ref})
	if err != nil {
		return Image{}, c.callError(ctx, "ImageInspect", "inspect image "+ref, err)
	}
	return imageFromPB(r), nil
}

func (c *Client) ImagePull(ctx context.Context, ref string, opts PullOptions) error {
	const method = "ImagePull"
	what := "pull image " + ref
	// Returning early (the caller's ctx ended) must stop the backend's pull:
	// cancelling the stream is what tells it.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.ImagePull(sctx, &pb.ImagePullRequest{Ref: ref})
	if err != nil {
		return c.callError(ctx, method, what, err)
	}
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return c.callError(ctx, method, what, err)
		}
		if opts.Progress != nil {
			opts.Progress(pullProgressFromPB(m))
		}
	}
}

// ---- backend side ----

func (s *server) ImageInspect(ctx context.Context, r *pb.ImageRef) (*pb.Image, error) {
	img, err := s.rt.ImageInspect(ctx, r.GetRef())
	if err != nil {
		return nil, toStatus(err)
	}
	return imageToPB(img), nil
}

func (s *server) ImagePull(r *pb.ImagePullRequest, stream pb.Runtime_ImagePullServer) error {
	ctx := stream.Context()
	p := &progressSender{stream: stream}
	err := s.rt.ImagePull(ctx, r.GetRef(), PullOptions{Progress: p.send})
	// gRPC forbids sending once the handler has returned; a runtime whose
	// progress reporting lags behind its return is cut off here.
	p.stop()
	if err != nil {
		return toStatus(err)
	}
	if err := p.failed(); err != nil {
		// k3d went away mid-pull without the runtime noticing.
		return toStatus(err)
	}
	return nil
}

// progressSender forwards a runtime's progress reports to k3d.
type progressSender struct {
	mu      sync.Mutex
	stream  pb.Runtime_ImagePullServer
	stopped bool
	err     error
}

func (p *progressSender) send(pp PullProgress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || p.err != nil {
		return
	}
	// A message is a few bytes and gRPC buffers them ahead of a slow
	// reader, so this blocks the runtime only when k3d stops reading.
	p.err = p.stream.Send(pullProgressToPB(pp))
}

func (p *progressSender) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
}

func (p *progressSender) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}
