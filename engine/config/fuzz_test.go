package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse: any input is accepted or refused in one line, never a panic;
// what is accepted converts to options or is refused the same way.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata/good", "testdata/bad", "testdata/migrate"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data, noEnv)
		if err == nil {
			_, _, err = cfg.Options(noEnv)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("error of more than one line: %q", err)
		}
		if _, err := Migrate("fuzz.yaml", data); err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("migrate error of more than one line: %q", err)
		}
	})
}
