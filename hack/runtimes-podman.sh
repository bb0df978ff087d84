#!/usr/bin/env bash
# Installs and starts Podman's API service for k3d's tests on Debian, idempotently.
#
#   hack/runtimes-podman.sh rootful|rootless ...     (default: rootful rootless)
#
# rootful:  `podman system service` as root on unix:///run/podman/podman.sock.
# rootless: the same as the unprivileged user $K3D_PODMAN_USER (default k3d-rootless,
#           created when missing, with subuid/subgid ranges) on
#           unix:///run/user/<uid>/podman/podman.sock.
#
# There is no systemd on the build machines: services are started by hand, with logs
# under $K3D_RUNTIME_LOGS (default /var/log/k3d-runtimes), and stale pid files and
# sockets from a previous machine life are cleaned up first. A service that already
# answers is left alone, and so is its configuration: a developer's machine with
# Podman running is not touched. The last lines printed are the sockets, as
#   podman-rootful=unix:///run/podman/podman.sock
#   podman-rootless=unix:///run/user/1001/podman/podman.sock
set -euo pipefail

LOGS=${K3D_RUNTIME_LOGS:-/var/log/k3d-runtimes}
ROOTLESS_USER=${K3D_PODMAN_USER:-k3d-rootless}
ROOTFUL_SOCK=/run/podman/podman.sock
# The drop-in every Podman on the machine reads (root and rootless alike).
CONF=/etc/containers/containers.conf.d/50-k3d.conf
WANT=("$@")
[ ${#WANT[@]} -gt 0 ] || WANT=(rootful rootless)

say() { printf 'runtimes-podman: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || exec sudo -E "$0" "$@"

apt_updated=
apt_install() {
	local missing=()
	for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
	[ ${#missing[@]} -gt 0 ] || return 0
	command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get to install them"
	if [ -z "$apt_updated" ]; then
		say "apt-get update"
		apt-get update -qq >/dev/null
		apt_updated=1
	fi
	say "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# wait_for CMD... : retry a readiness probe for up to 60 s with a short poll.
wait_for() {
	local i
	for i in $(seq 1 300); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.2
	done
	return 1
}

# answers URL: the API service at URL answers a ping. Speaks HTTP with curl (never
# starting a podman process), or asks podman-remote where there is no curl.
answers() {
	local url=$1
	if command -v curl >/dev/null; then
		case "$url" in
		unix://*) curl -fsS --max-time 5 --unix-socket "${url#unix://}" http://d/_ping && return 0 || return 1 ;;
		tcp://*) curl -fsS --max-time 5 "http://${url#tcp://}/_ping" && return 0 || return 1 ;;
		esac
	fi
	command -v podman >/dev/null && timeout 10 podman --remote --url "$url" version
}

install_podman() {
	# netavark + aardvark-dns give networks container DNS (CNI has no DNS plugin in
	# Debian); containernetworking-plugins is what podman's own dependency names;
	# uidmap and slirp4netns are rootless Podman's user namespace and network.
	apt_install podman runc uidmap slirp4netns containernetworking-plugins netavark aardvark-dns iptables curl
}

# hard_limit RESOURCE: the hard limit of this process (-n nofile, -u nproc), which
# is also the ceiling of the services it starts.
hard_limit() {
	local v
	v=$(ulimit -H "$1")
	[ "$v" = unlimited ] && v=1048576
	echo "$v"
}

# write_config: the drop-in holds only what this host needs, so that a developer's
# Podman keeps its own settings wherever they work.
write_config() {
	local containers="" engine="" network="" content nofile nproc
	if ! grep -q '^CapBnd:.*' /proc/self/status || [ $((0x$(awk '/^CapBnd:/ {print $2}' /proc/self/status) >> 24 & 1)) -eq 0 ]; then
		# Without CAP_SYS_RESOURCE no container may get more than the service has,
		# and Podman's default ulimits can ask for more. Podman 4 also lowers its
		# own nproc limit to 32768 when it starts.
		nofile=$(hard_limit -n)
		nproc=$(hard_limit -u)
		[ "$nproc" -le 32768 ] || nproc=32768
		containers+="default_ulimits = [\"nofile=${nofile}:${nofile}\", \"nproc=${nproc}:${nproc}\"]"$'\n'
	fi
	if [ ! -f /sys/fs/cgroup/cgroup.controllers ]; then
		# crun refuses the cgroup v1 (and hybrid) layout; runc runs on both.
		engine+='runtime = "runc"'$'\n'
	fi
	if [ "$(cat /proc/1/comm 2>/dev/null)" != systemd ]; then
		# No systemd to manage cgroups, and no journald for events and logs (the
		# k8s-file log driver supports logs --follow too).
		engine+='cgroup_manager = "cgroupfs"'$'\n''events_logger = "file"'$'\n'
		containers+='log_driver = "k8s-file"'$'\n'
	fi
	if ! ls /etc/cni/net.d/*.conflist 2>/dev/null | grep -qv '/87-podman'; then
		# netavark + aardvark-dns give user-defined networks DNS by name and
		# alias; Podman would keep using CNI (no DNS) once it has used it.
		network+='network_backend = "netavark"'$'\n'
	fi
	content="# Written by k3d's hack/runtimes-podman.sh: what Podman needs on this host."
	[ -z "$containers" ] || content+=$'\n[containers]\n'"$containers"
	[ -z "$engine" ] || content+=$'\n[engine]\n'"$engine"
	[ -z "$network" ] || content+=$'\n[network]\n'"$network"
	mkdir -p "$(dirname "$CONF")"
	if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$(printf '%s' "$content")" ]; then
		say "writing $CONF"
		printf '%s' "$content" >"$CONF"
	fi
}

# clear_stale PIDFILE SOCKET: remove a pid file whose process is gone and a socket
# nobody serves.
clear_stale() {
	local pidfile=$1 sock=$2
	if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null; then
		say "removing stale $pidfile"
		rm -f "$pidfile" "$sock"
	elif [ ! -f "$pidfile" ] && [ -S "$sock" ]; then
		say "removing stale $sock"
		rm -f "$sock"
	fi
}

start_rootful() {
	local url=${CONTAINER_HOST:-unix://$ROOTFUL_SOCK}
	if answers "$url" >/dev/null 2>&1; then
		say "podman (rootful) already answers at $url"
		echo "podman-rootful=$url"
		return 0
	fi
	if [ -n "${CONTAINER_HOST:-}" ] && [ "$url" != "unix://$ROOTFUL_SOCK" ]; then
		die "CONTAINER_HOST=$CONTAINER_HOST does not answer, and is not the socket this script starts a service on"
	fi
	install_podman
	write_config
	mkdir -p "$LOGS" /run/podman
	clear_stale /run/podman/k3d-service.pid "$ROOTFUL_SOCK"
	# Unlike the rootless case below, rootful state under /run is left alone when
	# its processes are gone: the kernel's side (firewall rules, network
	# namespaces) outlives them here, and Podman tears a dead container's network
	# down when it finds the container dead, but not after a refresh that makes it
	# believe the machine restarted.
	say "starting podman system service as root (log: $LOGS/podman.log)"
	# setsid: the service outlives this script and its caller's process group.
	# cd /: the service (and every conmon it starts) would otherwise keep the
	# caller's directory, and fail every container start once that is deleted
	# (a CI checkout removed after the run: "conmon: Failed to get working directory").
	setsid -f sh -c "cd / && echo \$\$ >/run/podman/k3d-service.pid; exec podman system service --time=0 unix://$ROOTFUL_SOCK >>'$LOGS/podman.log' 2>&1" </dev/null
	wait_for answers "unix://$ROOTFUL_SOCK" || die "podman (rootful) did not come up; see $LOGS/podman.log"
	say "podman (rootful) ready at unix://$ROOTFUL_SOCK"
	echo "podman-rootful=unix://$ROOTFUL_SOCK"
}

# kernel_at_least MAJOR MINOR
kernel_at_least() {
	local v major minor
	v=$(uname -r)
	major=${v%%.*}
	minor=${v#*.}
	minor=${minor%%.*}
	[ "$major" -gt "$1" ] || { [ "$major" -eq "$1" ] && [ "$minor" -ge "$2" ]; }
}

# free_subid_start FILE: the first id after every range in FILE (or 100000).
free_subid_start() {
	awk -F: 'BEGIN { m = 100000 } NF >= 3 && $2 + $3 > m { m = $2 + $3 } END { print m }' "$1" 2>/dev/null || echo 100000
}

ensure_user() {
	local user=$ROOTLESS_USER start
	if ! id -u "$user" >/dev/null 2>&1; then
		local uid=1000
		while getent passwd "$uid" >/dev/null || getent group "$uid" >/dev/null; do uid=$((uid + 1)); done
		say "creating user $user (uid $uid)"
		useradd --create-home --uid "$uid" --user-group --shell /bin/sh "$user"
	fi
	touch /etc/subuid /etc/subgid
	if ! grep -q "^$user:" /etc/subuid; then
		start=$(free_subid_start /etc/subuid)
		say "giving $user subuids $start-$((start + 65535))"
		usermod --add-subuids "$start-$((start + 65535))" "$user"
	fi
	if ! grep -q "^$user:" /etc/subgid; then
		start=$(free_subid_start /etc/subgid)
		say "giving $user subgids $start-$((start + 65535))"
		usermod --add-subgids "$start-$((start + 65535))" "$user"
	fi
}

# ensure_tun: slirp4netns, rootless Podman's network, opens /dev/net/tun as the user.
ensure_tun() {
	if [ ! -c /dev/net/tun ]; then
		say "creating /dev/net/tun"
		mkdir -p /dev/net
		mknod /dev/net/tun c 10 200
	fi
	if [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
		say "making /dev/net/tun usable by every user (mode 0666)"
		chmod 0666 /dev/net/tun
	fi
}

# delegate_cgroups USER: on cgroup v1 nobody hands an unprivileged user a cgroup
# subtree (systemd does, on cgroup v2, with Delegate=yes). Give the user's service
# one per controller, below this script's own cgroups, so that its containers (which
# stay in the service's cgroups on v1) can create child cgroups, as privileged k3s
# nodes do. The directories made are kept in DELEGATED.
DELEGATED=()
delegate_cgroups() {
	local user=$1 ctrls path dir d
	[ -f /sys/fs/cgroup/cgroup.controllers ] && return 0
	while IFS=: read -r _ ctrls path; do
		[ -n "$ctrls" ] || continue # the cgroup v2 line of a hybrid layout
		dir=/sys/fs/cgroup/${ctrls#name=}
		mountpoint -q "$dir" || continue
		d=$dir${path%/}/k3d-podman-$user
		mkdir -p "$d" 2>/dev/null || continue
		if [ "${ctrls#*cpuset}" != "$ctrls" ]; then
			# A new cpuset cgroup starts with no cpus and no memory nodes.
			[ -n "$(cat "$d/cpuset.cpus")" ] || cat "$(dirname "$d")/cpuset.cpus" >"$d/cpuset.cpus" || true
			[ -n "$(cat "$d/cpuset.mems")" ] || cat "$(dirname "$d")/cpuset.mems" >"$d/cpuset.mems" || true
		fi
		chown -R "$user:" "$d" || true
		DELEGATED+=("$d")
	done </proc/self/cgroup
}

# enter_cgroups PID: move PID into the cgroups delegate_cgroups made.
enter_cgroups() {
	local d
	for d in "${DELEGATED[@]}"; do
		echo "$1" >"$d/cgroup.procs" 2>/dev/null || say "cannot move the service into $d"
	done
}

start_rootless() {
	local user=$ROOTLESS_USER
	if id -u "$user" >/dev/null 2>&1; then
		local url="unix:///run/user/$(id -u "$user")/podman/podman.sock"
		if answers "$url" >/dev/null 2>&1; then
			say "podman (rootless, user $user) already answers at $url"
			echo "podman-rootless=$url"
			return 0
		fi
	fi
	install_podman
	write_config
	ensure_user
	ensure_tun
	local uid home xdg sock log pidfile
	uid=$(id -u "$user")
	home=$(getent passwd "$user" | cut -d: -f6)
	xdg=/run/user/$uid
	sock=$xdg/podman/podman.sock
	log=$LOGS/podman-rootless.log
	pidfile=$xdg/k3d-service.pid
	install -d -m 0755 /run/user
	install -d -m 0700 -o "$user" -g "$(id -g "$user")" "$xdg" "$xdg/podman"
	mkdir -p "$LOGS"
	touch "$log"
	chown "$user:" "$log"
	clear_stale "$pidfile" "$sock"
	# The new shell writes its pid here; an old one (of a service that no longer
	# answers) must not be mistaken for it.
	rm -f "$pidfile" "$pidfile.cg"
	# XDG_RUNTIME_DIR is meant to die with the user's last process (logind keeps it
	# on a tmpfs it removes), but on these machines /run is plain disk and survives
	# a restore with every process gone. Podman then believes its old containers
	# still run, looks for their conmon to join their user namespace, and refuses to
	# start ("invalid internal status ... podman system migrate"). With no process
	# of the user alive nothing can be using the directory, so empty it as logind
	# would; libpod then sees a fresh boot and resets its containers' states.
	if ! pgrep -u "$user" >/dev/null 2>&1 && [ -n "$(ls -A "$xdg" 2>/dev/null)" ]; then
		say "clearing $xdg: left by processes of $user that no longer exist"
		find "$xdg" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
		# Its container locks live in shared memory, which logind would also remove.
		rm -f "/dev/shm/libpod_rootless_lock_$uid"
		install -d -m 0700 -o "$user" -g "$(id -g "$user")" "$xdg/podman"
	fi
	# Podman 4.3 picks the vfs storage driver for a new rootless user (a full copy
	# of every image per container); the kernel's own overlayfs works in a user
	# namespace (Linux 5.13+). Only for a user whose storage does not exist yet.
	if [ ! -e "$home/.config/containers/storage.conf" ] && [ ! -e "$home/.local/share/containers/storage" ] &&
		kernel_at_least 5 13; then
		say "configuring overlay storage for $user"
		runuser -u "$user" -- mkdir -p "$home/.config/containers"
		printf '[storage]\ndriver = "overlay"\n' | runuser -u "$user" -- tee "$home/.config/containers/storage.conf" >/dev/null
	fi
	delegate_cgroups "$user"
	say "starting podman system service as $user (log: $log)"
	# The shell moves itself into the delegated cgroups before it becomes the service.
	# runuser stays as its parent, so its output goes to the log too: a caller that
	# pipes this script would otherwise wait on it forever.
	setsid -f runuser -u "$user" -- env -i HOME="$home" USER="$user" LOGNAME="$user" \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin XDG_RUNTIME_DIR="$xdg" \
		sh -c "echo \$\$ >'$pidfile'; i=0; while [ ! -s '$pidfile.cg' ] && [ \$i -lt 200 ]; do sleep 0.05; i=\$((i+1)); done; rm -f '$pidfile.cg'; cd; exec podman system service --time=0 unix://$sock >>'$log' 2>&1" </dev/null >>"$log" 2>&1
	wait_for test -s "$pidfile" || die "the rootless service's shell did not start"
	enter_cgroups "$(cat "$pidfile")"
	echo ok >"$pidfile.cg"
	wait_for answers "unix://$sock" || die "podman (rootless) did not come up; see $log"
	say "podman (rootless, user $user) ready at unix://$sock"
	echo "podman-rootless=unix://$sock"
}

for mode in "${WANT[@]}"; do
	case "$mode" in
	rootful) start_rootful ;;
	rootless) start_rootless ;;
	*) die "unknown mode $mode (want rootful or rootless)" ;;
	esac
done
