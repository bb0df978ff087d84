package podman

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// rootfulSocket is where root's `podman system service` (and podman.socket)
// listens by default.
const rootfulSocket = "/run/podman/podman.sock"

// endpoint is where the service is and how we learned it.
type endpoint struct {
	uri      string // unix:///run/podman/podman.sock, ssh://user@host/run/user/1000/podman/podman.sock
	source   string // "CONTAINER_HOST", "rootless socket", "rootful socket"
	identity string // ssh key for ssh:// (CONTAINER_SSHKEY)
}

// scheme is the endpoint's URL scheme ("unix", "ssh", "tcp").
func (e endpoint) scheme() string {
	if i := strings.Index(e.uri, "://"); i > 0 {
		return e.uri[:i]
	}
	return ""
}

// local reports whether the service runs on this machine, so that facts
// about this host (sysctls, devices, capabilities) are facts about its nodes.
func (e endpoint) local() bool { return e.scheme() == "unix" }

// socketPath is the path of a unix:// endpoint.
func (e endpoint) socketPath() string {
	u, err := url.Parse(e.uri)
	if err != nil {
		return strings.TrimPrefix(e.uri, "unix://")
	}
	if u.Host != "" { // unix://run/podman/podman.sock, which the bindings accept
		return "/" + u.Host + u.Path
	}
	return u.Path
}

// resolveEndpoint picks the service the way podman-remote does: CONTAINER_HOST,
// else the user's own socket for a non-root user, else root's.
func resolveEndpoint(getenv func(string) string, euid int) (endpoint, error) {
	if host := getenv("CONTAINER_HOST"); host != "" {
		e := endpoint{uri: host, source: "CONTAINER_HOST", identity: getenv("CONTAINER_SSHKEY")}
		switch e.scheme() {
		case "unix", "ssh", "tcp":
		default:
			return endpoint{}, fmt.Errorf("CONTAINER_HOST=%q: unsupported scheme (want unix://, ssh:// or tcp://)", host)
		}
		if _, err := url.Parse(host); err != nil {
			return endpoint{}, fmt.Errorf("CONTAINER_HOST=%q: %w", host, err)
		}
		return e, nil
	}
	if euid != 0 {
		dir := getenv("XDG_RUNTIME_DIR")
		if dir == "" {
			// What podman itself falls back to without a login session.
			dir = "/run/user/" + strconv.Itoa(euid)
		}
		return endpoint{uri: "unix://" + strings.TrimRight(dir, "/") + "/podman/podman.sock", source: "rootless socket"}, nil
	}
	return endpoint{uri: "unix://" + rootfulSocket, source: "rootful socket"}, nil
}

// hint says how to start the service the endpoint names.
func (e endpoint) hint(err error) string {
	switch e.scheme() {
	case "unix":
		if errors.Is(err, os.ErrPermission) || strings.Contains(err.Error(), "permission denied") {
			return "ask for access to the socket, or run as the user who owns it"
		}
		switch e.source {
		case "rootless socket":
			return "start it with: systemctl --user start podman.socket (or: podman system service --time=0 &)"
		case "rootful socket":
			return "start it with: sudo systemctl start podman.socket (or: sudo podman system service --time=0 &)"
		}
		return fmt.Sprintf("start `podman system service --time=0 %s` (the socket from %s), or unset CONTAINER_HOST", e.uri, e.source)
	case "ssh":
		return "check that `" + sshCommand(e.uri) + "` works and that the Podman socket runs there (systemctl --user start podman.socket)"
	}
	return fmt.Sprintf("check that `podman system service --time=0 %s` runs there (from %s)", e.uri, e.source)
}

// sshCommand is the ssh command line that reaches an ssh:// endpoint.
func sshCommand(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return "ssh " + strings.TrimPrefix(uri, "ssh://")
	}
	cmd := "ssh"
	if p := u.Port(); p != "" {
		cmd += " -p " + p
	}
	target := u.Hostname()
	if u.User != nil {
		target = u.User.Username() + "@" + target
	}
	return cmd + " " + target
}
