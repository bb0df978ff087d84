package flagspec

import (
	"fmt"
	"strings"

	"github.com/k3d/k3d/engine/nodefilter"
)

// Volume is a parsed --volume value: a host path or named volume mounted into nodes.
type Volume struct {
	Spec string // as typed, for messages
	// Source is an absolute host path, or a volume name when Named.
	Source string
	Named  bool
	// Dest is the absolute path inside the node.
	Dest     string
	ReadOnly bool
	Filters  []nodefilter.Filter
}

// String renders SOURCE:DEST[:ro][@FILTERS]; ParseVolume reads it back.
func (v Volume) String() string {
	s := v.Source + ":" + v.Dest
	if v.ReadOnly {
		s += ":ro"
	}
	return nodefilter.Join(s, v.Filters)
}

// ParseVolume parses `[SOURCE:]DEST[:ro|rw][@FILTERS]`.
//
//	/data                     bind the host's /data to /data (k3d v5's short form)
//	/srv/cache:/var/cache     bind a host path
//	/srv/cfg:/etc/app:ro      read-only
//	images:/var/lib/images    a named volume
//
// SOURCE is an absolute host path or a volume name; relative host paths are rejected
// because k3d may run somewhere other than where the flag was written (a config file,
// CI), so the caller should make them absolute first. Only ro and rw modes are accepted:
// the runtime contract has nothing else to carry to Podman or containerd.
func ParseVolume(spec string) (Volume, error) {
	value, filters, err := nodefilter.Split(spec)
	if err != nil {
		return Volume{}, fmt.Errorf("volume %q: %w", spec, err)
	}
	if err := rejectSuffix(filters); err != nil {
		return Volume{}, fmt.Errorf("volume %q: %w", spec, err)
	}
	v, err := parseMount(value)
	if err != nil {
		return Volume{}, fmt.Errorf("volume %q: %w", spec, err)
	}
	v.Spec, v.Filters = spec, filters
	return v, nil
}

func parseMount(s string) (Volume, error) {
	if s == "" {
		return Volume{}, fmt.Errorf("no volume given: write [SOURCE:]DEST[:ro|rw], e.g. /srv/data:/data")
	}
	if hasControl(s) {
		return Volume{}, fmt.Errorf("the volume contains a control character such as a line break: paths passed to k3d must be printable")
	}
	parts := strings.Split(s, ":")
	var v Volume
	var mode string
	switch len(parts) {
	case 1:
		if !strings.HasPrefix(s, "/") {
			return Volume{}, fmt.Errorf("%q alone must be an absolute host path (mounted at the same path); for a named volume write NAME:/path/in/node", s)
		}
		v.Source, v.Dest = s, s
	case 2:
		if (parts[1] == "ro" || parts[1] == "rw") && strings.HasPrefix(parts[0], "/") {
			// /data:ro is the short form with a mode, not a relative destination "ro".
			v.Source, v.Dest, mode = parts[0], parts[0], parts[1]
		} else {
			v.Source, v.Dest = parts[0], parts[1]
		}
	case 3:
		v.Source, v.Dest, mode = parts[0], parts[1], parts[2]
		if mode == "" {
			return Volume{}, fmt.Errorf("empty mode after the last ':': write ro or rw, or drop the ':'")
		}
	default:
		return Volume{}, fmt.Errorf("too many ':': write [SOURCE:]DEST[:ro|rw]; paths containing ':' cannot be mounted")
	}

	switch {
	case v.Source == "":
		return Volume{}, fmt.Errorf("empty source before ':': write an absolute host path or a volume name, e.g. /srv/data:%s", orExample(v.Dest))
	case strings.HasPrefix(v.Source, "/"):
	case strings.HasPrefix(v.Source, "~"):
		return Volume{}, fmt.Errorf("source %q starts with '~', which is not expanded here: write the absolute path, e.g. $HOME%s", v.Source, strings.TrimPrefix(v.Source, "~"))
	case strings.ContainsRune(v.Source, '/') || strings.HasPrefix(v.Source, "."):
		return Volume{}, fmt.Errorf("source %q is a relative path: write an absolute one, e.g. $PWD/%s", v.Source, strings.TrimPrefix(v.Source, "./"))
	case !validVolumeName(v.Source):
		return Volume{}, fmt.Errorf("source %q is neither an absolute host path nor a volume name (letters, digits, '_', '.', '-'; at least 2 characters, starting with a letter or digit)", v.Source)
	default:
		v.Named = true
	}

	switch {
	case v.Dest == "":
		return Volume{}, fmt.Errorf("empty destination after ':': write the absolute path inside the node, e.g. %s:/data", v.Source)
	case !strings.HasPrefix(v.Dest, "/"):
		return Volume{}, fmt.Errorf("destination %q is not an absolute path: write the path inside the node starting with '/', e.g. %s:/%s", v.Dest, v.Source, v.Dest)
	case strings.Trim(v.Dest, "/") == "":
		return Volume{}, fmt.Errorf("destination %q would hide the node's whole filesystem: mount under a directory, e.g. %s:/data", v.Dest, v.Source)
	}

	switch mode {
	case "", "rw":
	case "ro":
		v.ReadOnly = true
	default:
		return Volume{}, fmt.Errorf("mode %q is not supported: write ro or rw (k3d does not pass other mount options such as z, shared or nocopy)", mode)
	}
	return v, nil
}

func orExample(dest string) string {
	if strings.HasPrefix(dest, "/") {
		return dest
	}
	return "/data"
}

// validVolumeName follows Docker's rule for volume names, which Podman shares.
func validVolumeName(s string) bool {
	if len(s) < 2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}
