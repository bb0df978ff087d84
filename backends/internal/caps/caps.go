// Package caps names Linux capabilities and reads capability bounding sets,
// for backends that must tell what privileged nodes can get on a host.
package caps

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Names are the Linux capabilities by number (linux/capability.h). Runtimes
// take names, the kernel speaks bit numbers.
var Names = [...]string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
	"CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// Set is a set of capability numbers, as in /proc/PID/status.
type Set uint64

func (s Set) Has(n int) bool { return s&(1<<uint(n)) != 0 }

// Names lists the set's capabilities that have names, lowest first.
func (s Set) Names() []string {
	var out []string
	for n, name := range Names {
		if s.Has(n) {
			out = append(out, name)
		}
	}
	return out
}

// All is every named capability up to lastCap (the kernel's
// /proc/sys/kernel/cap_last_cap), which is what the daemon's privileged mode asks for.
func All(lastCap int) Set {
	if lastCap >= len(Names) {
		lastCap = len(Names) - 1
	}
	return Set(1<<uint(lastCap+1) - 1)
}

// ParseBnd reads the CapBnd line of /proc/PID/status.
func ParseBnd(status []byte) (Set, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "CapBnd:")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return 0, fmt.Errorf("parse CapBnd %q: %w", v, err)
		}
		return Set(n), nil
	}
	return 0, fmt.Errorf("no CapBnd line")
}

// Of is the set holding the named capabilities (unknown names are ignored).
func Of(names []string) Set {
	var s Set
	for _, want := range names {
		for n, name := range Names {
			if name == want {
				s |= 1 << uint(n)
			}
		}
	}
	return s
}
