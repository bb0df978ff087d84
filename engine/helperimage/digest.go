package helperimage

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// digests caches what names each executable's image (sha256 and version)
// for the life of the process: hashing a 50 MB binary takes most of a tenth
// of a second and the binary does not change while k3d runs. It is keyed by
// path, size and modification time, so a replaced file is read again.
var digests = struct {
	sync.Mutex
	m map[fileKey]identity
}{m: map[fileKey]identity{}}

// identity is what the image reference is made of.
type identity struct {
	digest  string
	version string
}

type fileKey struct {
	path  string
	size  int64
	mtime time.Time
}

// identify returns the hex sha256 and the version of the executable at path.
func identify(path string) (identity, error) {
	st, err := os.Stat(path)
	if err != nil {
		return identity{}, fmt.Errorf("hash k3d executable: %w", err)
	}
	k := fileKey{path, st.Size(), st.ModTime()}
	digests.Lock()
	defer digests.Unlock()
	if id, ok := digests.m[k]; ok {
		return id, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return identity{}, fmt.Errorf("hash k3d executable: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return identity{}, fmt.Errorf("hash k3d executable %s: %w", path, err)
	}
	id := identity{digest: hex.EncodeToString(h.Sum(nil)), version: binaryVersion(path)}
	digests.m[k] = id
	return id, nil
}

func digestBytes(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
