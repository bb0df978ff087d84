package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/k3d/k3d/engine/loadbalancer"
)

// nodeFile is a file the engine puts into a node before it starts.
type nodeFile struct {
	path string // absolute
	data []byte
	mode int64
}

// writeFiles copies files into a node as one tar stream extracted at "/".
// Parent directories are in the stream, so they need not exist in the image.
func (e *Engine) writeFiles(ctx context.Context, node string, files []nodeFile) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	now := time.Now()
	for _, f := range files {
		rel := strings.TrimPrefix(path.Clean(f.path), "/")
		var parents []string
		for d := path.Dir(rel); d != "." && d != "/" && !dirs[d]; d = path.Dir(d) {
			parents = append(parents, d)
			dirs[d] = true
		}
		for i := len(parents) - 1; i >= 0; i-- {
			if err := tw.WriteHeader(&tar.Header{Name: parents[i] + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: now}); err != nil {
				return err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: rel, Typeflag: tar.TypeReg, Mode: f.mode, Size: int64(len(f.data)), ModTime: now}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := e.rt.CopyToNode(ctx, node, "/", &buf); err != nil {
		return fmt.Errorf("copy files into node %s: %w", node, err)
	}
	return nil
}

// lbConfigFile is the load balancer's configuration as a file for its node.
func lbConfigFile(cfg loadbalancer.Config) (nodeFile, error) {
	b, err := cfg.Marshal()
	if err != nil {
		return nodeFile{}, fmt.Errorf("load balancer config: %w", err)
	}
	return nodeFile{path: loadbalancer.ConfigDir + "/" + loadbalancer.ConfigFile, data: b, mode: 0o644}, nil
}

// readFile reads a whole file out of a node.
func (e *Engine) readFile(ctx context.Context, node, p string) ([]byte, error) {
	rc, err := e.rt.ReadFile(ctx, node, p)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s from node %s: %w", p, node, err)
	}
	return b, nil
}
