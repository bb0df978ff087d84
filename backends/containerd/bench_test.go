package containerd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	client "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/oci"
	"github.com/containernetworking/cni/libcni"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/internal/builtbin"
)

// The benchmarks set what k3d pays beside doing the same work directly
// with the containerd client and CNI, in one run: start-up, and a node's
// whole life (create with a network and a published port, start, delete).
// Each reports both sides and their ratio.
//
//	go test -run '^$' -bench . -benchtime 10x

// openBackend starts the backend program on the suite's namespace and root.
func openBackend(b *testing.B, ctx context.Context) *backends.Client {
	b.Helper()
	c, err := backends.OpenPath(ctx, builtbin.Backend(b, "containerd"), backends.OpenOptions{Env: []string{
		EnvNamespace + "=" + suite.rt.namespace,
		EnvRoot + "=" + suite.rt.root.root,
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func report(b *testing.B, backend, direct time.Duration) {
	n := float64(b.N)
	b.ReportMetric(float64(backend.Microseconds())/n, "backend-µs/op")
	b.ReportMetric(float64(direct.Microseconds())/n, "containerd-µs/op")
	b.ReportMetric(float64(backend)/float64(direct), "x-containerd")
	b.ReportMetric(0, "ns/op")
}

// What every k3d command pays first: starting the backend and asking for
// Info, against connecting a client and asking for the version.
func BenchmarkStartInfo(b *testing.B) {
	if suite.skipWhy != "" {
		b.Skip(suite.skipWhy)
	}
	ctx := context.Background()
	path := builtbin.Backend(b, "containerd")
	var backend, direct time.Duration
	for range b.N {
		t0 := time.Now()
		c, err := backends.OpenPath(ctx, path, backends.OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Info(ctx); err != nil {
			b.Fatal(err)
		}
		c.Close()
		backend += time.Since(t0)

		t0 = time.Now()
		cli, err := client.New(suite.rt.address)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := cli.Version(ctx); err != nil {
			b.Fatal(err)
		}
		cli.Close()
		direct += time.Since(t0)
	}
	report(b, backend, direct)
}

// A node's life: create (root filesystem, network namespace, CNI with a
// published port), start, delete. The direct side does the least that gives
// a running container on the same network: no hosts files, log driver,
// volumes, port bookkeeping or locks.
func BenchmarkNodeLife(b *testing.B) {
	if suite.skipWhy != "" {
		b.Skip(suite.skipWhy)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	be := openBackend(b, ctx)
	netName := fmt.Sprintf("bench-%s-n%d", suite.runID, b.N)
	if _, err := be.CreateNetwork(ctx, backends.NetworkSpec{Name: netName}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = be.DeleteNetwork(context.Background(), netName) })
	ports := []backends.PortMapping{{HostIP: "127.0.0.1", ContainerPort: 7000}}

	var backend, direct time.Duration
	for i := range b.N {
		name := fmt.Sprintf("bench-%s-n%d-%d", suite.runID, b.N, i)
		t0 := time.Now()
		_, err := be.CreateNode(ctx, backends.NodeSpec{Name: name, Image: suite.image, Networks: []backends.NetworkAttachment{{Network: netName}}, Ports: ports})
		if err == nil {
			err = be.StartNode(ctx, name)
		}
		if err == nil {
			err = be.DeleteNode(ctx, name)
		}
		if err != nil {
			b.Fatal(err)
		}
		backend += time.Since(t0)

		t0 = time.Now()
		if err := directNodeLife(ctx, name+"-direct", netName); err != nil {
			b.Fatal(err)
		}
		direct += time.Since(t0)
	}
	report(b, backend, direct)
}

// directNodeLife is a node's life through the containerd client and libcni.
func directNodeLife(ctx context.Context, name, netName string) error {
	rt := suite.rt
	cli, ctx, err := rt.Client(ctx)
	if err != nil {
		return err
	}
	img, err := cli.GetImage(ctx, normalizeRef(suite.image))
	if err != nil {
		return err
	}
	nsPath := filepath.Join(rt.root.netnsDir(), name)
	if err := newNetNS(nsPath); err != nil {
		return err
	}
	defer removeNetNS(nsPath)
	c, err := cli.NewContainer(ctx, name, client.WithImage(img), client.WithNewSnapshot(name, img),
		client.WithNewSpec(oci.WithImageConfig(img), withNetNS(nsPath)))
	if err != nil {
		return err
	}
	defer c.Delete(context.WithoutCancel(ctx), client.WithSnapshotCleanup)
	raw, err := rt.rawNetwork(netName)
	if err != nil {
		return err
	}
	list, err := libcni.NetworkConfFromBytes(raw)
	if err != nil {
		return err
	}
	lo, err := libcni.NetworkConfFromBytes([]byte(loopbackConf))
	if err != nil {
		return err
	}
	cni := libcni.NewCNIConfigWithCacheDir(rt.cniPath, rt.root.path("cni-cache"), nil)
	loConf := &libcni.RuntimeConf{ContainerID: name, NetNS: nsPath, IfName: "lo"}
	if _, err := cni.AddNetworkList(ctx, lo, loConf); err != nil {
		return err
	}
	defer cni.DelNetworkList(context.WithoutCancel(ctx), lo, loConf)
	conf := cniRuntimeConf(name, nsPath, attachment{Network: netName, IfName: "eth0"}, []backends.PortMapping{{HostIP: "127.0.0.1", HostPort: 1 + uint16(os.Getpid()%20000) + 40000, ContainerPort: 7000, Protocol: "tcp"}})
	if _, err := cni.AddNetworkList(ctx, list, conf); err != nil {
		return err
	}
	defer cni.DelNetworkList(context.WithoutCancel(ctx), list, conf)
	task, err := c.NewTask(ctx, cio.NullIO)
	if err != nil {
		return err
	}
	if err := task.Start(ctx); err != nil {
		return err
	}
	if err := task.Kill(ctx, syscall.SIGKILL); err != nil {
		return err
	}
	_, err = task.Delete(ctx, client.WithProcessKill)
	return err
}
