package containerd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/containerd/runtime/v2/logging"
)

// containerd stores no logs. A node's output goes to a log driver: the shim
// runs this backend's own binary (copied under the data root, see driver.go)
// with the task's stdout and stderr, and it lives exactly as long as the task
// — unlike the backend process, which ends with the k3d command. It writes
// one JSON record per line, timestamped as it arrives, in Docker's json-file
// format, so that Logs can select by time and follow.

// LogDriverArg is the first argument with which the shim runs the binary
// as a log driver; the second is the node's directory.
const LogDriverArg = "k3d-log-driver"

// logRecord is one line of output.
type logRecord struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// maxLogLine is where a longer line is cut into several records.
const maxLogLine = 16 << 10

// RunLogDriver is the log driver's main: it writes a task's output into
// dir's log until the shim closes the task's pipes. It does not return.
func RunLogDriver(dir string) {
	logging.Run(func(_ context.Context, cfg *logging.Config, ready func() error) error {
		return driveLogs(dir, cfg.Stdout, cfg.Stderr, ready)
	})
}

func driveLogs(dir string, stdout, stderr io.Reader, ready func() error) error {
	f, err := os.OpenFile(filepath.Join(dir, nodeLog), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := recordStart(dir, startTask); err != nil {
		return err
	}
	if err := ready(); err != nil {
		return err
	}
	w := &recordWriter{w: f}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, s := range []struct {
		name string
		r    io.Reader
	}{{"stdout", stdout}, {"stderr", stderr}} {
		wg.Go(func() { errs[i] = w.copyLines(s.name, s.r) })
	}
	// Both pipes end when the shim closes them, after the task is gone; on
	// SIGTERM the driver keeps reading until then, so nothing is lost.
	wg.Wait()
	return errors.Join(errs...)
}

// recordWriter writes whole records, one write each, so that records of
// the two streams never interleave within a line.
type recordWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (rw *recordWriter) copyLines(stream string, r io.Reader) error {
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if werr := rw.write(logRecord{Log: string(line), Stream: stream, Time: time.Now().UTC()}); werr != nil {
				return werr
			}
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF), errors.Is(err, os.ErrClosed):
			return nil
		default:
			return err
		}
	}
}

func (rw *recordWriter) write(rec logRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	rw.mu.Lock()
	defer rw.mu.Unlock()
	_, err = rw.w.Write(b)
	return err
}
