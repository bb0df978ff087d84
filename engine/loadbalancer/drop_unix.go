//go:build unix

package loadbalancer

import (
	"fmt"
	"os"
	"syscall"
)

// dropPrivileges switches a proxy started as root to uid and gid to once its
// listeners are bound, so that it forwards traffic unprivileged even where
// the runtime does not let uid 65534 bind low ports. A negative uid keeps the
// current user (tests, which run as whoever runs them).
func dropPrivileges(to int, logf func(string, ...any)) error {
	if to < 0 || os.Getuid() != 0 {
		return nil
	}
	// Supplementary groups first: after setuid we could no longer drop them.
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("drop privileges: clear supplementary groups: %w", err)
	}
	if err := syscall.Setgid(to); err != nil {
		return fmt.Errorf("drop privileges: set gid %d: %w", to, err)
	}
	if err := syscall.Setuid(to); err != nil {
		return fmt.Errorf("drop privileges: set uid %d: %w", to, err)
	}
	logf("listeners bound as root; now running as uid %d", to)
	return nil
}
