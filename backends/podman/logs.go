package podman

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/docker/docker/pkg/stdcopy"

	"github.com/k3d/k3d/backends"
)

// Logs streams a node's stdout and stderr as one stream, in the order the
// service recorded them. (The bindings' Logs hands stdout and stderr out on
// two channels, which loses their order.)
func (r *Runtime) Logs(ctx context.Context, node string, opts backends.LogOptions) (io.ReadCloser, error) {
	actx, conn, err := r.connection(ctx)
	if err != nil {
		return nil, fmt.Errorf("logs of node %s: %w", node, err)
	}
	params := url.Values{}
	params.Set("stdout", "true")
	params.Set("stderr", "true")
	params.Set("follow", strconv.FormatBool(opts.Follow))
	if !opts.Since.IsZero() {
		params.Set("since", opts.Since.UTC().Format(time.RFC3339Nano))
	}
	if opts.Tail > 0 {
		params.Set("tail", strconv.Itoa(opts.Tail))
	}
	resp, err := conn.DoRequest(actx, nil, http.MethodGet, "/containers/%s/logs", params, nil, node)
	if err != nil {
		return nil, fmt.Errorf("logs of node %s: %w", node, r.typed(err, nodeObj(node), conflictIsExists))
	}
	if !resp.IsSuccess() {
		defer resp.Body.Close()
		return nil, fmt.Errorf("logs of node %s: %w", node, r.typed(statusError(resp), nodeObj(node), conflictIsExists))
	}
	// Without a TTY the service frames each line with its stream; writing
	// both streams to one pipe keeps their order and drops the framing.
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, pw, resp.Body)
		_ = pw.CloseWithError(err)
	}()
	return &logStream{PipeReader: pr, body: resp.Body}, nil
}

// logStream closes the service's response along with the pipe, so that a
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
