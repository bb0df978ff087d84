package kubeconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// lockTimeout bounds the wait for another k3d process writing the same file. The lock is
// released by the kernel when its holder dies, so only a live holder can make us wait.
const lockTimeout = 30 * time.Second

// DefaultPath is the kubeconfig k3d writes to: the first entry of $KUBECONFIG (a
// list separated by os.PathListSeparator), else HOME/.kube/config. getenv is os.Getenv
// outside tests.
func DefaultPath(getenv func(string) string, home string) string {
	for _, p := range filepath.SplitList(getenv("KUBECONFIG")) {
		if p != "" {
			return p
		}
	}
	return filepath.Join(home, ".kube", "config")
}

// Merge adds cfg's clusters, users and contexts to the kubeconfig at path, replacing
// entries of the same names and keeping every other entry. current-context becomes cfg's
// when switchContext is set or the file had none. A missing file is created with mode
// 0600 (and its directory with 0700). Concurrent Merge and Remove calls, from goroutines
// or processes, are serialised by a lock next to the file, and the file is replaced
// atomically, so a reader never sees half a file and no writer's entry is lost.
func Merge(path string, cfg *clientcmdapi.Config, switchContext bool) error {
	err := update(path, true, lockTimeout, func(existing *clientcmdapi.Config) bool {
		for name, c := range cfg.Clusters {
			existing.Clusters[name] = c
		}
		for name, u := range cfg.AuthInfos {
			existing.AuthInfos[name] = u
		}
		for name, c := range cfg.Contexts {
			existing.Contexts[name] = c
		}
		if cfg.CurrentContext != "" && (switchContext || existing.CurrentContext == "") {
			existing.CurrentContext = cfg.CurrentContext
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("merge into kubeconfig %s: %w", path, err)
	}
	return nil
}

// Remove deletes cluster clusterName's entries (cluster and context k3d-NAME, user
// admin@k3d-NAME) from the kubeconfig at path, under the same lock as Merge. If
// current-context was k3d-NAME it is unset rather than pointed at some other cluster the
// user did not choose. A missing file is not an error and is not created.
func Remove(path string, clusterName string) error {
	name, user := ContextName(clusterName), UserName(clusterName)
	err := update(path, false, lockTimeout, func(existing *clientcmdapi.Config) bool {
		_, hadCluster := existing.Clusters[name]
		_, hadUser := existing.AuthInfos[user]
		_, hadContext := existing.Contexts[name]
		delete(existing.Clusters, name)
		delete(existing.AuthInfos, user)
		delete(existing.Contexts, name)
		wasCurrent := existing.CurrentContext == name
		if wasCurrent {
			existing.CurrentContext = ""
		}
		return hadCluster || hadUser || hadContext || wasCurrent
	})
	if err != nil {
		return fmt.Errorf("remove cluster %s from kubeconfig %s: %w", clusterName, path, err)
	}
	return nil
}

// Write replaces the file at path with cfg alone (mode 0600, or the old file's if
// stricter), under the same lock and as atomically as Merge; for `k3d get kubeconfig
// --output FILE`. Whatever the file held before is not read, so it may be anything.
func Write(path string, cfg *clientcmdapi.Config) error {
	err := withLock(path, true, lockTimeout, func(target string, info fs.FileInfo) error {
		data, err := clientcmd.Write(*cfg)
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		return replaceFile(target, data, info)
	})
	if err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// update runs change on the file's current content under the lock and writes the result
// back if change reports a change. With create unset, a missing file is left missing.
func update(path string, create bool, timeout time.Duration, change func(*clientcmdapi.Config) bool) error {
	return withLock(path, create, timeout, func(target string, info fs.FileInfo) error {
		cfg := clientcmdapi.NewConfig()
		if info != nil {
			data, err := os.ReadFile(target)
			if err != nil {
				return err
			}
			if cfg, err = clientcmd.Load(data); err != nil {
				return fmt.Errorf("the file is not a valid kubeconfig (%v): fix or move it; k3d will not overwrite it", err)
			}
			ensureMaps(cfg)
		}
		if !change(cfg) {
			return nil
		}
		data, err := clientcmd.Write(*cfg)
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		return replaceFile(target, data, info)
	})
}

// withLock resolves path, takes the lock beside it and calls fn with the file's current
// info (nil when it does not exist). With create unset, fn is not called for a missing
// file.
func withLock(path string, create bool, timeout time.Duration, fn func(target string, info fs.FileInfo) error) error {
	target, err := resolveSymlink(path)
	if err != nil {
		return err
	}
	if create {
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			return fmt.Errorf("create directory: %w", err)
		}
	} else if _, err := os.Stat(target); errors.Is(err, fs.ErrNotExist) {
		return nil
	}

	lock, err := acquire(target, timeout)
	if err != nil {
		return err
	}
	defer lock.release()

	info, err := os.Stat(target)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if !create {
			return nil // removed while we waited for the lock
		}
		info = nil
	case err != nil:
		return err
	}
	return fn(target, info)
}

// resolveSymlink follows a symlinked kubeconfig (dotfile managers make them) so the
// rename replaces the file it points to, not the link.
func resolveSymlink(path string) (string, error) {
	resolved, err := filepath.EvalSymlinks(path)
	if err == nil {
		return resolved, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	// A dangling link: write where it points.
	if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
		dest, err := os.Readlink(path)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(filepath.Dir(path), dest)
		}
		return dest, nil
	}
	return path, nil
}

// replaceFile writes data to a temporary file beside path and renames it over path, so
// readers see the old file or the new one, never a mix. The mode is 0600, or the old
// file's if that is stricter; the old owner is kept when we are allowed to (sudo k3d).
func replaceFile(path string, data []byte, old fs.FileInfo) error {
	mode := fs.FileMode(0o600)
	if old != nil {
		if m := old.Mode().Perm() & 0o600; m&0o400 != 0 {
			mode = m
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if old != nil {
		keepOwner(tmp.Name(), old)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	done = true
	return nil
}

// ensureMaps lets change functions assign into a config loaded from a sparse file.
func ensureMaps(cfg *clientcmdapi.Config) {
	if cfg.Clusters == nil {
		cfg.Clusters = map[string]*clientcmdapi.Cluster{}
	}
	if cfg.AuthInfos == nil {
		cfg.AuthInfos = map[string]*clientcmdapi.AuthInfo{}
	}
	if cfg.Contexts == nil {
		cfg.Contexts = map[string]*clientcmdapi.Context{}
	}
	if cfg.Extensions == nil {
		cfg.Extensions = map[string]runtime.Object{}
	}
}
