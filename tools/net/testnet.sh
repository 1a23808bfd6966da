#!/bin/sh
# Builds (up) or removes (down) sluice's test network: a client and a server namespace joined
# through two veth pairs whose root-namespace ends are sl-a and sl-b.
#
#   [ns sl-cli] cli0 198.18.0.1 2001:db8::1 --- sl-a ==?== sl-b --- srv0 198.18.0.2 2001:db8::2 [ns sl-srv]
#
# `up` leaves sl-a and sl-b unconnected: sluice --inline sl-a:sl-b is the wire between them.
# `bridge` joins them with a kernel bridge instead, so sluice --mirror sl-a sees every frame
# crossing sl-a, as on a TAP/SPAN port (this kernel has no tc mirred to make a real SPAN copy).
# `inject` (after `bridge`) adds a veth pair sl-inj/sl-inj-br with sl-inj-br on the bridge: an
# injection interface on the switch, for sluice --mirror sl-a --inject sl-inj.
#
# Only 198.18.0.0/15 and 2001:db8::/32 are used. Offloads are disabled on every veth so frames
# carry real checksums and MTU-sized segments, as on a wire.
set -eu
cmd=${1:-up}

off() { ethtool -K "$1" rx off tx off tso off gso off gro off >/dev/null 2>&1 || true; }

down() {
	ip netns del sl-cli 2>/dev/null || true
	ip netns del sl-srv 2>/dev/null || true
	ip link del sl-a 2>/dev/null || true
	ip link del sl-b 2>/dev/null || true
	ip link del sl-br 2>/dev/null || true
	ip link del sl-inj 2>/dev/null || true
}

up() {
	down
	ip netns add sl-cli
	ip netns add sl-srv
	ip link add sl-a type veth peer name cli0
	ip link add sl-b type veth peer name srv0
	ip link set cli0 netns sl-cli
	ip link set srv0 netns sl-srv
	for d in sl-a sl-b; do
		sysctl -qw "net.ipv6.conf.$d.disable_ipv6=1" || true
		off "$d"
		ip link set "$d" up
	done
	ip netns exec sl-cli sh -c '
		ip link set lo up; ethtool -K cli0 rx off tx off tso off gso off gro off >/dev/null 2>&1
		ip addr add 198.18.0.1/24 dev cli0; ip -6 addr add 2001:db8::1/64 dev cli0 nodad
		ip link set cli0 up'
	ip netns exec sl-srv sh -c '
		ip link set lo up; ethtool -K srv0 rx off tx off tso off gso off gro off >/dev/null 2>&1
		ip addr add 198.18.0.2/24 dev srv0; ip -6 addr add 2001:db8::2/64 dev srv0 nodad
		ip link set srv0 up'
}

bridge() {
	ip link add sl-br type bridge
	sysctl -qw net.ipv6.conf.sl-br.disable_ipv6=1 || true
	ip link set sl-a master sl-br
	ip link set sl-b master sl-br
	ip link set sl-br up
}

inject() {
	ip link add sl-inj type veth peer name sl-inj-br
	for d in sl-inj sl-inj-br; do
		sysctl -qw "net.ipv6.conf.$d.disable_ipv6=1" || true
		off "$d"
	done
	ip link set sl-inj-br master sl-br
	ip link set sl-inj-br up
	ip link set sl-inj up
}

unbridge() {
	ip link del sl-br 2>/dev/null || true
	ip link del sl-inj 2>/dev/null || true
}

case "$cmd" in
up) up ;;
down) down ;;
bridge) bridge ;;
inject) inject ;;
unbridge) unbridge ;;
*) echo "usage: $0 up|down|bridge|inject|unbridge" >&2; exit 2 ;;
esac
