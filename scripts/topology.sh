#!/bin/sh
# The demo topology: four network namespaces (gd-web1, gd-web2, gd-db1, gd-out), each with a veth
# pair whose host end (gd-NAME-h) is a port of the switch (goldgate.yaml beside this file in the
# installed example, /usr/share/goldgate/examples/demo; the tests' and `make demo`'s: tests/e2e/lib.sh,
# which names them gg-NAME and NAME-h through GG_NS_PREFIX and GG_IF_PREFIX).
# Usage (as root): topology.sh up | down
set -eu
nsp=${GG_NS_PREFIX-gd-}
ifp=${GG_IF_PREFIX-gd-}

nodes="web1:10.0.0.1:02:00:00:00:00:01 web2:10.0.0.3:02:00:00:00:00:03 db1:10.0.0.2:02:00:00:00:00:02 out:10.0.0.254:02:00:00:00:00:fe"

down() {
	for n in $nodes; do
		name=${n%%:*}
		ip netns pids "$nsp$name" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
		ip netns del "$nsp$name" 2>/dev/null || true
		ip link del "$ifp$name-h" 2>/dev/null || true
	done
}

up() {
	down
	for n in $nodes; do
		name=${n%%:*} rest=${n#*:}
		addr=${rest%%:*} mac=${rest#*:}
		ns=$nsp$name hif=$ifp$name-h
		ip netns add "$ns"
		ip link add "$hif" type veth peer name eth0 netns "$ns"
		ip -n "$ns" link set lo up
		ip -n "$ns" link set eth0 address "$mac"
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
		ip -n "$ns" addr add "$addr/24" dev eth0
		ip -n "$ns" link set eth0 up
		ip link set "$hif" up
		sysctl -qw "net.ipv6.conf.$hif.disable_ipv6=1"
		# Offloads off on both ends: with them, TCP would leave the namespace with unfinished
		# checksums or as super-frames that a real NIC would have split.
		ip netns exec "$ns" ethtool -K eth0 tx off tso off gso off gro off >/dev/null 2>&1 || true
		ethtool -K "$hif" tx off tso off gso off gro off >/dev/null 2>&1 || true
	done
}

case "${1:-}" in
	up) up ;;
	down) down ;;
	*) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
