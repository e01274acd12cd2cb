#!/usr/bin/env bash
# Installs from Debian what the local cluster (e2e/cluster) runs besides the
# Kubernetes binaries: containerd and runc (the container runtime), the CNI
# plugins (bridge, host-local, loopback), iptables (kube-proxy) and a static
# busybox (the e2e images). Needs root; does nothing when all are present.
set -euo pipefail

need=()
for pkg in containerd runc containernetworking-plugins iptables conntrack busybox-static; do
	dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "cluster-deps: missing ${need[*]}; install them as root (apt-get install ${need[*]})" >&2
	exit 1
fi
echo "cluster-deps: installing ${need[*]} from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
