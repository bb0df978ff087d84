package kubeconfig

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the "other k3d process": with helperEnv set, TestMain runs
// a helper instead of the tests.
const helperEnv = "K3D_KUBECONFIG_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "merge": // merge cluster names from argv into KUBECONFIG_PATH, one Merge each
		path := os.Getenv("KUBECONFIG_PATH")
		for _, name := range strings.Split(os.Getenv("CLUSTERS"), ",") {
			cfg, err := FromK3s([]byte(k3sOutput), name, "127.0.0.1:6443")
			if err == nil {
				err = Merge(path, cfg, true)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		os.Exit(0)
	case "hold": // take the lock, say so, then hold it until killed or stdin closes
		l, err := acquire(os.Getenv("KUBECONFIG_PATH"), 10*time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("locked")
		_, _ = io.Copy(io.Discard, os.Stdin)
		l.release()
		os.Exit(0)
	}
	os.Exit(2)
}

func helper(t *testing.T, mode, path string, extraEnv ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "KUBECONFIG_PATH="+path)
	cmd.Env = append(cmd.Env, extraEnv...)
	return cmd
}

func contextsIn(t *testing.T, path string) map[string]bool {
	t.Helper()
	cfg := load(t, path)
	got := map[string]bool{}
	for name := range cfg.Contexts {
		got[name] = true
	}
	for name := range cfg.Clusters {
		if !got[name] {
			t.Errorf("cluster entry %s has no context", name)
		}
	}
	return got
}

func TestConcurrentGoroutinesLoseNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cfg, err := FromK3s([]byte(k3sOutput), fmt.Sprintf("g%d", i), "127.0.0.1:6443")
			if err == nil {
				err = Merge(path, cfg, false)
			}
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	got := contextsIn(t, path)
	for i := 0; i < n; i++ {
		if !got[fmt.Sprintf("k3d-g%d", i)] {
			t.Errorf("k3d-g%d was lost", i)
		}
	}
	if len(got) != n {
		t.Errorf("%d contexts, want %d", len(got), n)
	}
	onlyFiles(t, dir, "config")
}

// Several k3d processes and goroutines merge and remove at once; every merge survives
// and every removal sticks.
func TestConcurrentProcessesLoseNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	if err := os.WriteFile(path, []byte(someoneElses), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"old0", "old1", "old2", "old3"} {
		if err := Merge(path, k3dConfig(t, name, "1"), false); err != nil {
			t.Fatal(err)
		}
	}
	const procs, perProc = 4, 8
	want := map[string]bool{"prod": true}
	var cmds []*exec.Cmd
	for p := 0; p < procs; p++ {
		var names []string
		for i := 0; i < perProc; i++ {
			names = append(names, fmt.Sprintf("p%d-%d", p, i))
			want[fmt.Sprintf("k3d-p%d-%d", p, i)] = true
		}
		cmd := helper(t, "merge", path, "CLUSTERS="+strings.Join(names, ","))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		cmds = append(cmds, cmd)
		defer func() {
			if stderr.Len() > 0 {
				t.Logf("helper stderr: %s", stderr.String())
			}
		}()
	}
	var wg sync.WaitGroup
	for i := 0; i < perProc; i++ {
		want[fmt.Sprintf("k3d-local-%d", i)] = true
		wg.Add(2)
		go func(i int) {
			defer wg.Done()
			if err := Merge(path, k3dConfig(t, fmt.Sprintf("local-%d", i), "1"), false); err != nil {
				t.Error(err)
			}
		}(i)
		go func(i int) {
			defer wg.Done()
			if i < 4 {
				if err := Remove(path, fmt.Sprintf("old%d", i)); err != nil {
					t.Error(err)
				}
			}
		}(i)
	}
	wg.Wait()
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper process: %v", err)
		}
	}
	got := contextsIn(t, path)
	for name := range want {
		if !got[name] {
			t.Errorf("%s was lost", name)
		}
	}
	for name := range got {
		if !want[name] {
			t.Errorf("%s is present but should not be (a removal was lost)", name)
		}
	}
	onlyFiles(t, dir, "config")
}

// A k3d killed while holding the lock must not block the next one: the kernel drops a
// flock with its holder, and the lock file it leaves is reused and cleaned up.
func TestLockOfKilledProcessDoesNotBlock(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	cmd := helper(t, "hold", path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper did not take the lock: %q, %v", line, err)
	}

	// While it lives, the lock is really held, and the error names the holder.
	_, err = acquire(path, 100*time.Millisecond)
	wantHolder := fmt.Sprintf("another k3d (pid %d since ", cmd.Process.Pid)
	if err == nil || !strings.Contains(err.Error(), wantHolder) || !strings.Contains(err.Error(), "has held "+path+".lock for over 100ms: wait for it to finish, then retry") {
		t.Fatalf("acquire while another process holds the lock: %v\nwant it to name %q", err, wantHolder)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if _, err := os.Stat(path + ".lock"); err != nil {
		t.Fatalf("the killed holder should have left its lock file behind for this test to mean anything: %v", err)
	}

	// One second is far more than a free lock needs, and far less than lockTimeout.
	l, err := acquire(path, time.Second)
	if err != nil {
		t.Fatalf("a lock left by a killed process blocks: %v", err)
	}
	l.release()
	if err := Merge(path, k3dConfig(t, "dev", "1"), false); err != nil {
		t.Fatal(err)
	}
	onlyFiles(t, dir, "config")
}

// Benchmark of one Merge into a file that already holds 50 clusters, lock included.
func BenchmarkMerge(b *testing.B) {
	path := filepath.Join(b.TempDir(), "config")
	for i := 0; i < 50; i++ {
		if err := Merge(path, k3dConfig(b, fmt.Sprintf("c%d", i), "1"), false); err != nil {
			b.Fatal(err)
		}
	}
	cfg := k3dConfig(b, "bench", "1")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := Merge(path, cfg, false); err != nil {
			b.Fatal(err)
		}
	}
}
