//go:build !linux

package backends

import "os/exec"

// setDeathSignal has no portable equivalent off Linux; Serve's parent watchdog
// covers those systems.
func setDeathSignal(*exec.Cmd) {}
