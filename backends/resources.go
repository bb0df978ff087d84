package backends

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// CheckResources says what is wrong with the resources a node asks for,
// if anything: a negative memory limit, a bad ulimit (see CheckUlimits) or
// a GPU request that is neither "all" nor a count. Every backend refuses
// such a spec with ErrInvalid before it makes anything.
func (s NodeSpec) CheckResources() error {
	if s.MemoryLimit < 0 {
		return fmt.Errorf("negative memory limit %d", s.MemoryLimit)
	}
	if err := CheckUlimits(s.Ulimits); err != nil {
		return err
	}
	_, err := GPUCount(s.GPUs)
	return err
}

// ulimitResources maps the names `docker run --ulimit` takes to the OCI
// spec's RLIMIT_* types, so every backend accepts the same names.
var ulimitResources = map[string]string{
	"core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
	"locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE",
	"nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS",
	"rtprio": "RLIMIT_RTPRIO", "rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING",
	"stack": "RLIMIT_STACK", "as": "RLIMIT_AS",
}

// UlimitNames lists the resource names a Ulimit may have.
func UlimitNames() []string {
	out := make([]string, 0, len(ulimitResources))
	for n := range ulimitResources {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// RlimitType is the OCI spec's name for u's resource ("RLIMIT_NOFILE").
func (u Ulimit) RlimitType() string { return ulimitResources[u.Name] }

// CheckUlimits says what is wrong with a node's ulimits, if anything: an
// unknown resource, a negative value, soft above hard, a resource twice.
func CheckUlimits(us []Ulimit) error {
	seen := map[string]bool{}
	for _, u := range us {
		if _, ok := ulimitResources[u.Name]; !ok {
			return fmt.Errorf("ulimit %q: unknown resource; want one of %s", u.Name, strings.Join(UlimitNames(), ", "))
		}
		if u.Soft < 0 || u.Hard < 0 {
			return fmt.Errorf("ulimit %s: negative limit", u.Name)
		}
		if u.Soft > u.Hard {
			return fmt.Errorf("ulimit %s: soft limit %d is above the hard limit %d", u.Name, u.Soft, u.Hard)
		}
		if seen[u.Name] {
			return fmt.Errorf("ulimit %s given twice", u.Name)
		}
		seen[u.Name] = true
	}
	return nil
}

// GPUCount parses a GPU request: -1 for "all", n for a count, 0 for none.
func GPUCount(gpus string) (int, error) {
	switch gpus {
	case "":
		return 0, nil
	case "all":
		return -1, nil
	}
	n, err := strconv.Atoi(gpus)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("gpus %q: want all or a positive count", gpus)
	}
	return n, nil
}

// CDIGPUDevices are the CDI device names a GPU request asks for, in the
// names NVIDIA's `nvidia-ctk cdi generate` gives: nvidia.com/gpu=all, or
// nvidia.com/gpu=0 .. N-1.
func CDIGPUDevices(gpus string) ([]string, error) {
	n, err := GPUCount(gpus)
	if err != nil || n == 0 {
		return nil, err
	}
	if n < 0 {
		return []string{CDIGPUKind + "=all"}, nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s=%d", CDIGPUKind, i)
	}
	return out, nil
}

// CDIGPUKind is the CDI kind of NVIDIA's GPUs.
const CDIGPUKind = "nvidia.com/gpu"
