#!/usr/bin/env bash
# Installs and starts the container runtimes k3d's tests need, on Debian, idempotently.
#
#   hack/runtimes.sh [docker] [containerd] [podman] [podman-rootless]   (default: docker containerd)
#
# There is no systemd on the build machines, so daemons are started by hand, with
# logs under $K3D_RUNTIME_LOGS (default /var/log/k3d-runtimes). A daemon that
# already answers is left alone: a developer's laptop with Docker running is not
# touched. Daemons do not survive from one run to the next, so stale pid files and
# sockets left by a previous machine life are cleaned up before starting.
set -euo pipefail

LOGS=${K3D_RUNTIME_LOGS:-/var/log/k3d-runtimes}
WANT=("$@")
[ ${#WANT[@]} -gt 0 ] || WANT=(docker containerd)

say() { printf 'runtimes: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root for: $*"; fi
}

apt_updated=
apt_install() {
	local missing=()
	for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
	[ ${#missing[@]} -gt 0 ] || return 0
	command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get to install them"
	if [ -z "$apt_updated" ]; then
		say "apt-get update"
		as_root apt-get update -qq >/dev/null
		apt_updated=1
	fi
	say "installing ${missing[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
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

# clear_stale PIDFILE SOCKET: remove a pid file whose process is gone, and its socket.
clear_stale() {
	local pidfile=$1 sock=$2
	if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null; then
		say "removing stale $pidfile"
		as_root rm -f "$pidfile"
		as_root rm -f "$sock"
	elif [ ! -f "$pidfile" ] && [ -S "$sock" ]; then
		as_root rm -f "$sock"
	fi
}

containerd_up() { [ -S /run/containerd/containerd.sock ] && ctr --address /run/containerd/containerd.sock version; }

start_containerd() {
	apt_install containerd runc
	if containerd_up >/dev/null 2>&1; then say "containerd already running"; return 0; fi
	as_root mkdir -p "$LOGS" /run/containerd
	clear_stale /run/containerd/containerd.pid /run/containerd/containerd.sock
	say "starting containerd (log: $LOGS/containerd.log)"
	# From /, not the caller's directory, which may be deleted while it runs.
	as_root sh -c "cd / || exit 1; nohup containerd >>'$LOGS/containerd.log' 2>&1 & echo \$! >/run/containerd/containerd.pid"
	wait_for containerd_up || die "containerd did not come up; see $LOGS/containerd.log"
}

docker_up() { docker version --format '{{.Server.Version}}'; }

start_docker() {
	# A docker that already answers (DOCKER_HOST, Docker Desktop, a running daemon) is used as is.
	if command -v docker >/dev/null && docker_up >/dev/null 2>&1; then say "docker already running"; return 0; fi
	apt_install docker.io containerd runc iptables
	command -v dockerd >/dev/null || die "dockerd is not installed (docker.io package)"
	if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST#unix://}" = "$DOCKER_HOST" ]; then
		die "DOCKER_HOST=$DOCKER_HOST does not answer, and is not a local socket this script can start a daemon on"
	fi
	# dockerd uses its own containerd when none runs; share the system one when it does.
	start_containerd
	as_root mkdir -p "$LOGS"
	clear_stale /var/run/docker.pid /var/run/docker.sock
	say "starting dockerd (log: $LOGS/dockerd.log)"
	as_root sh -c "cd / || exit 1; nohup dockerd --containerd=/run/containerd/containerd.sock >>'$LOGS/dockerd.log' 2>&1 &"
	wait_for docker_up || die "dockerd did not come up; see $LOGS/dockerd.log"
	say "docker $(docker_up) ready"
}

for rt in "${WANT[@]}"; do
	case "$rt" in
	docker) start_docker ;;
	containerd)
		start_containerd
		# CNI plugins and iptables for the containerd backend; it calls back
		# here only when containerd does not answer.
		"$(dirname "$0")/runtimes-containerd.sh" ;;
	podman) "$(dirname "$0")/runtimes-podman.sh" rootful ;;
	podman-rootless) "$(dirname "$0")/runtimes-podman.sh" rootless ;;
	*) die "unknown runtime $rt (want docker, containerd, podman or podman-rootless)" ;;
	esac
done
