package conformance

import (
	"bytes"
	"sync"
	"testing"
)

// lineLogger forwards a backend's stderr to the test log one line at a time.
// It goes quiet once stopped, because testing.T panics on a Log after its test
// has finished and the backend may still write while it shuts down.
type lineLogger struct {
	t      *testing.T
	prefix string

	mu      sync.Mutex
	buf     []byte
	stopped bool
}

func newLineLogger(t *testing.T, prefix string) *lineLogger {
	return &lineLogger{t: t, prefix: prefix}
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return len(p), nil
	}
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.t.Log(l.prefix + string(bytes.TrimRight(l.buf[:i], "\r")))
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

func (l *lineLogger) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.t.Log(l.prefix + string(l.buf))
		l.buf = nil
	}
	l.stopped = true
}
