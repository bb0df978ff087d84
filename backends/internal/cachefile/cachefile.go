// Package cachefile keeps small JSON answers of a runtime across backend
// processes, in files named by a key of everything that decides the answer.
package cachefile

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
)

// Key hashes the parts that decide a cached answer into a short file-name
// part: when any of them changes, the key does.
func Key(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\n")))
	return hex.EncodeToString(sum[:16])
}

// Load decodes the entry prefix-key.json in dir into v; false when there is
// none or it does not decode. An empty dir or key is never cached.
func Load(dir, prefix, key string, v any) bool {
	if dir == "" || key == "" {
		return false
	}
	b, err := os.ReadFile(filepath.Join(dir, prefix+"-"+key+".json"))
	return err == nil && json.Unmarshal(b, v) == nil
}

// Store writes v as the entry atomically (readers in other processes see
// the old entry or the new one). A cache that cannot be written only costs
// the next process the work again, so failures are ignored.
func Store(dir, prefix, key string, v any) {
	if dir == "" || key == "" {
		return
	}
	b, err := json.Marshal(v)
	if err != nil || os.MkdirAll(dir, 0o700) != nil {
		return
	}
	tmp, err := os.CreateTemp(dir, "."+prefix+"-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), filepath.Join(dir, prefix+"-"+key+".json")) != nil {
		os.Remove(tmp.Name())
	}
}
