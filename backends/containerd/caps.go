package containerd

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// capNames are the Linux capabilities by number (linux/capability.h). The
// Info reports names, the kernel speaks bit numbers.
var capNames = [...]string{
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

// capSet is a set of capability numbers, as in /proc/PID/status.
type capSet uint64

func (s capSet) has(n int) bool { return s&(1<<uint(n)) != 0 }

// names lists the set's capabilities that have names, lowest first.
func (s capSet) names() []string {
	var out []string
	for n, name := range capNames {
		if s.has(n) {
			out = append(out, name)
		}
	}
	return out
}

// allCaps is every named capability up to lastCap (the kernel's
// /proc/sys/kernel/cap_last_cap): what a fully privileged node would have.
func allCaps(lastCap int) capSet {
	if lastCap >= len(capNames) {
		lastCap = len(capNames) - 1
	}
	return capSet(1<<uint(lastCap+1) - 1)
}

// parseCapBnd reads the CapBnd line of /proc/PID/status.
func parseCapBnd(status []byte) (capSet, error) {
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
		return capSet(n), nil
	}
	return 0, fmt.Errorf("no CapBnd line")
}
