# Shared by e2e_tunnel.sh and `make demo`: two sites, each a namespace behind its own
# goldgate-switch, joined by ESP across an untrusted underlay namespace.
#
#   gt-a1 (10.1.0.1) ── switch A ── uplink ─┐                  ┌─ uplink ── switch B ── gt-b1 (10.2.0.1)
#                       192.0.2.1           └─ gt-under (br0) ─┘           192.0.2.2
#                                              gt-out (10.1.0.200): a host reached in clear
#
# Set $work (a scratch folder) and $bin (the build folder), source this file, then call gt_up
# (namespaces, static SAs with fresh random keys, configs, both switches started) or
# `gt_up tls LIFETIME_S` (keys agreed over mutual TLS 1.3 with certificates from a test CA, rekeyed
# every LIFETIME_S seconds; packets toward a peer without keys wait up to 1.5 s); gt_ctl SITE … runs goldgatectl against a site's switch; gt_down
# removes everything.

GT_NS=(gt-a1 gt-b1 gt-under gt-out)
GT_PIDS=()
declare -A GT_SITE_PID=()  # the running switch of each site
gt_in() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
gt_ctl() { local s=$1; shift; "$bin/cli/goldgatectl" -s "$work/$s/switch.sock" "$@"; }
gt_counter() {  # site, drop reason: its count from goldgatectl --json status
  gt_ctl "$1" --json status | /usr/bin/python3 -c "
import json, sys
s = json.load(sys.stdin)['status']
print(next((c.get('value', 0) for c in s.get('drops', []) if c['name'] == '$2'), 0))"
}

gt_down() {
  kill "${GT_PIDS[@]}" 2>/dev/null
  # Until they are gone: a switch started next on the same control socket finds the old one still
  # listening while it shuts down.
  local p
  for p in "${GT_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  local ns l
  for ns in "${GT_NS[@]}"; do ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null; ip netns del "$ns" 2>/dev/null; done
  for l in ta1-h tb1-h tua-h tub-h; do ip link del "$l" 2>/dev/null; done
  GT_PIDS=()
  return 0
}

gt_veth() {  # host-side name, namespace, inside name, mac
  ip link add "$1" type veth peer name "$3" netns "$2"
  ip -n "$2" link set "$3" address "$4"
  ip link set "$1" up; sysctl -qw "net.ipv6.conf.$1.disable_ipv6=1"
  ethtool -K "$1" tx off tso off gso off gro off >/dev/null 2>&1 || true
  gt_in "$2" ethtool -K "$3" tx off tso off gso off gro off >/dev/null 2>&1 || true
  ip -n "$2" link set "$3" up
}

gt_site() {  # name, lcore, vm port iface, uplink iface, mac, ip, own underlay, peer name, peer underlay, own prefix, peer prefix, router ip, spi out, key out, spi in, key in
  local d=$work/$1
  mkdir -p "$d/segments" "$d/datapolicy"
  cat > "$d/sa.yaml" <<YAML
sas:
  - {peer: ${8}, direction: out, spi: ${13}, key: 0x${14}}
  - {peer: ${8}, direction: in, spi: ${15}, key: 0x${16}}
YAML
  chmod 600 "$d/sa.yaml"
  cat > "$d/goldgate.yaml" <<YAML
eal: [-l, "$2", --no-huge, -m, "512", --no-shconf, --no-pci, --no-telemetry, --log-level, "*:warning"]
mbufs: 8191
segments_dir: segments
control: {socket: $d/switch.sock}
alerts: {file: $d/alerts.jsonl, window_ms: 2000}
quarantine_file: $d/quarantine
ports:
  - {name: vm1, devargs: "net_af_packet0,iface=$3", vm: vm1, labels: {tier: app}, mac: "$5", ips: [$6]}
  - {name: uplink, devargs: "net_af_packet1,iface=$4", role: uplink}
zones:
  - {name: local, cidrs: [${10}], trusted: true}
  - {name: behind-${8}, cidrs: [${11}]}
  - {name: internet, cidrs: [0.0.0.0/0]}
inspection: {classes: datapolicy}
tunnel:
  underlay: {ipv4: $7/24}
  router: {mac: "02:00:00:0a:00:fe", ipv4: ${12}}
  keys: sa.yaml
  peers:
    - {name: ${8}, underlay: $9, zones: [behind-${8}]}
YAML
  cat > "$d/segments/app.yaml" <<'YAML'
segments:
  - name: app
    members: {labels: {tier: app}}
rules:
  - {name: out, from: app, to: external, proto: tcp, action: allow}
  - {name: out-ping, from: app, to: external, proto: icmp, action: allow}
  - {name: in, from: external, to: app, proto: tcp, ports: [5201, 8080], action: allow}
  - {name: in-ping, from: external, to: app, proto: icmp, action: allow}
YAML
  # A class that must never travel in clear: allowed only where the switch encrypts.
  cat > "$d/datapolicy/merger-code.yaml" <<'YAML'
name: merger-code
description: project code names of a merger under NDA (a test class)
severity: 9
detectors:
  patterns: [{regex: 'MERGER-[0-9]{6}'}]
policy:
  default: require-encryption
YAML
}

