package docker

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/k3d/k3d/backends"
)

// Logs streams a node's stdout and stderr as one stream, in the order the
// daemon recorded them.
func (r *Runtime) Logs(ctx context.Context, node string, opts backends.LogOptions) (io.ReadCloser, error) {
	lo := container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: opts.Follow}
	if !opts.Since.IsZero() {
		// Seconds.nanoseconds since the epoch is what the API parses exactly.
		lo.Since = fmt.Sprintf("%d.%09d", opts.Since.Unix(), opts.Since.Nanosecond())
	}
	if opts.Tail > 0 {
		lo.Tail = strconv.Itoa(opts.Tail)
	}
	body, err := r.cli.ContainerLogs(ctx, node, lo)
	if err != nil {
		return nil, fmt.Errorf("logs of node %s: %w", node, r.typed(err, nodeObj(node), conflictIsExists))
	}
	// Without a TTY the daemon frames each chunk with its stream; writing
	// both streams to one pipe keeps their order and drops the framing.
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, pw, body)
		_ = pw.CloseWithError(err)
	}()
	return &logStream{PipeReader: pr, body: body}, nil
}

// logStream closes the daemon's response along with the pipe, so that a
// follow stream's copier ends when the caller stops reading.
type logStream struct {
	*io.PipeReader
	body io.Closer
	once sync.Once
}

func (l *logStream) Close() error {
	l.once.Do(func() {
		_ = l.body.Close()
		_ = l.PipeReader.Close()
	})
	return nil
}
