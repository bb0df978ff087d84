package backends

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes the kernel kill the backend when k3d dies, even by
// SIGKILL, so that no backend outlives the command that started it.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
