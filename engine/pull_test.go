package engine

import (
	"os"
	"strings"
	"testing"

	"github.com/k3d/k3d/backends"
)

// A node image that is present is never pulled: air-gapped hosts keep
// working with images loaded by hand.
func TestPresentNodeImageIsNeverPulled(t *testing.T) {
	te := newTestEnv(t)
	ctx := ctxT(t)
	if _, err := te.e.CreateCluster(ctx, CreateClusterOptions{Name: "dev", Servers: 1, Agents: 1, Image: testImage}); err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, err := te.engine().CreateNodes(ctx, CreateNodeOptions{Name: "more", Cluster: "dev", Role: RoleAgent, Replicas: 1, Image: testImage}); err != nil {
		t.Fatalf("create node: %v", err)
	}
	if n := te.rt.Calls("ImagePull"); n != 0 {
		t.Errorf("ImagePull called %d times for an image that is present", n)
	}
}

// A missing node image is pulled, with its bytes shown, before anything is
// made; the cluster then runs on it.
func TestMissingNodeImageIsPulledWithProgress(t *testing.T) {
	te := newTestEnv(t)
	tr := &transferRecorder{}
	te.e = New(te.rt, WithProgress(tr), WithHelperImage(te.e.helperImage))
	ctx := ctxT(t)
	const ref = "registry.example:5000/k3s:new"
	te.rt.AddRemoteImage(ref, 40<<20)
	c, err := te.e.CreateCluster(ctx, CreateClusterOptions{Name: "dev", Servers: 1, Image: ref})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if n := te.rt.Calls("ImagePull"); n != 1 {
		t.Errorf("ImagePull called %d times, want once", n)
	}
	if c.Nodes[0].Image != ref && te.node(t, "k3d-dev-server-0").Image != ref {
		t.Errorf("server runs %s, want %s", te.node(t, "k3d-dev-server-0").Image, ref)
	}
	st, err := tr.last(t, "Pulling image "+ref)
	if err != nil || st.Bytes != 40<<20 || st.Total != 40<<20 || st.Nodes != 0 {
		t.Errorf("pull progress ended at %+v (%v); want all 40 MiB of 40 MiB", st, err)
	}
	// Once present it is not pulled again, for the cluster or its nodes.
	if _, err := te.engine().CreateNodes(ctx, CreateNodeOptions{Name: "more", Cluster: "dev", Role: RoleAgent, Replicas: 1}); err != nil {
		t.Fatalf("create node: %v", err)
	}
	if n := te.rt.Calls("ImagePull"); n != 1 {
		t.Errorf("ImagePull called %d times after create node, want still once", n)
	}
}

// `create node --image X` pulls X when it is missing, and a failed pull
// adds no node.
func TestCreateNodePullsItsImage(t *testing.T) {
	te := newTestEnv(t)
	ctx := ctxT(t)
	if _, err := te.e.CreateCluster(ctx, CreateClusterOptions{Name: "dev", Servers: 1, Image: testImage}); err != nil {
		t.Fatal(err)
	}
	before, creates := te.rt.Snapshot(), te.rt.Calls("CreateNode")
	_, err := te.engine().CreateNodes(ctx, CreateNodeOptions{Name: "bad", Cluster: "dev", Role: RoleAgent, Replicas: 1, Image: "127.0.0.1:1/k3s:x"})
	if !backends.IsUnreachable(err) || !strings.Contains(err.Error(), "127.0.0.1:1/k3s:x") {
		t.Errorf("unreachable registry: got %v", err)
	}
	if after := te.rt.Snapshot(); after != before || te.rt.Calls("CreateNode") != creates {
		t.Errorf("a failed pull changed the runtime:\nbefore %s\nafter  %s", before, after)
	}
	te.rt.AddRemoteImage("k3s:newer", 1<<20)
	nodes, err := te.engine().CreateNodes(ctx, CreateNodeOptions{Name: "new", Cluster: "dev", Role: RoleAgent, Replicas: 1, Image: "k3s:newer"})
	if err != nil {
		t.Fatalf("create node: %v", err)
	}
	if nodes[0].Image != "k3s:newer" || te.rt.Calls("ImagePull") != 2 {
		t.Errorf("new node runs %s after %d pulls", nodes[0].Image, te.rt.Calls("ImagePull"))
	}
}

// A failed pull is one line naming the image and why, saying how to get the
// image without a registry, and leaves nothing behind.
func TestFailedPullSaysWhyAndHowAndLeavesNothing(t *testing.T) {
	for _, tc := range []struct {
		name, runtime string
		notFound      bool
		want          []string
	}{
		{"unreachable on docker", "docker", false, []string{"127.0.0.1:1/k3s:x", "could not be reached", "`docker load -i FILE`", "`docker tag IMAGE 127.0.0.1:1/k3s:x`", "k3d image import"}},
		{"unknown to the registry on podman", "podman", true, []string{"127.0.0.1:1/k3s:x", "does not have it", "`podman load -i FILE`", "`podman tag IMAGE 127.0.0.1:1/k3s:x`"}},
		{"unreachable on containerd", "containerd", false, []string{"could not be reached", "`ctr -n k3d images import FILE`", "`ctr -n k3d images tag IMAGE 127.0.0.1:1/k3s:x`"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnvInfo(t, backends.Info{Name: tc.runtime, CgroupVersion: 2, FullPrivileges: true, Endpoint: "unix:///fake.sock"})
			if tc.notFound {
				te.rt.Fail("ImagePull", "", backends.NotFound(`image "127.0.0.1:1/k3s:x"`))
			}
			before := te.rt.Snapshot()
			_, err := te.e.CreateCluster(ctxT(t), CreateClusterOptions{Name: "dev", Servers: 1, Agents: 1, Image: "127.0.0.1:1/k3s:x", UpdateKubeconfig: true})
			if err == nil {
				t.Fatal("create succeeded")
			}
			if tc.notFound && !backends.IsNotFound(err) || !tc.notFound && !backends.IsUnreachable(err) {
				t.Errorf("error kind lost: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q: %v", w, err)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if after := te.rt.Snapshot(); after != before {
				t.Errorf("runtime changed:\nbefore %s\nafter  %s", before, after)
			}
			for _, m := range []string{"CreateNode", "CreateNetwork", "CreateVolume"} {
				if n := te.rt.Calls(m); n != 0 {
					t.Errorf("%s called %d times", m, n)
				}
			}
			if _, err := os.Stat(te.kubeconfig); err == nil {
				t.Error("a kubeconfig was written")
			}
		})
	}
}
