package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/conformance/internal/registrypush"
)

// BenchmarkRegistryPull times the everyday loop's two halves on a k3d
// registry: pushing a 100 MB image from the host, and the image reaching
// a cluster of one server and two agents, all three pulling at once through
// the mirror k3d wrote into them. Each round pushes a new image (random
// bytes, so nothing is shared with the last round); the table prints
// medians and the ratio (target: the three pulls in at most 1.3x one push).
// Run it with -run '^$' -bench RegistryPull -benchtime 3x.
func BenchmarkRegistryPull(b *testing.B) {
	for _, r := range suite.runtimes {
		b.Run(r.name, func(b *testing.B) {
			r.require(b)
			benchRegistryPull(b, r)
		})
	}
}

func benchRegistryPull(b *testing.B, r *runtimeEnv) {
	const size = 100 << 20
	s := newSession(b, r)
	reg := registryName("bench")
	port := freePort(b)
	s.createRegistry(reg, "-p", port)
	name := clusterName("rbench")
	s.createCluster(name, "--agents", "2", "--registry-use", "k3d-"+reg+":"+port, "--kubeconfig-update-default=false")
	nodes := []string{"k3d-" + name + "-server-0", "k3d-" + name + "-agent-0", "k3d-" + name + "-agent-1"}

	var pushTimes, pullTimes, execTimes []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		img := staticImage(b, size, uint64(i)+uint64(time.Now().UnixNano()))
		tag := fmt.Sprintf("r%d", i)
		b.StartTimer()

		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		err := registrypush.Push(ctx, "http://127.0.0.1:"+port, "bench/app", tag, img)
		cancel()
		if err != nil {
			b.Fatalf("push: %v", err)
		}
		pushTimes = append(pushTimes, time.Since(start))

		ref := "k3d-" + reg + ":" + port + "/bench/app:" + tag
		pullTimes = append(pullTimes, inEveryNode(b, r, nodes, "crictl", "pull", ref))
		// The kubelet asks its containerd directly; the bench has to exec
		// into the nodes, which costs the same with nothing to move.
		execTimes = append(execTimes, inEveryNode(b, r, nodes, "crictl", "images", "-q"))
	}
	b.StopTimer()
	push, pull, ex := median(pushTimes), median(pullTimes), median(execTimes)
	ratio := pull.Seconds() / push.Seconds()
	fmt.Printf("\nk3d registry: push vs. pull into %d nodes on %s: %d MB image, median of %d round(s)\n", len(nodes), r.name, size>>20, len(pushTimes))
	fmt.Printf("  push from the host to the registry:            %.2fs (%s)\n", push.Seconds(), spread(pushTimes))
	fmt.Printf("  crictl pull in every node, concurrently:       %.2fs (%s)\n", pull.Seconds(), spread(pullTimes))
	fmt.Printf("  of which exec into the nodes (crictl images):  %.2fs (%s)\n", ex.Seconds(), spread(execTimes))
	fmt.Printf("  ratio %.2fx: %s\n\n", ratio, verdict(ratio, "<= 1.30x"))
	b.ReportMetric(push.Seconds(), "push-s")
	b.ReportMetric(pull.Seconds(), "pull-s")
	b.ReportMetric(ex.Seconds(), "exec-s")
	b.ReportMetric(ratio, "ratio")
}

// inEveryNode runs cmd in every node at once and returns how long the
// slowest took.
func inEveryNode(b *testing.B, r *runtimeEnv, nodes []string, cmd ...string) time.Duration {
	b.Helper()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for j, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var out bytes.Buffer
			code, err := r.rt.Exec(ctx, n, backends.ExecSpec{Cmd: cmd, Stdout: &out, Stderr: &out})
			if err == nil && code != 0 {
				err = fmt.Errorf("exit %d: %s", code, out.String())
			}
			if err != nil {
				errs[j] = fmt.Errorf("%v in %s: %w", cmd, n, err)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	return took
}

// staticImage is an image of size random bytes in two layers, stored as
// is: the registry and the nodes move bytes without compressing them, as
// they would a real image's already compressed layers.
func staticImage(b *testing.B, size int64, seed uint64) v1.Image {
	b.Helper()
	var seedBytes [32]byte
	for i := range 8 {
		seedBytes[i] = byte(seed >> (8 * i))
	}
	rng := rand.NewChaCha8(seedBytes)
	img := empty.Image
	for range 2 {
		data := make([]byte, size/2)
		rng.Read(data)
		var err error
		img, err = mutate.AppendLayers(img, static.NewLayer(data, types.DockerLayer))
		if err != nil {
			b.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		b.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		b.Fatal(err)
	}
	return img
}
