package containerd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	client "github.com/containerd/containerd"

	"github.com/k3d/k3d/backends"
)

// followPoll is how often a follower looks for new output; the log driver
// writes the file from another process, so there is nothing to wait on.
const followPoll = 100 * time.Millisecond

// Logs streams the node's output from the log its driver writes: stdout
// and stderr in the order the driver received them, without framing.
func (r *Runtime) Logs(ctx context.Context, node string, opts backends.LogOptions) (io.ReadCloser, error) {
	rc, err := r.logs(ctx, node, opts)
	if err != nil {
		return nil, fmt.Errorf("logs of node %s: %w", node, err)
	}
	return rc, nil
}

func (r *Runtime) logs(ctx context.Context, node string, opts backends.LogOptions) (io.ReadCloser, error) {
	if _, err := r.nodeRecord(ctx, node); err != nil {
		return nil, err
	}
	// A follower ends when the task running now ends; a node that does not
	// run has nothing more to say.
	var exited <-chan client.ExitStatus
	fctx, cancel := context.WithCancel(ctx)
	if opts.Follow {
		task, err := r.task(fctx, node)
		if err != nil {
			cancel()
			return nil, err
		}
		if task != nil {
			if st, err := task.Status(fctx); err == nil && st.Status == client.Running {
				_, nctx, _ := r.Client(fctx)
				if exited, err = task.Wait(nctx); err != nil {
					cancel()
					return nil, r.typed(err, nodeObj(node))
				}
			}
		}
	}
	path := filepath.Join(r.root.nodeDir(node), nodeLog)
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(streamLog(fctx, path, opts, exited, pw))
	}()
	return &cancelReader{PipeReader: pr, cancel: cancel}, nil
}

// streamLog writes the log's records (selected by opts) to w, then, while
// following, new records as they come, until ctx ends or exited fires.
func streamLog(ctx context.Context, path string, opts backends.LogOptions, exited <-chan client.ExitStatus, w io.Writer) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && exited == nil {
		return nil // never started
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var off int64
	if f != nil {
		data, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			return err
		}
		recs, used := parseRecords(data)
		off = int64(used)
		if err := writeRecords(w, selectRecords(recs, opts)); err != nil {
			return err
		}
	}
	if exited == nil {
		return nil
	}
	tick := time.NewTicker(followPoll)
	defer tick.Stop()
	for {
		last := false
		select {
		case <-ctx.Done():
			return nil
		case <-exited:
			// The driver writes what it got before the pipes close: one
			// last read takes the rest.
			last = true
		case <-tick.C:
		}
		n, err := copyNewRecords(path, off, opts.Since, w)
		off += n
		if err != nil {
			return err
		}
		if last {
			return nil
		}
	}
}

// copyNewRecords writes the whole records after off, and says how many
// bytes it used.
func copyNewRecords(path string, off int64, since time.Time, w io.Writer) (int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return 0, err
	}
	recs, used := parseRecords(data)
	return int64(used), writeRecords(w, selectRecords(recs, backends.LogOptions{Since: since}))
}

// parseRecords reads the complete lines of a log (a line being written is
// left for later) and returns the records and the bytes they took.
func parseRecords(data []byte) ([]logRecord, int) {
	var recs []logRecord
	used := 0
	for {
		i := bytes.IndexByte(data[used:], '\n')
		if i < 0 {
			return recs, used
		}
		var rec logRecord
		if err := json.Unmarshal(data[used:used+i], &rec); err == nil {
			recs = append(recs, rec)
		}
		used += i + 1
	}
}

// selectRecords applies since, then tail, as Docker does.
func selectRecords(recs []logRecord, opts backends.LogOptions) []logRecord {
	if !opts.Since.IsZero() {
		var kept []logRecord
		for _, r := range recs {
			if !r.Time.Before(opts.Since) {
				kept = append(kept, r)
			}
		}
		recs = kept
	}
	if opts.Tail > 0 && len(recs) > opts.Tail {
		recs = recs[len(recs)-opts.Tail:]
	}
	return recs
}

func writeRecords(w io.Writer, recs []logRecord) error {
	if len(recs) == 0 {
		return nil
	}
	bw := bufio.NewWriter(w)
	for _, r := range recs {
		if _, err := bw.WriteString(r.Log); err != nil {
			return err
		}
	}
	return bw.Flush()
}
