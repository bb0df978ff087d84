package podman

import (
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/containers/podman/v4/pkg/specgen"
	spec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/k3d/k3d/backends"
)

// inheritRlimits keeps a node's open-file and process limits where they
// would be without ulimits. Podman 4 sets both to 1048576 as soon as any
// ulimit is given; on a host that denies the service CAP_SYS_RESOURCE,
// raising them fails every such node ("error setting rlimit type 7"). With
// Docker, an unnamed limit stays the daemon's; here it stays the service's,
// read from /proc when the service is a local process this one may read.
func inheritRlimits(s *specgen.SpecGenerator, asked []backends.Ulimit, servicePID int) {
	if len(asked) == 0 || servicePID <= 0 {
		return
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(servicePID) + "/limits")
	if err != nil {
		return
	}
	for name, limit := range parseLimits(string(b)) {
		if slices.ContainsFunc(asked, func(u backends.Ulimit) bool { return u.Name == name }) {
			continue
		}
		s.Rlimits = append(s.Rlimits, spec.POSIXRlimit{Type: name, Soft: limit[0], Hard: limit[1]})
	}
}

// parseLimits reads the open-file and process limits of a /proc/PID/limits
// file, by ulimit name.
func parseLimits(text string) map[string][2]uint64 {
	rows := map[string]string{"Max open files": "nofile", "Max processes": "nproc"}
	out := map[string][2]uint64{}
	for _, line := range strings.Split(text, "\n") {
		for prefix, name := range rows {
			rest, ok := strings.CutPrefix(line, prefix)
			if !ok {
				continue
			}
			f := strings.Fields(rest)
			if len(f) < 2 {
				continue
			}
			soft, okS := limitValue(f[0])
			hard, okH := limitValue(f[1])
			if okS && okH {
				out[name] = [2]uint64{soft, hard}
			}
		}
	}
	return out
}

func limitValue(s string) (uint64, bool) {
	if s == "unlimited" {
		return math.MaxUint64, true
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}
