package k3s

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// storedImage is an image the node's "containerd" holds: what ctr import
// recorded, per containerd namespace.
type storedImage struct {
	Namespace    string    `json:"namespace"`
	Ref          string    `json:"ref"`
	Digest       string    `json:"digest"`
	MediaType    string    `json:"mediaType"`
	ConfigDigest string    `json:"configDigest,omitempty"`
	Size         int64     `json:"size"`
	Platforms    []string  `json:"platforms,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
}

// imageStorePath is where the double records imported images, beside where
// k3s's containerd keeps its content.
func imageStorePath(dataDir string) string {
	return filepath.Join(dataDir, "agent", "containerd", "images-imported.json")
}

// updateImages changes the store under a file lock: imports may run
// concurrently in one node.
func updateImages(dataDir string, change func([]storedImage) []storedImage) error {
	p := imageStorePath(dataDir)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	unlock, err := lockFile(p + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	imgs, err := readImages(dataDir)
	if err != nil {
		return err
	}
	imgs = change(imgs)
	sort.Slice(imgs, func(i, j int) bool {
		if imgs[i].Namespace != imgs[j].Namespace {
			return imgs[i].Namespace < imgs[j].Namespace
		}
		return imgs[i].Ref < imgs[j].Ref
	})
	b, err := json.MarshalIndent(imgs, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(p, b, 0o644)
}

func readImages(dataDir string) ([]storedImage, error) {
	b, err := os.ReadFile(imageStorePath(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var imgs []storedImage
	if err := json.Unmarshal(b, &imgs); err != nil {
		return nil, fmt.Errorf("read %s: %w", imageStorePath(dataDir), err)
	}
	return imgs, nil
}

// addImages records images, replacing any image of the same name in the
// namespace, and returns the names recorded.
func addImages(dataDir, namespace string, found []archiveImage, now time.Time) ([]storedImage, error) {
	var added []storedImage
	for _, img := range found {
		refs := img.Refs
		if len(refs) == 0 {
			// containerd names an unnamed import after the day and digest.
			refs = []string{"import-" + now.UTC().Format("2006-01-02") + "@" + img.Digest}
		}
		for _, ref := range refs {
			added = append(added, storedImage{Namespace: namespace, Ref: ref, Digest: img.Digest, MediaType: img.MediaType,
				ConfigDigest: img.ConfigDigest, Size: img.Size, Platforms: img.Platforms, CreatedAt: now})
		}
	}
	err := updateImages(dataDir, func(imgs []storedImage) []storedImage {
		for _, a := range added {
			replaced := false
			for i := range imgs {
				if imgs[i].Namespace == a.Namespace && imgs[i].Ref == a.Ref {
					imgs[i], replaced = a, true
				}
			}
			if !replaced {
				imgs = append(imgs, a)
			}
		}
		return imgs
	})
	return added, err
}
