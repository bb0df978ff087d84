package kubeconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// k3dConfig is what FromK3s gives for cluster name, published on port.
func k3dConfig(t testing.TB, name, port string) *clientcmdapi.Config {
	t.Helper()
	cfg, err := FromK3s([]byte(k3sOutput), name, "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// someoneElses is a kubeconfig a user already had, with one cluster that is not k3d's.
const someoneElses = `apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://prod.example.com:6443
contexts:
- name: prod
  context:
    cluster: prod
    user: prod-admin
    namespace: billing
current-context: prod
users:
- name: prod-admin
  user:
    token: s3cr3t
`

func load(t *testing.T, path string) *clientcmdapi.Config {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// onlyFiles fails if the directory holds anything but the named files (temp or lock files left over).
func onlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("directory holds %v, want only %v", got, names)
	}
}

func TestMergeCreatesMissingFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home", ".kube")
	path := filepath.Join(dir, "config")
	if err := Merge(path, k3dConfig(t, "dev", "34567"), false); err != nil {
		t.Fatal(err)
	}
	cfg := load(t, path)
	if cfg.CurrentContext != "k3d-dev" {
		t.Errorf("current-context %q, want k3d-dev (the file had none)", cfg.CurrentContext)
	}
	if cfg.Clusters["k3d-dev"].Server != "https://127.0.0.1:34567" || cfg.AuthInfos["admin@k3d-dev"] == nil {
		t.Errorf("merged file lacks k3d-dev's entries: %+v", cfg)
	}
	if m := mode(t, path); m != 0o600 {
		t.Errorf("new kubeconfig has mode %o, want 600", m)
	}
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("new .kube directory has mode %o, want 700", m)
	}
	onlyFiles(t, dir, "config")
}

func TestMergeIntoEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Merge(path, k3dConfig(t, "dev", "1"), false); err != nil {
		t.Fatal(err)
	}
	if cfg := load(t, path); cfg.CurrentContext != "k3d-dev" || len(cfg.Contexts) != 1 {
		t.Errorf("merge into an empty file gave %+v", cfg)
	}
}

func TestMergeKeepsOthersEntries(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	if err := os.WriteFile(path, []byte(someoneElses), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Merge(path, k3dConfig(t, "dev", "1111"), false); err != nil {
		t.Fatal(err)
	}
	cfg := load(t, path)
	if cfg.CurrentContext != "prod" {
		t.Errorf("current-context %q, want prod kept (switchContext false)", cfg.CurrentContext)
	}
	if cfg.Clusters["prod"] == nil || cfg.AuthInfos["prod-admin"].Token != "s3cr3t" || cfg.Contexts["prod"].Namespace != "billing" {
		t.Errorf("the user's prod entries were damaged: %+v", cfg)
	}
	if cfg.Clusters["k3d-dev"] == nil || cfg.Contexts["k3d-dev"] == nil || cfg.AuthInfos["admin@k3d-dev"] == nil {
		t.Errorf("k3d-dev entries missing: %+v", cfg)
	}
	if m := mode(t, path); m != 0o600 {
		t.Errorf("a world-readable kubeconfig holding keys stays %o, want it tightened to 600", m)
	}

	// Merging the same cluster again replaces its entries (a recreated cluster's new port).
	if err := Merge(path, k3dConfig(t, "dev", "2222"), true); err != nil {
		t.Fatal(err)
	}
	cfg = load(t, path)
	if got := cfg.Clusters["k3d-dev"].Server; got != "https://127.0.0.1:2222" {
		t.Errorf("re-merge left server %q, want the new https://127.0.0.1:2222", got)
	}
	if cfg.CurrentContext != "k3d-dev" || len(cfg.Clusters) != 2 || len(cfg.Contexts) != 2 || len(cfg.AuthInfos) != 2 {
		t.Errorf("after re-merge with switch: current %q, %d clusters, %d contexts, %d users; want k3d-dev, 2, 2, 2",
			cfg.CurrentContext, len(cfg.Clusters), len(cfg.Contexts), len(cfg.AuthInfos))
	}
	onlyFiles(t, dir, "config")
}

func TestMergeKeepsStricterMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte(someoneElses), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := Merge(path, k3dConfig(t, "dev", "1"), false); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, path); m != 0o400 {
		t.Errorf("mode %o, want the user's stricter 400 kept", m)
	}
}

func TestMergeFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "dotfiles", "kubeconfig")
	if err := os.MkdirAll(filepath.Dir(real), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(real, []byte(someoneElses), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "config")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if err := Merge(link, k3dConfig(t, "dev", "1"), false); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the symlink was replaced by a file (%v)", err)
	}
	if cfg := load(t, real); cfg.Contexts["k3d-dev"] == nil || cfg.Contexts["prod"] == nil {
		t.Errorf("the link's target lacks the merged entries: %+v", cfg)
	}
}

func TestMergeRefusesGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	garbage := []byte("this: is: not: a kubeconfig\n\t-")
	if err := os.WriteFile(path, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	err := Merge(path, k3dConfig(t, "dev", "1"), false)
	if err == nil || !strings.Contains(err.Error(), "merge into kubeconfig "+path+": the file is not a valid kubeconfig (") ||
		!strings.Contains(err.Error(), "fix or move it; k3d will not overwrite it") {
		t.Fatalf("Merge into garbage: %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != string(garbage) {
		t.Errorf("the invalid file was changed to %q", data)
	}
}

func TestRemove(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	if err := os.WriteFile(path, []byte(someoneElses), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dev", "test"} {
		if err := Merge(path, k3dConfig(t, name, "1"), true); err != nil {
			t.Fatal(err)
		}
	}
	if err := Remove(path, "test"); err != nil {
		t.Fatal(err)
	}
	cfg := load(t, path)
	if cfg.Contexts["k3d-test"] != nil || cfg.Clusters["k3d-test"] != nil || cfg.AuthInfos["admin@k3d-test"] != nil {
		t.Errorf("k3d-test entries still present: %+v", cfg)
	}
	if cfg.Contexts["k3d-dev"] == nil || cfg.AuthInfos["admin@k3d-dev"] == nil || cfg.Contexts["prod"] == nil || cfg.AuthInfos["prod-admin"] == nil {
		t.Errorf("Remove(test) took other entries: %+v", cfg)
	}
	if cfg.CurrentContext != "" {
		t.Errorf("current-context %q after removing it, want unset", cfg.CurrentContext)
	}
	if err := Remove(path, "absent"); err != nil {
		t.Errorf("removing a cluster that is not there: %v", err)
	}
	onlyFiles(t, dir, "config")

	missing := filepath.Join(dir, "nope", "config")
	if err := Remove(missing, "dev"); err != nil {
		t.Errorf("Remove on a missing file: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !os.IsNotExist(err) {
		t.Errorf("Remove created %s", filepath.Dir(missing))
	}
}

func TestWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out", "dev.yaml")
	if err := Write(path, k3dConfig(t, "dev", "1")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".extra", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// Write replaces, even over a file that is not a kubeconfig.
	if err := os.WriteFile(path, []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, k3dConfig(t, "other", "2")); err != nil {
		t.Fatal(err)
	}
	cfg := load(t, path)
	if len(cfg.Contexts) != 1 || cfg.Contexts["k3d-other"] == nil || cfg.CurrentContext != "k3d-other" {
		t.Errorf("Write left %+v, want k3d-other alone", cfg)
	}
	if m := mode(t, path); m != 0o600 {
		t.Errorf("mode %o, want 600", m)
	}
}
