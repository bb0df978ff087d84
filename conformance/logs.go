package conformance

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
)

// logLine is one line of the test program's "log" subcommand:
// "line N TIMESTAMP", even N on stdout, odd N on stderr.
type logLine struct {
	n  int
	at time.Time
}

func parseLogLine(s string) (logLine, bool) {
	f := strings.Fields(s)
	if len(f) != 3 || f[0] != "line" {
		return logLine{}, false
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return logLine{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, f[2])
	if err != nil {
		return logLine{}, false
	}
	return logLine{n, at}, true
}

// readLogs reads a whole non-following log stream into lines, failing the
// test on anything that is not a line of the test program.
func (f *fixture) readLogs(node string, opts backends.LogOptions) []logLine {
	f.t.Helper()
	rc, err := f.rt.Logs(f.ctx, node, opts)
	if err != nil {
		f.t.Fatalf("logs of %s (%+v): %v", node, opts, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		f.t.Fatalf("read logs of %s: %v", node, err)
	}
	var lines []logLine
	for _, s := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if s == "" {
			continue
		}
		l, ok := parseLogLine(s)
		if !ok {
			f.t.Fatalf("logs of %s: unexpected line %q (want only the test program's lines, no framing)", node, s)
		}
		lines = append(lines, l)
	}
	return lines
}

// sinceSlack allows for the time between the test program stamping a line
// and the runtime recording it.
const sinceSlack = 500 * time.Millisecond

// testLogs: stdout and stderr interleave in the order written; since skips
// older output; tail gives the last lines; follow delivers lines written after
// the call, ends when its context is cancelled and when the node stops; a
// stopped node's logs are still there.
func testLogs(t *testing.T, f *fixture) {
	name := f.name("node")
	f.runNode(backends.NodeSpec{Name: name, Cmd: []string{"log", "100ms"}})

	var lines []logLine
	f.eventually("node "+name+" logs 10 lines", 20*time.Second, func() (bool, string) {
		lines = f.readLogs(name, backends.LogOptions{})
		return len(lines) >= 10, fmt.Sprintf("%d lines", len(lines))
	})
	for i, l := range lines {
		if l.n != i {
			t.Fatalf("logs of %s: line %d is number %d; want stdout and stderr lines interleaved in order: %+v", name, i, l.n, lines)
		}
	}

	since := time.Now()
	var after []logLine
	f.eventually("node "+name+" logs after "+since.Format(time.RFC3339Nano), 20*time.Second, func() (bool, string) {
		after = f.readLogs(name, backends.LogOptions{Since: since})
		return len(after) >= 3 && after[len(after)-1].at.After(since.Add(200*time.Millisecond)), fmt.Sprintf("%+v", after)
	})
	for _, l := range after {
		if l.at.Before(since.Add(-sinceSlack)) {
			t.Errorf("logs since %s include line %d from %s", since.Format(time.RFC3339Nano), l.n, l.at.Format(time.RFC3339Nano))
		}
	}
	if after[0].n == 0 {
		t.Errorf("logs since %s start at the very first line", since.Format(time.RFC3339Nano))
	}

	tail := f.readLogs(name, backends.LogOptions{Tail: 3})
	if len(tail) != 3 || tail[1].n != tail[0].n+1 || tail[2].n != tail[1].n+1 || tail[0].n < after[0].n {
		t.Errorf("logs with tail 3: %+v, want the 3 latest lines", tail)
	}

	// Follow from now: a line stamped after the call began must arrive.
	began := time.Now()
	follow, err := f.rt.Logs(f.ctx, name, backends.LogOptions{Follow: true, Since: began})
	if err != nil {
		t.Fatalf("follow logs of %s: %v", name, err)
	}
	defer follow.Close()
	followed := scanLines(follow)
	waitLine(t, followed, 15*time.Second, "a followed line written after the call began", func(l logLine) bool { return l.at.After(began) })

	// Cancelling the context ends a second follower.
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	other, err := f.rt.Logs(ctx, name, backends.LogOptions{Follow: true, Tail: 1})
	if err != nil {
		t.Fatalf("follow logs of %s: %v", name, err)
	}
	defer other.Close()
	otherLines := scanLines(other)
	waitLine(t, otherLines, 15*time.Second, "a line on the second follower", func(logLine) bool { return true })
	cancel()
	waitEnd(t, otherLines, 15*time.Second, "the follower whose context was cancelled")

	// Stopping the node ends the first follower.
	f.stop(name)
	waitEnd(t, followed, 15*time.Second, "the follower of a node that stopped")

	stopped := f.readLogs(name, backends.LogOptions{})
	if len(stopped) < len(lines) || stopped[0].n != 0 {
		t.Errorf("logs of stopped node %s: %d lines from %+v, want all of them", name, len(stopped), stopped[:min(1, len(stopped))])
	}
}

// scanned is a log stream read line by line in the background.
type scanned struct {
	lines chan string
	done  chan error // the read error, nil at EOF
}

func scanLines(r io.Reader) *scanned {
	s := &scanned{lines: make(chan string, 1024), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
		s.done <- sc.Err()
	}()
	return s
}

// waitLine reads a follower until a line matches.
func waitLine(t *testing.T, s *scanned, timeout time.Duration, what string, match func(logLine) bool) {
	t.Helper()
	deadline := time.After(timeout)
	var seen []string
	for {
		select {
		case line, ok := <-s.lines:
			if !ok {
				t.Fatalf("%s: stream ended (%v) after %q", what, <-s.done, seen)
			}
			l, parsed := parseLogLine(line)
			if !parsed {
				t.Fatalf("%s: unexpected line %q", what, line)
			}
			if match(l) {
				return
			}
			seen = append(seen, line)
		case <-deadline:
			t.Fatalf("%s: none within %s; saw %q", what, timeout, seen)
		}
	}
}

// waitEnd drains a follower until its stream ends.
func waitEnd(t *testing.T, s *scanned, timeout time.Duration, what string) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case _, ok := <-s.lines:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("%s: stream still open after %s", what, timeout)
		}
	}
}