gt_start() {
  # DPDK's af_packet PMD names its PACKET_FANOUT group (getpid() ^ ifindex): two switches in one
  # network namespace collide now and then, and the second fails to open its port. A new process
  # (a new pid) does not collide the same way, so such a start is tried again.
  local attempt
  for attempt in 1 2 3; do
    "$bin/dataplane/goldgate-switch" -c "$work/$1/goldgate.yaml" > "$work/$1/switch.log" 2>&1 &
    GT_PIDS+=($!)
    GT_SITE_PID[$1]=$!
    for _ in $(seq 1 100); do
      gt_ctl "$1" status >/dev/null 2>&1 && return 0
      kill -0 "${GT_PIDS[-1]}" 2>/dev/null || break
      sleep 0.1
    done
    grep -q 'PACKET_FANOUT' "$work/$1/switch.log" || break
    echo "switch $1: af_packet fanout group taken (pid collision), starting again"
  done
  echo "switch $1 did not come up:"; cat "$work/$1/switch.log"; return 1
}

# A test CA and one certificate per site, named after the site (the peer name the other side
# expects), plus a stranger's self-signed certificate.
gt_certs() {
  local d=$work/pki
  mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=goldgate test CA" \
    -keyout "$d/ca.key" -out "$d/ca.pem" >/dev/null 2>&1 || return 1
  local s
  for s in site-a site-b; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$s" -addext "subjectAltName=DNS:$s" \
      -keyout "$d/$s.key" -out "$d/$s.csr" >/dev/null 2>&1 || return 1
    openssl x509 -req -in "$d/$s.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 -copy_extensions copy \
      -out "$d/$s.pem" >/dev/null 2>&1 || return 1
    chmod 600 "$d/$s.key"
  done
  # It names site-a, the peer switch B expects: only the CA check can tell it apart.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=site-a" \
    -addext "subjectAltName=DNS:site-a" -keyout "$d/stranger.key" -out "$d/stranger.pem" >/dev/null 2>&1
}

gt_up() {
  local keys=${1:-static} lifetime=${2:-3600}
  gt_down
  for ns in "${GT_NS[@]}"; do ip netns add "$ns"; ip -n "$ns" link set lo up; gt_in "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1; done
  gt_veth ta1-h gt-a1 eth0 02:00:00:01:00:01
  gt_veth tb1-h gt-b1 eth0 02:00:00:02:00:01
  gt_veth tua-h gt-under ua 02:00:00:0f:00:0a
  gt_veth tub-h gt-under ub 02:00:00:0f:00:0b
  ip -n gt-under link add br0 type bridge
  ip -n gt-under link set ua master br0; ip -n gt-under link set ub master br0; ip -n gt-under link set br0 up
  ip -n gt-out link add eth0 type veth peer name uo netns gt-under
  ip -n gt-out link set eth0 address 02:00:00:0e:00:01; ip -n gt-out link set eth0 up
  gt_in gt-out ethtool -K eth0 tx off tso off gso off gro off >/dev/null 2>&1 || true
  ip -n gt-under link set uo master br0; ip -n gt-under link set uo up
  ip -n gt-a1 addr add 10.1.0.1/24 dev eth0; ip -n gt-a1 route add 10.2.0.0/16 via 10.1.0.254
  ip -n gt-b1 addr add 10.2.0.1/24 dev eth0; ip -n gt-b1 route add 10.1.0.0/16 via 10.2.0.254
  ip -n gt-out addr add 10.1.0.200/24 dev eth0
  local k1 k2
  k1=$(head -c 36 /dev/urandom | od -An -tx1 | tr -d ' \n'); k2=$(head -c 36 /dev/urandom | od -An -tx1 | tr -d ' \n')
  gt_site a 0 ta1-h tua-h 02:00:00:01:00:01 10.1.0.1 192.0.2.1 site-b 192.0.2.2 10.1.0.0/24 10.2.0.0/16 10.1.0.254 0x1001 "$k1" 0x2001 "$k2"
  gt_site b 1 tb1-h tub-h 02:00:00:02:00:01 10.2.0.1 192.0.2.2 site-a 192.0.2.1 10.2.0.0/24 10.1.0.0/16 10.2.0.254 0x2001 "$k2" 0x1001 "$k1"
  if [ "$keys" = tls ]; then
    gt_certs || { echo "gt_up: cannot make test certificates with openssl"; return 1; }
    local s me peer port peerport
    for s in a b; do
      if [ $s = a ]; then me=site-a; peer=site-b; port=7411; peerport=7412; else me=site-b; peer=site-a; port=7412; peerport=7411; fi
      sed -i -e "s|^  keys: sa.yaml|  peer_down: {wait_ms: 1500}\n  tls: {listen: \"127.0.0.1:$port\", cert: $work/pki/$me.pem, key: $work/pki/$me.key, ca: $work/pki/ca.pem, lifetime_s: $lifetime, grace_s: 1}|" \
             -e "s|^    - {name: $peer, underlay: \([0-9.]*\), zones: \[\(.*\)\]}|    - {name: $peer, underlay: \1, zones: [\2], keys: tls, control: \"127.0.0.1:$peerport\"}|" \
             "$work/$s/goldgate.yaml"
      rm -f "$work/$s/sa.yaml"
    done
  fi
  gt_start a && gt_start b
}
