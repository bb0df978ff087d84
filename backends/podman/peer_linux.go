package podman

import (
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// peerProcess identifies the process listening on a unix socket.
type peerProcess struct {
	pid int
	// start is the process's start time in clock ticks since boot, which
	// tells a restarted service from the old one even if its PID is reused.
	start string
}

// peerOf reads the listening process from a connected unix socket
// (SO_PEERCRED); the zero value when it cannot be told.
func peerOf(c net.Conn) peerProcess {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return peerProcess{}
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return peerProcess{}
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || credErr != nil || cred == nil || cred.Pid <= 0 {
		return peerProcess{}
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(cred.Pid)) + "/stat")
	if err != nil {
		return peerProcess{}
	}
	// The command name may hold spaces and parentheses: fields are counted
	// after its closing parenthesis; starttime is field 22 of the whole line.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return peerProcess{}
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return peerProcess{}
	}
	return peerProcess{pid: int(cred.Pid), start: f[19]}
}
