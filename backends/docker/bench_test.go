package docker

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/internal/builtbin"
)

// The benchmarks set what k3d pays for running the backend as a subprocess
// beside talking to the daemon directly, in one run: start-up, one call, and
// a large stream. Each reports both sides and their ratio.
//
//	go test -run '^$' -bench . -benchtime 5x

func openBackend(b *testing.B, ctx context.Context) *backends.Client {
	b.Helper()
	c, err := backends.OpenPath(ctx, builtbin.Backend(b, "docker"), backends.OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// report prints both sides per operation and how many times slower the
// backend is.
func report(b *testing.B, backend, direct time.Duration) {
	n := float64(b.N)
	b.ReportMetric(float64(backend.Microseconds())/n, "backend-µs/op")
	b.ReportMetric(float64(direct.Microseconds())/n, "docker-µs/op")
	b.ReportMetric(float64(backend)/float64(direct), "x-docker")
	b.ReportMetric(0, "ns/op") // the loop's own time mixes both sides
}

// (a) What every k3d command pays first: starting the backend and asking it
// for Info, against making a client and asking the daemon the same facts.
func BenchmarkStartAndInfo(b *testing.B) {
	_, ctx := needDaemon(b)
	path := builtbin.Backend(b, "docker")
	var backend, direct time.Duration
	for b.Loop() {
		start := time.Now()
		c, err := backends.OpenPath(ctx, path, backends.OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Info(ctx); err != nil {
			b.Fatal(err)
		}
		c.Close()
		backend += time.Since(start)

		start = time.Now()
		cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := cli.ServerVersion(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := cli.Info(ctx); err != nil {
			b.Fatal(err)
		}
		cli.Close()
		direct += time.Since(start)
	}
	report(b, backend, direct)
}

// (b) One round trip: ImageExists through the protocol against the image
// inspect it makes.
func BenchmarkRoundTrip(b *testing.B) {
	rt, ctx := needDaemon(b)
	c := openBackend(b, ctx)
	if ok, err := c.ImageExists(ctx, suite.image); err != nil || !ok {
		b.Fatalf("ImageExists = %v, %v", ok, err)
	}
	var backend, direct time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := c.ImageExists(ctx, suite.image); err != nil {
			b.Fatal(err)
		}
		backend += time.Since(start)
		start = time.Now()
		if _, err := rt.cli.ImageInspect(ctx, suite.image); err != nil {
			b.Fatal(err)
		}
		direct += time.Since(start)
	}
	report(b, backend, direct)
}

// benchImageSize is the large image's random (incompressible) payload.
const benchImageSize = 200 << 20

var benchImage = struct {
	once sync.Once
	ref  string
	err  error
}{}

// bigImage loads, once per test process, an image carrying 200 MB of random
// data; TestMain's sweep removes it.
func bigImage(b *testing.B, ctx context.Context) string {
	benchImage.once.Do(func() {
		ref := "k3d-test/docker-bench-200mb:" + suite.runID
		img, err := randomImage(suite.progBin, benchImageSize, 1)
		if err != nil {
			benchImage.err = err
			return
		}
		rc, err := dockerArchive(ref, img)
		if err != nil {
			benchImage.err = err
			return
		}
		defer rc.Close()
		suite.extraImages = append(suite.extraImages, ref)
		if _, err := suite.rt.ImageLoad(ctx, rc); err != nil {
			benchImage.err = fmt.Errorf("load the benchmark image: %w", err)
			return
		}
		benchImage.ref = ref
	})
	if benchImage.err != nil {
		b.Fatal(benchImage.err)
	}
	return benchImage.ref
}

// (c) A large stream: saving a 200 MB image through the protocol against
// reading the daemon's save stream directly. Both are read to the end.
func BenchmarkImageSave200MB(b *testing.B) {
	rt, ctx := needDaemon(b)
	c := openBackend(b, ctx)
	ref := bigImage(b, ctx)
	ins, err := rt.cli.ImageInspect(ctx, ref)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("image %s: %d MB", ref, ins.Size>>20)

	drain := func(rc io.ReadCloser, err error) int64 {
		if err != nil {
			b.Fatal(err)
		}
		defer rc.Close()
		n, err := io.Copy(io.Discard, rc)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	var backend, direct time.Duration
	var size int64
	for b.Loop() {
		start := time.Now()
		size = drain(c.ImageSave(ctx, []string{ref}))
		backend += time.Since(start)
		start = time.Now()
		if n := drain(rt.cli.ImageSave(ctx, []string{ref})); n != size {
			b.Fatalf("the backend streamed %d bytes, the daemon %d", size, n)
		}
		direct += time.Since(start)
	}
	report(b, backend, direct)
	mb := float64(size) / (1 << 20) * float64(b.N)
	b.ReportMetric(mb/backend.Seconds(), "backend-MB/s")
	b.ReportMetric(mb/direct.Seconds(), "docker-MB/s")
}
