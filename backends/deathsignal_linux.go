package backends

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes the kernel kill the backend when k3d dies, even by
// SIGKILL, so that no backend outlives the command that started it. The
// backend also gets a process group of its own: a Ctrl-C on the terminal or a
// SIGTERM to k3d's group (as `timeout` sends) then reaches only k3d, which
// cancels its work and rolls back through a backend that is still alive.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
