package conformance

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
)

// Broken is a deliberately broken environment for a backend: extra
// environment for its process, and what its Info must then say.
type Broken struct {
	// Name says what is broken: "no CNI plugins".
	Name string
	// Env is KEY=VALUE environment that breaks the backend.
	Env []string
	// Kind is the contract error Info must return: backends.ErrUnreachable
	// or backends.ErrPrerequisite.
	Kind error
	// Says is text the one line must hold: what is missing and the fix.
	Says []string
}

// RunBroken starts the backend at backendPath once per broken environment and
// checks that Info fails at once with the contract's typed error, in one line
// that names the runtime, what is missing and the fix: what a user on a half
// set-up machine sees before anything is created.
func RunBroken(t *testing.T, backendPath string, cases []Broken) {
	t.Helper()
	for _, bc := range cases {
		t.Run(bc.Name, func(t *testing.T) {
			logs := newLineLogger(t, filepath.Base(backendPath)+": ")
			t.Cleanup(logs.stop)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			client, err := backends.OpenPath(ctx, backendPath, backends.OpenOptions{Stderr: logs, Env: bc.Env})
			if err != nil {
				t.Fatalf("open backend %s: %v", backendPath, err)
			}
			defer client.Close()
			_, err = client.Info(ctx)
			switch {
			case err == nil:
				t.Fatalf("info with %v succeeded; want a %v error", bc.Env, bc.Kind)
			case !typedAs(err, bc.Kind):
				t.Fatalf("info with %v: %q (%T) is not a typed %v error", bc.Env, err, err, bc.Kind)
			case strings.Contains(err.Error(), "\n"):
				t.Errorf("info with %v: more than one line:\n%s", bc.Env, err)
			}
			for _, want := range bc.Says {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("info with %v: %q does not say %q", bc.Env, err, want)
				}
			}
		})
	}
}

// typedAs reports whether err holds the typed error of kind (not only the
// bare kind), so that k3d can show its fields.
func typedAs(err error, kind error) bool {
	var ue *backends.UnreachableError
	var pe *backends.PrerequisiteError
	switch kind {
	case backends.ErrUnreachable:
		return errors.As(err, &ue)
	case backends.ErrPrerequisite:
		return errors.As(err, &pe)
	}
	return false
}
