package backends_test

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/internal/testbackend"
)

// BenchmarkStartBackend measures what every k3d command pays before its
// first runtime call: starting the backend program, the handshake, one call,
// and stopping it again.
func BenchmarkStartBackend(b *testing.B) {
	ctx := context.Background()
	var firstCall time.Duration
	for b.Loop() {
		start := time.Now()
		c, err := backends.OpenPath(ctx, testBackend, backends.OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Info(ctx); err != nil {
			b.Fatal(err)
		}
		firstCall += time.Since(start)
		c.Close()
	}
	b.ReportMetric(float64(firstCall.Microseconds())/float64(b.N)/1000, "ms-to-first-reply")
}

// BenchmarkRoundTrip measures one small call: an InspectNode answered with a
// typed not-found error (the detail is built and rebuilt), and a plain Info.
func BenchmarkRoundTrip(b *testing.B) {
	ctx := context.Background()
	clients := map[string]func(b *testing.B) *backends.Client{
		"program":    func(b *testing.B) *backends.Client { return openTestBackend(b, nil) },
		"in-process": func(b *testing.B) *backends.Client { return backends.ConnectInProcess(b, testbackend.New()) },
	}
	for _, where := range []string{"program", "in-process"} {
		b.Run(where+"/InspectNode-notfound", func(b *testing.B) {
			c := clients[where](b)
			for b.Loop() {
				if _, err := c.InspectNode(ctx, "fail-notfound"); !backends.IsNotFound(err) {
					b.Fatal(err)
				}
			}
		})
		b.Run(where+"/Info", func(b *testing.B) {
			c := clients[where](b)
			for b.Loop() {
				if _, err := c.Info(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The stream benchmarks move 200 MB through a backend program, as k3d does
// when it saves or loads an image or pipes a file through exec.

func BenchmarkImageSave200MB(b *testing.B) {
	c := openTestBackend(b, nil)
	ref := fmt.Sprint("pattern:", bigStream)
	streamBench(b, func() (int64, error) {
		rc, err := c.ImageSave(context.Background(), []string{ref})
		if err != nil {
			return 0, err
		}
		defer rc.Close()
		return io.Copy(io.Discard, rc)
	})
}

func BenchmarkImageLoad200MB(b *testing.B) {
	c := openTestBackend(b, nil)
	streamBench(b, func() (int64, error) {
		_, err := c.ImageLoad(context.Background(), testbackend.Pattern(bigStream))
		return bigStream, err
	})
}

func BenchmarkExecEcho200MB(b *testing.B) {
	c := openTestBackend(b, nil)
	streamBench(b, func() (int64, error) {
		var n countingWriter
		_, err := c.Exec(context.Background(), "n", backends.ExecSpec{Cmd: []string{"cat"}, Stdin: testbackend.Pattern(bigStream), Stdout: &n})
		return int64(n), err
	})
}

func streamBench(b *testing.B, run func() (int64, error)) {
	b.SetBytes(bigStream)
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		n, err := run()
		total += time.Since(start)
		if err != nil || n != bigStream {
			b.Fatalf("moved %d bytes: %v", n, err)
		}
	}
	b.ReportMetric(float64(bigStream)*float64(b.N)/total.Seconds()/1e6, "MB/s")
}

type countingWriter int64

func (w *countingWriter) Write(p []byte) (int, error) {
	*w += countingWriter(len(p))
	return len(p), nil
}

// The fan-out benchmarks send 200 MB into four nodes' stdin, as image import
// does: once through ExecAll (the stream crosses to the backend once), and
// through four Execs teed in k3d (it crosses four times).

func BenchmarkExecAll200MBx4(b *testing.B) {
	fanOutBench(b, openTestBackend(b, nil))
}

func BenchmarkExecTee200MBx4(b *testing.B) {
	fanOutBench(b, execOnly{openTestBackend(b, nil)})
}

// execOnly hides the Client's ExecAll, so that backends.ExecAll tees.
type execOnly struct{ backends.Runtime }

func fanOutBench(b *testing.B, rt backends.Runtime) {
	streamBench(b, func() (int64, error) {
		res, err := backends.ExecAll(context.Background(), rt, backends.ExecAllSpec{
			Nodes: []string{"a", "b", "c", "d"}, Cmd: []string{"sha256"}, Stdin: testbackend.Pattern(bigStream),
		})
		for _, r := range res {
			if err == nil {
				err = r.Err
			}
		}
		return bigStream, err
	})
}
