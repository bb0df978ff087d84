package config

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/k3d/k3d/engine"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file %s: %v (run go test -update to write it)", path, err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func noEnv(string) (string, bool) { return "", false }

// Every bad file gives one line that names the file, the line and the field.
func TestBadFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) < 20 {
		t.Fatalf("only %d bad files", len(files))
	}
	var out strings.Builder
	for _, path := range files {
		f, err := Read(path, nil, noEnv)
		if err == nil {
			_, _, err = f.Options(noEnv)
		}
		if err == nil {
			t.Errorf("%s: accepted", path)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") {
			t.Errorf("%s: more than one line: %q", path, msg)
		}
		if !strings.HasPrefix(msg, "config "+path) {
			t.Errorf("%s: does not start by naming the file: %q", path, msg)
		}
		out.WriteString(msg + "\n")
	}
	golden(t, "bad.golden", []byte(out.String()))
}

func TestUnreadablePaths(t *testing.T) {
	dir := t.TempDir()
	for path, want := range map[string]string{
		dir:                           "config " + dir + ": is a directory: give the path of a config file (k3d config init writes one)",
		filepath.Join(dir, "missing"): "config " + filepath.Join(dir, "missing") + ": cannot read it: no such file or directory",
	} {
		_, err := Read(path, nil, noEnv)
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v, want %q", path, err, want)
		}
	}
}

func TestStandardInput(t *testing.T) {
	f, err := Read("-", strings.NewReader("apiVersion: k3d.io/v1alpha5\nkind: Simple\nmetadata:\n  name: piped\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if f.Simple.Metadata.Name != "piped" {
		t.Errorf("name %q", f.Simple.Metadata.Name)
	}
	_, err = Read("-", strings.NewReader("kind: Simple\napiVersion: k3d.io/v1alpha5\nagnets: 1\n"), noEnv)
	if want := "config (standard input):3: agnets: unknown field"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("bad stdin: %v, want %q...", err, want)
	}
}

// k3d's config_env.yaml writes servers: ${K3D_TEST_SERVERS}.
func TestEnvironmentExpansion(t *testing.T) {
	env := map[string]string{"K3D_TEST_SERVERS": "3", "AGENTS": "2", "NAME": "from-env"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	data := []byte("apiVersion: k3d.io/v1alpha5\nkind: Simple\nmetadata:\n  name: $NAME\nservers: ${K3D_TEST_SERVERS}\nagents: ${AGENTS}\n")
	f, err := Parse("env.yaml", data, lookup)
	if err != nil {
		t.Fatal(err)
	}
	o, _, err := f.Options(lookup)
	if err != nil {
		t.Fatal(err)
	}
	if o.Name != "from-env" || o.Servers != 3 || o.Agents != 2 {
		t.Errorf("got name %q, %d servers, %d agents", o.Name, o.Servers, o.Agents)
	}
	// An unset variable is empty, as in k3d; servers then is no number.
	_, err = Parse("env.yaml", data, noEnv)
	if err == nil || !strings.Contains(err.Error(), "env.yaml:4: metadata.name: is null, want string") {
		t.Errorf("unset variable: %v", err)
	}
}

// The full file gives exactly the options the equivalent flags give.
func TestFullFileOptions(t *testing.T) {
	f, err := Read("testdata/good/full.yaml", nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	o, rt, err := f.Options(noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if rt != "containerd" {
		t.Errorf("runtime %q", rt)
	}
	want := engine.CreateClusterOptions{
		Name: "full", Servers: 1, Agents: 2, Image: "k3d-test/k3s-double:v1",
		APIPort: "k3d.local:127.0.0.1:6445",
		Ports:   []string{"8080:80@loadbalancer", "9443:443@loadbalancer"},
		Volumes: []string{"/tmp:/data@server:0;agent:*"},
		Env:     []string{"FOO=bar@all"},
		Labels:  []string{"team=platform@agent:0"},
		K3sArgs: []string{"--disable=traefik@server:*", "--node-label=tier=backend@agent:1"},
		Files:   []engine.File{{Source: "testdata/good/app.yaml", Destination: "k3s-manifests/app.yaml", Filters: "server:*"}},
		Token:   "s3cret", Network: "k3d-full-net", Subnet: "172.28.0.0/16",
		NoWait: true, Timeout: 90e9, NoRollback: true,
		ServersMemory: "1g", AgentsMemory: "512m",
	}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("options differ:\n got %+v\nwant %+v", o, want)
	}
}

func TestInitTemplateParses(t *testing.T) {
	tpl := Template("mycluster", engine.DefaultImage)
	golden(t, "init.golden", tpl)
	f, err := Parse("init.yaml", tpl, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	o, _, err := f.Options(noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if o.Name != "mycluster" || o.Servers != 1 || o.Agents != 0 || o.Image != engine.DefaultImage || o.NoWait || !o.UpdateKubeconfig || !o.SwitchContext {
		t.Errorf("init's defaults: %+v", o)
	}
}

// Each older apiVersion migrates to v1alpha5 (golden), and the result reads.
func TestMigrate(t *testing.T) {
	for _, v := range []string{"v1alpha2", "v1alpha3", "v1alpha4", "v1alpha5"} {
		t.Run(v, func(t *testing.T) {
			in := filepath.Join("testdata", "migrate", v+".yaml")
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Migrate(in, data)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("migrate", v+".golden"), out)
			f, err := Parse(in, out, noEnv)
			if err != nil {
				t.Fatalf("migrated file: %v", err)
			}
			if _, _, err := f.Options(noEnv); err != nil {
				t.Fatalf("migrated file: %v", err)
			}
		})
	}
	if _, err := Migrate("ns.yaml", []byte("apiVersion: v1\nkind: Namespace\n")); err == nil || !strings.Contains(err.Error(), "not a k3d config") {
		t.Errorf("namespace: %v", err)
	}
}
