package backends

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// ExecutablePrefix starts the name of every backend program: the backend for
// runtime NAME is the executable k3d-runtime-NAME.
const ExecutablePrefix = "k3d-runtime-"

// FoundBackend is a backend executable that discovery found.
type FoundBackend struct {
	Name string // the runtime name, as given to --runtime
	Path string
}

// MissingBackendError says no backend program for a runtime was found, and
// where k3d looked.
type MissingBackendError struct {
	Runtime string // "podman"
	ExeDir  string // the directory holding k3d, or "" if unknown
}

func (e *MissingBackendError) Error() string {
	dir := e.ExeDir
	if dir == "" {
		dir = "its directory is unknown"
	}
	return fmt.Sprintf("no backend for runtime %q: %s%s is not next to k3d (%s) nor on PATH; build it with make build",
		e.Runtime, ExecutablePrefix, e.Runtime, dir)
}

// FindBackend returns the path of the backend program for runtime name:
// k3d-runtime-NAME in the directory of the running k3d (symlinks resolved),
// else the first one on PATH. A missing backend gives *MissingBackendError.
func FindBackend(name string) (string, error) {
	return osLookup().find(name)
}

// ListBackends returns every backend program found next to k3d and on PATH,
// sorted by runtime name; where a name occurs twice, the one FindBackend would
// use is listed.
func ListBackends() []FoundBackend {
	return osLookup().list()
}

// lookup is discovery with its view of the machine passed in, for tests.
type lookup struct {
	executable   func() (string, error) // the running k3d, symlinks resolved
	path         string                 // $PATH
	isExecutable func(path string) bool
	glob         func(pattern string) ([]string, error)
}

func osLookup() lookup {
	return lookup{
		executable: func() (string, error) {
			exe, err := os.Executable()
			if err != nil {
				return "", err
			}
			return filepath.EvalSymlinks(exe)
		},
		path:         os.Getenv("PATH"),
		isExecutable: isExecutableFile,
		glob:         filepath.Glob,
	}
}

func isExecutableFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// validName keeps a runtime name from reaching outside the directories
// searched ("../x") or matching several files.
var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// dirs returns the directories searched, in order: k3d's own, then PATH's
// absolute entries (a relative entry would make the result depend on the
// current directory, which is how PATH lookups get hijacked).
func (l lookup) dirs() (exeDir string, dirs []string) {
	if exe, err := l.executable(); err == nil {
		exeDir = filepath.Dir(exe)
		dirs = append(dirs, exeDir)
	}
	for _, d := range filepath.SplitList(l.path) {
		if d != "" && filepath.IsAbs(d) {
			dirs = append(dirs, d)
		}
	}
	return exeDir, dirs
}

func (l lookup) find(name string) (string, error) {
	if !validName.MatchString(name) {
		return "", NewError(ErrInvalid, fmt.Sprintf("runtime %q", name), "a runtime name is lower-case letters, digits, '.', '_' and '-'")
	}
	exeDir, dirs := l.dirs()
	for _, d := range dirs {
		p := filepath.Join(d, ExecutablePrefix+name)
		if l.isExecutable(p) {
			return p, nil
		}
	}
	return "", &MissingBackendError{Runtime: name, ExeDir: exeDir}
}

func (l lookup) list() []FoundBackend {
	_, dirs := l.dirs()
	seen := map[string]bool{}
	var found []FoundBackend
	for _, d := range dirs {
		matches, err := l.glob(filepath.Join(d, ExecutablePrefix+"*"))
		if err != nil {
			continue
		}
		sort.Strings(matches)
		for _, p := range matches {
			name := strings.TrimPrefix(filepath.Base(p), ExecutablePrefix)
			if seen[name] || !validName.MatchString(name) || !l.isExecutable(p) {
				continue
			}
			seen[name] = true
			found = append(found, FoundBackend{Name: name, Path: p})
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Name < found[j].Name })
	return found
}
