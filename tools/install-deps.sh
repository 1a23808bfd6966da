#!/bin/sh
# Installs the Debian 12 packages sluice builds, tests and benchmarks with. Idempotent.
set -eu
PKGS="build-essential meson ninja-build pkg-config dpdk dpdk-dev libdpdk-dev libhyperscan-dev
      libconfig-dev libjansson-dev libcunit1-dev libpcap-dev zlib1g-dev libisal-dev libssl-dev
      libzstd-dev zstd libbrotli-dev python3 python3-brotli python3-jsonschema python3-websockets
      iproute2 ethtool curl iputils-ping procps"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
