package podman

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/containers/podman/v4/pkg/bindings"
	"github.com/containers/podman/v4/pkg/bindings/containers"
	"github.com/containers/podman/v4/pkg/bindings/images"
	"github.com/containers/podman/v4/pkg/bindings/system"
	"github.com/containers/podman/v4/pkg/specgen"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/internal/builtbin"
	"github.com/k3d/k3d/engine/imagebuild"
)

// The benchmarks set what k3d pays for running the backend as a subprocess
// beside calling the same Podman bindings directly, in one run: start-up,
// one call, a node's life and a large stream. Each reports both sides and
// their ratio. They use the service the environment names, as k3d does:
//
//	go test -tags "$(cat buildtags)" -run '^$' -bench . -benchtime 5x .
//	CONTAINER_HOST=unix:///run/user/1001/podman/podman.sock go test ...  (rootless)

// backendOptions keeps the backend's info cache in the run's own directory,
// so the run neither finds a warm cache nor leaves one behind.
func backendOptions() backends.OpenOptions {
	return backends.OpenOptions{Env: []string{"XDG_CACHE_HOME=" + filepath.Join(suite.tmp, "cache")}}
}

func openBackend(b *testing.B, ctx context.Context, path string) *backends.Client {
	b.Helper()
	c, err := backends.OpenPath(ctx, path, backendOptions())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// direct is ctx carrying the fixture's bindings connection: the direct side
// keeps the benchmark's deadline without paying a new connection per call.
func direct(ctx context.Context) context.Context {
	return withConn{Context: ctx, conn: suite.conn}
}

// report prints both sides per operation and how many times slower the
// backend is.
func report(b *testing.B, backend, direct time.Duration) {
	n := float64(b.N)
	b.ReportMetric(float64(backend.Microseconds())/n, "backend-µs/op")
	b.ReportMetric(float64(direct.Microseconds())/n, "podman-µs/op")
	b.ReportMetric(float64(backend)/float64(direct), "x-podman")
	b.ReportMetric(0, "ns/op") // the loop's own time mixes both sides
}

// (a) What every k3d command pays first: starting the backend and asking it
// for Info, against connecting the bindings and asking the service's info.
//
// The backend keeps the service's info in a file keyed by the service
// process (infocache.go), so only the first command after the service
// starts asks for it: that one is timed alone, before the loop, as
// cold-backend-µs. The loop times every later command.
func BenchmarkStartAndInfo(b *testing.B) {
	path := builtbin.Backend(b, "podman")
	ctx := needService(b)
	uri := suite.rt.endpoint.uri
	startInfo := func() (backends.Info, time.Duration) {
		start := time.Now()
		c, err := backends.OpenPath(ctx, path, backendOptions())
		if err != nil {
			b.Fatal(err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
		return info, time.Since(start)
	}
	info, cold := startInfo()
	b.Logf("%s: podman %s, rootless %v", info.Endpoint, info.Version, info.Rootless)

	var backend, direct time.Duration
	for b.Loop() {
		_, d := startInfo()
		backend += d

		start := time.Now()
		conn, err := bindings.NewConnection(ctx, uri)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := system.Info(conn, nil); err != nil {
			b.Fatal(err)
		}
		direct += time.Since(start)
		// As the backend's exit does; idle connections would pile up.
		if c, err := bindings.GetClient(conn); err == nil {
			c.Client.CloseIdleConnections()
		}
	}
	report(b, backend, direct)
	b.ReportMetric(float64(cold.Microseconds()), "cold-backend-µs")
}

// (b) One round trip: ImageExists through the protocol against the bindings'
// images.Exists, the same request to the service.
func BenchmarkRoundTrip(b *testing.B) {
	path := builtbin.Backend(b, "podman")
	ctx := needService(b)
	c := openBackend(b, ctx, path)
	// The backend connects on its first call; k3d pays that once per
	// command, and (a) counts it.
	if ok, err := c.ImageExists(ctx, suite.image); err != nil || !ok {
		b.Fatalf("ImageExists(%s) = %v, %v", suite.image, ok, err)
	}
	dctx := direct(ctx)
	var backend, direct time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := c.ImageExists(ctx, suite.image); err != nil {
			b.Fatal(err)
		}
		backend += time.Since(start)
		start = time.Now()
		if ok, err := images.Exists(dctx, suite.image, nil); err != nil || !ok {
			b.Fatalf("images.Exists(%s) = %v, %v", suite.image, ok, err)
		}
		direct += time.Since(start)
	}
	report(b, backend, direct)
}

// (c) A node's life, the figure k3d's create and delete are made of:
// CreateNode, StartNode, DeleteNode through the protocol, against
// containers.CreateWithSpec, Start and a forced Remove of the same image.
// The direct side makes the least that runs: the backend's extra work
// (looking the image up for its labels, hostname and sysctl in the spec,
// inspecting after create and before delete) is what k3d pays.
func BenchmarkNodeLife(b *testing.B) {
	path := builtbin.Backend(b, "podman")
	ctx := needService(b)
	c := openBackend(b, ctx, path)
	if _, err := c.Info(ctx); err != nil { // connects, as in (b)
		b.Fatal(err)
	}
	dctx := direct(ctx)
	labels := map[string]string{labelTestRun: suite.runID}
	var backend, direct time.Duration
	i := 0
	for b.Loop() {
		name := fmt.Sprintf("k3d-bench-%s-%d", suite.runID, i)
		i++
		start := time.Now()
		_, err := c.CreateNode(ctx, backends.NodeSpec{Name: name, Image: suite.image, Labels: labels})
		if err == nil {
			err = c.StartNode(ctx, name)
		}
		if err == nil {
			err = c.DeleteNode(ctx, name)
		}
		if err != nil {
			b.Fatal(err)
		}
		backend += time.Since(start)

		start = time.Now()
		if err := directNodeLife(dctx, name+"-direct", labels); err != nil {
			b.Fatal(err)
		}
		direct += time.Since(start)
	}
	report(b, backend, direct)
}

func directNodeLife(ctx context.Context, name string, labels map[string]string) error {
	s := specgen.NewSpecGenerator(suite.image, false)
	s.Name = name
	s.Labels = labels
	res, err := containers.CreateWithSpec(ctx, s, nil)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	if err := containers.Start(ctx, res.ID, nil); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	// Timeout 0 as DeleteNode does: otherwise the service asks the node to
	// stop and waits up to 10 s before it kills it.
	reps, err := containers.Remove(ctx, res.ID, new(containers.RemoveOptions).WithForce(true).WithVolumes(true).WithTimeout(0))
	if err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	for _, r := range reps {
		if r != nil && r.Err != nil {
			return fmt.Errorf("remove %s: %w", name, r.Err)
		}
	}
	return nil
}

// benchImageSize is the large image's random (incompressible) payload.
const benchImageSize = 200 << 20

var benchImage struct {
	once sync.Once
	ref  string
	err  error
}

// bigImage loads, once per test process, the test program plus 200 MB of
// random data; TestMain's sweep removes it.
func bigImage(b *testing.B, ctx context.Context) string {
	benchImage.once.Do(func() {
		data := make([]byte, benchImageSize)
		_, _ = io.ReadFull(rand.NewChaCha8([32]byte{1}), data)
		benchImage.ref, benchImage.err = loadImage(ctx, "k3d-test/podman-bench-200mb:"+suite.runID,
			imagebuild.File{Path: "/random.bin", Mode: 0o644, Data: data})
	})
	if benchImage.err != nil {
		b.Fatal(benchImage.err)
	}
	return benchImage.ref
}

// countingWriter counts what a stream carried, discarding it.
type countingWriter int64

func (w *countingWriter) Write(p []byte) (int, error) {
	*w += countingWriter(len(p))
	return len(p), nil
}

// (d) A large stream: saving a 200 MB image through the protocol against
// the bindings' images.Export in the same format (uncompressed
// docker-archive). Both are read to the end.
func BenchmarkImageSave200MB(b *testing.B) {
	path := builtbin.Backend(b, "podman")
	ctx := needService(b)
	c := openBackend(b, ctx, path)
	ref := bigImage(b, ctx)
	dctx := direct(ctx)
	opts := new(images.ExportOptions).WithFormat("docker-archive").WithCompress(false)

	var backend, direct time.Duration
	var size int64
	for b.Loop() {
		start := time.Now()
		rc, err := c.ImageSave(ctx, []string{ref})
		if err != nil {
			b.Fatal(err)
		}
		size, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			b.Fatal(err)
		}
		backend += time.Since(start)

		start = time.Now()
		var n countingWriter
		if err := images.Export(dctx, []string{ref}, &n, opts); err != nil {
			b.Fatal(err)
		}
		direct += time.Since(start)
		if int64(n) != size {
			b.Fatalf("the backend streamed %d bytes, the bindings %d", size, n)
		}
	}
	b.Logf("image %s: %d MB saved", ref, size>>20)
	report(b, backend, direct)
	mb := float64(size) / (1 << 20) * float64(b.N)
	b.ReportMetric(mb/backend.Seconds(), "backend-MB/s")
	b.ReportMetric(mb/direct.Seconds(), "podman-MB/s")
}
