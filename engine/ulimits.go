package engine

import (
	"strconv"
	"strings"

	"github.com/k3d/k3d/backends"
)

// ParseUlimit reads --runtime-ulimit NAME=SOFT:HARD as k3d v5 takes it.
func ParseUlimit(s string) (backends.Ulimit, error) {
	name, limits, ok := strings.Cut(s, "=")
	soft, hard, ok2 := strings.Cut(limits, ":")
	if !ok || !ok2 || name == "" {
		return backends.Ulimit{}, invalidf("--runtime-ulimit %q: give NAME=SOFT:HARD, e.g. nofile=65536:65536", s)
	}
	u := backends.Ulimit{Name: name}
	var err error
	if u.Soft, err = strconv.ParseInt(soft, 10, 64); err != nil {
		return backends.Ulimit{}, invalidf("--runtime-ulimit %q: soft limit %q is not a number", s, soft)
	}
	if u.Hard, err = strconv.ParseInt(hard, 10, 64); err != nil {
		return backends.Ulimit{}, invalidf("--runtime-ulimit %q: hard limit %q is not a number", s, hard)
	}
	if err := backends.CheckUlimits([]backends.Ulimit{u}); err != nil {
		return backends.Ulimit{}, invalidf("--runtime-ulimit %q: %v", s, err)
	}
	return u, nil
}

// ParseUlimits reads every --runtime-ulimit and refuses a resource twice.
func ParseUlimits(specs []string) ([]backends.Ulimit, error) {
	var out []backends.Ulimit
	for _, s := range specs {
		u, err := ParseUlimit(s)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	if err := backends.CheckUlimits(out); err != nil {
		return nil, invalidf("--runtime-ulimit: %v", err)
	}
	return out, nil
}
