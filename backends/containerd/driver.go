package containerd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The log driver runs from a copy of this binary under the data root, named
// for its contents: a task's shim, and the restart monitor long after k3d
// exited, start it from the path recorded with the node, so it must not move
// or change when k3d is upgraded, rebuilt or deleted.

const driverPrefix = "k3d-runtime-containerd-"

// driverKeep is how long an unused copy of an older driver is kept: another
// k3d process of that version may be about to start a node with it.
const driverKeep = time.Hour

// logDriver installs the driver once per process and returns its path.
func (r *Runtime) logDriver(ctx context.Context) (string, error) {
	return r.driver.Get(ctx, r.installDriver)
}

func (r *Runtime) installDriver(ctx context.Context) (string, error) {
	exe := r.exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return "", fmt.Errorf("find the log driver: %w", err)
		}
	}
	src, err := os.Open(exe)
	if err != nil {
		return "", fmt.Errorf("find the log driver: %w", err)
	}
	defer src.Close()
	h := sha256.New()
	if _, err := io.Copy(h, src); err != nil {
		return "", fmt.Errorf("read %s: %w", exe, err)
	}
	dir := r.root.binDir()
	dst := filepath.Join(dir, driverPrefix+hex.EncodeToString(h.Sum(nil))[:16])
	now := time.Now()
	if _, err := os.Stat(dst); err == nil {
		// Marks it as in use, for the sweep of old copies.
		_ = os.Chtimes(dst, now, now)
	} else {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		if _, err := src.Seek(0, io.SeekStart); err != nil {
			return "", err
		}
		tmp, err := os.CreateTemp(dir, ".new-")
		if err != nil {
			return "", err
		}
		_, err = io.Copy(tmp, src)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Chmod(tmp.Name(), 0o755)
		}
		if err == nil {
			err = os.Rename(tmp.Name(), dst)
		}
		if err != nil {
			os.Remove(tmp.Name())
			return "", fmt.Errorf("install the log driver in %s: %w", dir, err)
		}
	}
	r.sweepDrivers(ctx, dst)
	return dst, nil
}

// sweepDrivers removes copies of older drivers that no node's task or
// restart label uses any more. Best effort: a copy left is only disk space.
func (r *Runtime) sweepDrivers(ctx context.Context, keep string) {
	entries, err := os.ReadDir(r.root.binDir())
	if err != nil {
		return
	}
	recs, err := r.listNodeRecords(ctx)
	if err != nil {
		return
	}
	used := map[string]bool{keep: true}
	for _, rec := range recs {
		if u, err := url.Parse(rec.c.Labels[labelRestartLogURI]); err == nil {
			used[u.Path] = true
		}
	}
	for _, e := range entries {
		p := filepath.Join(r.root.binDir(), e.Name())
		if used[p] || !strings.HasPrefix(e.Name(), driverPrefix) && !strings.HasPrefix(e.Name(), ".new-") {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > driverKeep {
			os.Remove(p)
		}
	}
}

// logURI is how the shim runs the driver for a node: the binary scheme runs
// the path with the query's key and value as arguments.
func logURI(driver, dir string) string {
	u := url.URL{Scheme: "binary", Path: driver, RawQuery: url.Values{LogDriverArg: {dir}}.Encode()}
	return u.String()
}
