#!/usr/bin/env bash
# Prepares a Debian host for k3d's containerd backend, idempotently:
#
#   hack/runtimes-containerd.sh
#
# - installs containerd, runc, the CNI plugins (containernetworking-plugins:
#   bridge, host-local, portmap, firewall, loopback) and iptables when missing;
# - starts containerd when it does not answer, through hack/runtimes.sh (which
#   knows how to start a daemon on a machine without systemd);
# - checks what the backend relies on: the plugins in /usr/lib/cni or
#   /opt/cni/bin, iptables, and containerd's restart monitor plugin (restart
#   policies), which containerd enables unless its config disables it.
#
# A containerd that already answers is used as it is. Environment:
#   CONTAINERD_ADDRESS  the socket (default /run/containerd/containerd.sock)
#   K3D_CNI_PATH        where the CNI plugins are (default /usr/lib/cni:/opt/cni/bin)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ADDRESS=${CONTAINERD_ADDRESS:-/run/containerd/containerd.sock}
ADDRESS=${ADDRESS#unix://}
CNI_PATH=${K3D_CNI_PATH:-/usr/lib/cni:/opt/cni/bin}
PLUGINS=(bridge host-local portmap firewall loopback)

say() { printf 'runtimes-containerd: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root for: $*"; fi
}

apt_install() {
	local missing=()
	for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
	[ ${#missing[@]} -gt 0 ] || return 0
	command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get to install them"
	say "apt-get update"
	as_root apt-get update -qq >/dev/null
	say "installing ${missing[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

containerd_up() { [ -S "$ADDRESS" ] && as_root ctr --address "$ADDRESS" version >/dev/null 2>&1; }

find_plugin() {
	local dir
	IFS=: read -ra dirs <<<"$CNI_PATH"
	for dir in "${dirs[@]}"; do
		if [ -x "$dir/$1" ]; then echo "$dir/$1"; return 0; fi
	done
	return 1
}

if command -v dpkg-query >/dev/null; then
	apt_install containerd runc containernetworking-plugins iptables
fi

if containerd_up; then
	say "containerd already running at $ADDRESS"
elif [ "$ADDRESS" = /run/containerd/containerd.sock ] && [ -z "${K3D_RUNTIMES_CONTAINERD_NESTED:-}" ]; then
	# runtimes.sh starts containerd (and cleans up after a previous machine
	# life); the guard keeps it from calling back here, should it call this
	# script once containerd is up.
	K3D_RUNTIMES_CONTAINERD_NESTED=1 "$HERE/runtimes.sh" containerd
	containerd_up || die "containerd did not come up at $ADDRESS"
else
	die "containerd does not answer at $ADDRESS; start it there (or unset CONTAINERD_ADDRESS to use the default socket, which this script can start)"
fi

for p in "${PLUGINS[@]}"; do
	find_plugin "$p" >/dev/null || die "CNI plugin $p not found in $CNI_PATH: install containernetworking-plugins, or point K3D_CNI_PATH at the plugins"
done
command -v iptables >/dev/null || die "iptables is not installed; the CNI plugins need it"

# Restart policies are kept by containerd's restart monitor plugin.
if ! as_root ctr --address "$ADDRESS" plugins ls 2>/dev/null | awk '$1 == "io.containerd.internal.v1" && $2 == "restart" { print $NF }' | grep -qx ok; then
	die "containerd's restart monitor (io.containerd.internal.v1.restart) is not enabled: remove it from disabled_plugins in containerd's config (/etc/containerd/config.toml) and restart containerd; k3d nodes' restart policies rely on it"
fi

say "containerd $(as_root ctr --address "$ADDRESS" version 2>/dev/null | awk '/Server:/ { s = 1 } s && /Version:/ { print $2; exit }') ready at $ADDRESS; CNI plugins in $(dirname "$(find_plugin bridge)")"
