package k3s

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k3d/k3d/engine/kubeapi"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
)

// jsonClientset talks JSON: client-go sends protobuf by default, which the
// double does not speak.
func jsonClientset(t *testing.T, dir, server string) *kubernetes.Clientset {
	t.Helper()
	cfg := restConfig(t, filepath.Join(dir, server+".yaml"))
	cfg.ContentType = "application/json"
	return clientset(t, cfg)
}

func configMaps(t *testing.T, dir, server, ns string) typedcorev1.ConfigMapInterface {
	t.Helper()
	return jsonClientset(t, dir, server).CoreV1().ConfigMaps(ns)
}

func newConfigMap(name string, data map[string]string, labels map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Data: data}
}

func TestConfigMapCreateThenGet(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir, "server-0")
	cms := configMaps(t, dir, "server-0", "kube-public")
	in := newConfigMap("local-registry-hosting", map[string]string{"localRegistryHosting.v1": "host: localhost:5000\n"}, map[string]string{"app": "k3d"})
	in.BinaryData = map[string][]byte{"blob": {0, 1, 2}}
	in.Annotations = map[string]string{"note": "x"}
	created, err := cms.Create(t.Context(), in, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.UID == "" || created.ResourceVersion == "" || created.CreationTimestamp.IsZero() || created.Namespace != "kube-public" {
		t.Errorf("created object lacks server-set metadata: %+v", created.ObjectMeta)
	}
	got, err := cms.Get(t.Context(), "local-registry-hosting", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.Data["localRegistryHosting.v1"] != "host: localhost:5000\n" || string(got.BinaryData["blob"]) != "\x00\x01\x02" {
		t.Errorf("get returned data %v, binaryData %v", got.Data, got.BinaryData)
	}
	if got.Labels["app"] != "k3d" || got.Annotations["note"] != "x" || got.UID != created.UID || got.ResourceVersion != created.ResourceVersion {
		t.Errorf("get returned metadata %+v, created %+v", got.ObjectMeta, created.ObjectMeta)
	}
}

func TestConfigMapCreateTwiceIsAlreadyExists(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir, "server-0")
	cms := configMaps(t, dir, "server-0", "default")
	if _, err := cms.Create(t.Context(), newConfigMap("a", nil, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := cms.Create(t.Context(), newConfigMap("a", nil, nil), metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) || err.Error() != `configmaps "a" already exists` {
		t.Errorf("second create: %v, want AlreadyExists", err)
	}
}

func TestConfigMapReplaceChecksResourceVersion(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir, "server-0")
	cms := configMaps(t, dir, "server-0", "default")
	v1, err := cms.Create(t.Context(), newConfigMap("a", map[string]string{"k": "1"}, nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	next := v1.DeepCopy()
	next.Data["k"] = "2"
	v2, err := cms.Update(t.Context(), next, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update with the current resourceVersion: %v", err)
	}
	if v2.ResourceVersion == v1.ResourceVersion || v2.UID != v1.UID || !v2.CreationTimestamp.Equal(&v1.CreationTimestamp) {
		t.Errorf("after update: rv %s (was %s), uid %s (was %s)", v2.ResourceVersion, v1.ResourceVersion, v2.UID, v1.UID)
	}

	stale := v1.DeepCopy()
	stale.Data["k"] = "stale"
	_, err = cms.Update(t.Context(), stale, metav1.UpdateOptions{})
	want := `Operation cannot be fulfilled on configmaps "a": the object has been modified; please apply your changes to the latest version and try again`
	if !apierrors.IsConflict(err) || err.Error() != want {
		t.Errorf("update with a stale resourceVersion: %v, want Conflict", err)
	}

	// Without a resourceVersion, a replace overwrites whatever is there.
	blind := newConfigMap("a", map[string]string{"other": "x"}, nil)
	if _, err := cms.Update(t.Context(), blind, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update without resourceVersion: %v", err)
	}
	got, err := cms.Get(t.Context(), "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Data) != 1 || got.Data["other"] != "x" {
		t.Errorf("after a blind replace, data = %v", got.Data)
	}

	if _, err := cms.Update(t.Context(), newConfigMap("missing", nil, nil), metav1.UpdateOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("update of a missing ConfigMap: %v, want NotFound", err)
	}
}

func TestConfigMapMissingIsNotFound(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir, "server-0")
	cms := configMaps(t, dir, "server-0", "kube-public")
	_, err := cms.Get(t.Context(), "local-registry-hosting", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) || err.Error() != `configmaps "local-registry-hosting" not found` {
		t.Errorf("get of a missing ConfigMap: %v", err)
	}
	if err := cms.Delete(t.Context(), "local-registry-hosting", metav1.DeleteOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("delete of a missing ConfigMap: %v", err)
	}
}

func TestConfigMapCreateIsValidated(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir, "server-0")
	_, err := configMaps(t, dir, "server-0", "nope").Create(t.Context(), newConfigMap("a", nil, nil), metav1.CreateOptions{})
	if !apierrors.IsNotFound(err) || err.Error() != `namespaces "nope" not found` {
		t.Errorf("create in a missing namespace: %v", err)
	}
	// client-go's default, protobuf, is refused in so many words.
	proto := clientset(t, restConfig(t, filepath.Join(dir, "server-0.yaml"))).CoreV1().ConfigMaps("default")
	_, err = proto.Create(t.Context(), newConfigMap("a", nil, nil), metav1.CreateOptions{})
	if !apierrors.IsUnsupportedMediaType(err) || !strings.Contains(err.Error(), "accepted media types include: application/json") {
		t.Errorf("create in protobuf: %v, want UnsupportedMediaType", err)
	}
	cms := configMaps(t, dir, "server-0", "default")
	_, err = cms.Create(t.Context(), newConfigMap("Not_A_Name", nil, nil), metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `ConfigMap "Not_A_Name" is invalid: metadata.name: Invalid value: "Not_A_Name": a lowercase RFC 1123 subdomain`) {
		t.Errorf("create with an invalid name: %v", err)
	}
	_, err = cms.Create(t.Context(), newConfigMap("a", map[string]string{"bad key": "v"}, nil), metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "data[bad key]") {
		t.Errorf("create with an invalid key: %v", err)
	}
}

func TestConfigMapListHonoursLabelSelector(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir, "server-0")
	cs := jsonClientset(t, dir, "server-0")
	for _, c := range []struct{ ns, name, app string }{{"default", "a", "k3d"}, {"default", "b", "other"}, {"kube-public", "c", "k3d"}} {
		if _, err := cs.CoreV1().ConfigMaps(c.ns).Create(t.Context(), newConfigMap(c.name, nil, map[string]string{"app": c.app}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	names := func(ns, selector string) []string {
		t.Helper()
		list, err := cs.CoreV1().ConfigMaps(ns).List(t.Context(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			t.Fatalf("list %q %q: %v", ns, selector, err)
		}
		if list.ResourceVersion == "" {
			t.Errorf("list %q %q has no resourceVersion", ns, selector)
		}
		var out []string
		for _, cm := range list.Items {
			out = append(out, cm.Namespace+"/"+cm.Name)
		}
		return out
	}
	for _, c := range []struct {
		ns, selector string
		want         []string
	}{
		{"default", "", []string{"default/a", "default/b"}},
		{"default", "app=k3d", []string{"default/a"}},
		{"", "app=k3d", []string{"default/a", "kube-public/c"}},
		// k3s's own CoreDNS ConfigMap has no app label.
		{"", "app!=k3d", []string{"default/b", "kube-system/coredns"}},
		{"kube-system", "", []string{"kube-system/coredns"}},
	} {
		if got := names(c.ns, c.selector); !slices.Equal(got, c.want) {
			t.Errorf("list in %q with %q = %v, want %v", c.ns, c.selector, got, c.want)
		}
	}
}

func TestConfigMapDeleteThenRecreate(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir, "server-0")
	cms := configMaps(t, dir, "server-0", "default")
	first, err := cms.Create(t.Context(), newConfigMap("a", map[string]string{"k": "1"}, nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stale := "0"
	err = cms.Delete(t.Context(), "a", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &stale}})
	if !apierrors.IsConflict(err) {
		t.Errorf("delete with a stale precondition: %v, want Conflict", err)
	}
	if err := cms.Delete(t.Context(), "a", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := cms.Get(t.Context(), "a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get after delete: %v, want NotFound", err)
	}
	again, err := cms.Create(t.Context(), newConfigMap("a", nil, nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create after delete: %v", err)
	}
	if again.UID == first.UID || len(again.Data) != 0 {
		t.Errorf("recreated ConfigMap: uid %s (was %s), data %v", again.UID, first.UID, again.Data)
	}
}

func TestConfigMapSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "server-0", "--token", "secret")
	if _, err := configMaps(t, dir, "server-0", "kube-public").Create(t.Context(), newConfigMap("a", map[string]string{"k": "v"}, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("server exit code = %d", code)
	}
	startServer(t, dir, "server-0", "--token", "secret")
	got, err := configMaps(t, dir, "server-0", "kube-public").Get(t.Context(), "a", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get after restart: %v", err)
	}
	if got.Data["k"] != "v" {
		t.Errorf("data after restart = %v", got.Data)
	}
}

// Behind a load balancer, each request may reach another server.
func TestConfigMapWrittenThroughOneServerReadsThroughAnother(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir, "server-0", "--token", "secret", "--cluster-init")
	url0 := serverURL(t, filepath.Join(dir, "server-0.yaml"))
	s1 := startServer(t, dir, "server-1", "--server", url0, "--token", "secret")
	s1.waitLog(`"Successfully registered node" node="server-1"`)
	cm0, cm1 := configMaps(t, dir, "server-0", "kube-public"), configMaps(t, dir, "server-1", "kube-public")

	created, err := cm0.Create(t.Context(), newConfigMap("a", map[string]string{"k": "1"}, nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cm1.Get(t.Context(), "a", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get through server-1: %v", err)
	}
	if got.Data["k"] != "1" || got.UID != created.UID || got.ResourceVersion != created.ResourceVersion {
		t.Errorf("server-1 has %+v %v, server-0 created %+v", got.ObjectMeta, got.Data, created.ObjectMeta)
	}
	if _, err := cm1.Create(t.Context(), newConfigMap("a", nil, nil), metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Errorf("create through server-1 of what server-0 has: %v", err)
	}

	// A version read through one server is good for a write through the
	// other, and stale there once the other wrote.
	got.Data["k"] = "2"
	if _, err := cm1.Update(t.Context(), got, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update through server-1: %v", err)
	}
	created.Data["k"] = "stale"
	if _, err := cm0.Update(t.Context(), created, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("stale update through server-0: %v, want Conflict", err)
	}
	if got, err := cm0.Get(t.Context(), "a", metav1.GetOptions{}); err != nil || got.Data["k"] != "2" {
		t.Errorf("server-0 after server-1's update: %v, %v", got.Data, err)
	}

	if err := cm1.Delete(t.Context(), "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cm0.Get(t.Context(), "a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("server-0 after delete through server-1: %v, want NotFound", err)
	}

	// A server that was down when the write happened learns it once back.
	if code := s1.stop(); code != 0 {
		t.Fatalf("server-1 exit code = %d", code)
	}
	if _, err := cm0.Create(t.Context(), newConfigMap("b", map[string]string{"k": "while down"}, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	startServer(t, dir, "server-1", "--server", url0, "--token", "secret")
	cm1 = configMaps(t, dir, "server-1", "kube-public")
	eventually(t, "server-1 to have ConfigMap b", func() bool {
		got, err := cm1.Get(t.Context(), "b", metav1.GetOptions{})
		return err == nil && got.Data["k"] == "while down"
	})
}

// engine/kubeapi is what k3d writes local-registry-hosting with.
func TestConfigMapThroughEngineClient(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir, "server-0")
	kc, err := os.ReadFile(filepath.Join(dir, "server-0.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := kubeapi.New(kc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cm := kubeapi.ConfigMap{Namespace: "kube-public", Name: "local-registry-hosting",
		Labels: map[string]string{"app": "k3d"}, Data: map[string]string{"localRegistryHosting.v1": "host: a\n"}}
	if err := c.ApplyConfigMap(ctx, cm); err != nil {
		t.Fatalf("apply (create): %v", err)
	}
	cm.Data = map[string]string{"localRegistryHosting.v1": "host: b\n"}
	if err := c.ApplyConfigMap(ctx, cm); err != nil {
		t.Fatalf("apply (replace): %v", err)
	}
	got, err := c.GetConfigMap(ctx, "kube-public", "local-registry-hosting")
	if err != nil {
		t.Fatal(err)
	}
	if got.Data["localRegistryHosting.v1"] != "host: b\n" || got.Labels["app"] != "k3d" || got.ResourceVersion == "" {
		t.Errorf("read back %+v", got)
	}
	if _, err := c.GetConfigMap(ctx, "kube-public", "missing"); !strings.Contains(err.Error(), `configmaps "missing" not found`) {
		t.Errorf("get missing: %v", err)
	}
}

func TestKubectlGetConfigMaps(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir, "server-0")
	cs := jsonClientset(t, dir, "server-0")
	if _, err := cs.CoreV1().ConfigMaps("kube-public").Create(t.Context(), newConfigMap("a", map[string]string{"k": "v"}, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kubectl := func(args ...string) string {
		t.Helper()
		code, out, errOut := runTool(t, filepath.Join(dir, "server-0"), nil, append([]string{"kubectl"}, args...)...)
		if code != 0 {
			t.Fatalf("kubectl %v = %d: %s", args, code, errOut)
		}
		return out
	}
	var obj corev1.ConfigMap
	if err := json.Unmarshal([]byte(kubectl("get", "configmap", "-n", "kube-public", "a", "-o", "json")), &obj); err != nil || obj.Data["k"] != "v" {
		t.Errorf("kubectl get configmap a -o json: %+v, %v", obj, err)
	}
	if out := kubectl("get", "cm", "-n", "kube-public", "-o", "yaml"); !strings.Contains(out, "k: v") {
		t.Errorf("kubectl get cm -o yaml:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(kubectl("get", "configmaps", "-A")), "\n")
	if len(lines) != 3 || !slices.Equal(strings.Fields(lines[0]), []string{"NAMESPACE", "NAME", "DATA", "AGE"}) ||
		!slices.Equal(strings.Fields(lines[1])[:3], []string{"kube-public", "a", "1"}) ||
		!slices.Equal(strings.Fields(lines[2])[:3], []string{"kube-system", "coredns", "2"}) {
		t.Errorf("kubectl get configmaps -A:\n%s", strings.Join(lines, "\n"))
	}
}

// A copy of a deleted ConfigMap that a peer still has does not bring it back.
func TestConfigMapTombstoneWinsOverOlderCopy(t *testing.T) {
	s, err := openConfigMaps(filepath.Join(t.TempDir(), "configmaps.json"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rec, err := s.create(ConfigMapRecord{Namespace: "default", Name: "a"}, now)
	if err != nil {
		t.Fatal(err)
	}
	ok := func(ConfigMapRecord) error { return nil }
	if _, err := s.remove("default", "a", ok, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.merge(rec); err != nil {
		t.Fatal(err)
	}
	if _, found := s.get("default", "a"); found {
		t.Error("an older copy brought a deleted ConfigMap back")
	}
}
