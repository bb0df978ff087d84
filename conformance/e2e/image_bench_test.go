package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine/imagebuild"
)

// BenchmarkImageImport times `k3d image import` of a 200 MB image into one
// server and three agents against the floor: the runtime's own save stream
// piped into one node's `ctr images import -` through the contract, in this
// process. Both run in each round; the table prints medians and the ratio
// (target: all four nodes in at most 1.3x the floor for one). Run it with
// -run '^$' -bench ImageImport -benchtime 3x.
func BenchmarkImageImport(b *testing.B) {
	for _, r := range suite.runtimes {
		b.Run(r.name, func(b *testing.B) {
			r.require(b)
			benchImageImport(b, r)
		})
	}
}

func benchImageImport(b *testing.B, r *runtimeEnv) {
	ctx := context.Background()
	const ref = "k3d-e2e-import:bench200"
	const size = 200 << 20
	// Random data, so that no layer compresses; a fixed seed, so that a
	// later run loads the same image and leaves nothing dangling.
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{'k', '3', 'd'}).Read(data)
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(imagebuild.WriteArchive(pw, imagebuild.Spec{Ref: ref,
			Files: []imagebuild.File{{Path: "/data.bin", Mode: 0o644, Data: data}}, Entrypoint: []string{"/nothing"}}))
	}()
	if _, err := r.rt.ImageLoad(ctx, pr); err != nil {
		b.Fatalf("load %s: %v", ref, err)
	}
	data = nil

	s := newSession(b, r)
	name := clusterName("ibench")
	s.createCluster(name, "--agents", "3")
	server := "k3d-" + name + "-server-0"

	var k3dTimes, floorTimes []time.Duration
	var bytesStreamed int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		n, err := floorImport(ctx, r.rt, ref, server)
		if err != nil {
			b.Fatal(err)
		}
		floorTimes = append(floorTimes, time.Since(start))
		bytesStreamed = n
		res := s.must("image", "import", ref, "-c", name, "--force")
		k3dTimes = append(k3dTimes, res.duration)
	}
	b.StopTimer()
	k, f := median(k3dTimes), median(floorTimes)
	ratio := k.Seconds() / f.Seconds()
	fmt.Printf("\nk3d image import vs. the floor on %s: %.0f MB image, median of %d round(s)\n", r.name, float64(bytesStreamed)/1e6, len(k3dTimes))
	fmt.Printf("  floor (save stream -> ctr import in 1 node, in process): %.2fs (%s)\n", f.Seconds(), spread(floorTimes))
	fmt.Printf("  k3d image import into 1 server + 3 agents:              %.2fs (%s)\n", k.Seconds(), spread(k3dTimes))
	fmt.Printf("  ratio %.2fx: %s\n\n", ratio, verdict(ratio, "<= 1.30x"))
	b.ReportMetric(k.Seconds(), "k3d-s")
	b.ReportMetric(f.Seconds(), "floor-s")
	b.ReportMetric(ratio, "ratio")
}

// floorImport pipes the runtime's save stream into one node's ctr import.
func floorImport(ctx context.Context, rt backends.Runtime, ref, node string) (int64, error) {
	stream, err := rt.ImageSave(ctx, []string{ref})
	if err != nil {
		return 0, err
	}
	defer stream.Close()
	cr := &countingReader{r: stream}
	var stderr bytes.Buffer
	code, err := rt.Exec(ctx, node, backends.ExecSpec{Cmd: []string{"ctr", "-n", "k8s.io", "images", "import", "-"}, Stdin: cr, Stderr: &stderr})
	if err != nil {
		return 0, fmt.Errorf("floor import into %s: %w", node, err)
	}
	if code != 0 {
		return 0, fmt.Errorf("floor import into %s: exit %d: %s", node, code, stderr.String())
	}
	return cr.n, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
