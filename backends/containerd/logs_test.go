package containerd

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	client "github.com/containerd/containerd"

	"github.com/k3d/k3d/backends"
)

// The log driver records both streams line by line, whole lines only, in
// the order they come; cuts overlong lines; and records the task's start.
func TestDriveLogs(t *testing.T) {
	dir := t.TempDir()
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	readied := false
	done := make(chan error, 1)
	go func() { done <- driveLogs(dir, outR, errR, func() error { readied = true; return nil }) }()
	io.WriteString(outW, "line 0\n")
	io.WriteString(errW, "line 1\n")
	io.WriteString(outW, strings.Repeat("x", maxLogLine+10)+"\n")
	io.WriteString(outW, "no newline at the end")
	outW.Close()
	errW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !readied {
		t.Errorf("the driver never said it was ready")
	}
	data, err := os.ReadFile(filepath.Join(dir, nodeLog))
	if err != nil {
		t.Fatal(err)
	}
	recs, used := parseRecords(data)
	if used != len(data) {
		t.Errorf("log ends in a partial record")
	}
	var out, errs strings.Builder
	for _, r := range recs {
		if r.Time.IsZero() {
			t.Errorf("record without a time: %+v", r)
		}
		if r.Stream == "stderr" {
			errs.WriteString(r.Log)
		} else {
			out.WriteString(r.Log)
		}
	}
	if want := "line 0\n" + strings.Repeat("x", maxLogLine+10) + "\nno newline at the end"; out.String() != want {
		t.Errorf("stdout as recorded: %d bytes, want %d", out.Len(), len(want))
	}
	if errs.String() != "line 1\n" {
		t.Errorf("stderr as recorded: %q", errs.String())
	}
	if len(recs) != 5 {
		t.Errorf("%d records, want 5 (the long line in two)", len(recs))
	}
	if _, _, started := startHistory(dir); !started {
		t.Errorf("the driver did not record the task's start")
	}
}

func writeLog(t *testing.T, path string, recs ...logRecord) {
	t.Helper()
	var buf bytes.Buffer
	w := &recordWriter{w: &buf}
	for _, r := range recs {
		if err := w.write(r); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(buf.Bytes())
}

// Logs select by time then tail, and a follower passes on what is written
// later until the task exits, then ends.
func TestStreamLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), nodeLog)
	t0 := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	writeLog(t, path,
		logRecord{Log: "a\n", Stream: "stdout", Time: t0},
		logRecord{Log: "b\n", Stream: "stderr", Time: t0.Add(time.Second)},
		logRecord{Log: "c\n", Stream: "stdout", Time: t0.Add(2 * time.Second)},
		logRecord{Log: "d\n", Stream: "stdout", Time: t0.Add(3 * time.Second)})
	for _, c := range []struct {
		opts backends.LogOptions
		want string
	}{
		{backends.LogOptions{}, "a\nb\nc\nd\n"},
		{backends.LogOptions{Since: t0.Add(time.Second)}, "b\nc\nd\n"},
		{backends.LogOptions{Tail: 2}, "c\nd\n"},
		{backends.LogOptions{Since: t0.Add(2500 * time.Millisecond), Tail: 3}, "d\n"},
	} {
		var out bytes.Buffer
		if err := streamLog(context.Background(), path, c.opts, nil, &out); err != nil {
			t.Fatal(err)
		}
		if out.String() != c.want {
			t.Errorf("logs %+v: %q, want %q", c.opts, out.String(), c.want)
		}
	}

	exited := make(chan client.ExitStatus)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- streamLog(context.Background(), path, backends.LogOptions{Tail: 1}, exited, pw)
		pw.Close()
	}()
	buf := make([]byte, 64)
	n, _ := pr.Read(buf)
	if string(buf[:n]) != "d\n" {
		t.Errorf("follower's first read: %q, want the tail", buf[:n])
	}
	writeLog(t, path, logRecord{Log: "e\n", Stream: "stdout", Time: t0.Add(4 * time.Second)})
	n, _ = pr.Read(buf)
	if string(buf[:n]) != "e\n" {
		t.Errorf("follower's next read: %q, want the new line", buf[:n])
	}
	writeLog(t, path, logRecord{Log: "f\n", Stream: "stdout", Time: t0.Add(5 * time.Second)})
	close(exited)
	rest, _ := io.ReadAll(pr)
	if string(rest) != "f\n" {
		t.Errorf("follower after the task exited: %q, want the last line and the end", rest)
	}
	if err := <-done; err != nil {
		t.Error(err)
	}
}
