# Shared by the end-to-end tests and `make demo`: a topology of network namespaces attached to
# goldgate-switch through veth pairs and net_af_packet ports.
#
#   gg-web1 (10.0.0.1)  ─┐
#   gg-web2 (10.0.0.3)  ─┤                       segment web
#   gg-db1  (10.0.0.2)  ─┼── goldgate-switch ──  segment db
#   gg-out  (10.0.0.254)─┘   (uplink)            the outside, behind the uplink
#
# Source this file; call gg_topology_up DIR, gg_switch_start DIR, ..., gg_cleanup.

GG_SWITCH_PID=""

gg_need_root() {
  if [ "$(id -u)" -ne 0 ] || ! ip netns list >/dev/null 2>&1; then
    echo "SKIP: network namespaces need root and iproute2 (running as uid $(id -u))"
    exit 77
  fi
}

# The namespaces and veth pairs: scripts/topology.sh (also the installed demo's), with this file's names.
GG_TOPOLOGY=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/topology.sh
gg_topology_up() { GG_NS_PREFIX=gg- GG_IF_PREFIX="" sh "$GG_TOPOLOGY" up; }
gg_topology_down() { GG_NS_PREFIX=gg- GG_IF_PREFIX="" sh "$GG_TOPOLOGY" down; }

# Writes DIR/goldgate.yaml and DIR/segments/ for the topology. $2: flow table size.
gg_write_config() {
  local dir=$1 flows=${2:-65536}
  mkdir -p "$dir/segments"
  cat > "$dir/goldgate.yaml" <<YAML
# Demo / end-to-end topology: four namespaces on af_packet ports.
eal: [-l, "0", --no-huge, -m, "512", --no-shconf, --no-pci, --no-telemetry, --log-level, "*:warning"]
mbufs: 8191
flow_table: {size: $flows}
segments_dir: segments
control: {socket: $dir/switch.sock}
alerts: {file: $dir/alerts.jsonl, window_ms: 2000}
quarantine_file: $dir/quarantine
metrics: {listen: "127.0.0.1:0"}   # a free port: the log says which (gg_metrics_url)
ports:
  - {name: web1, devargs: "net_af_packet0,iface=web1-h", vm: web1, labels: {app: shop, tier: web}, mac: "02:00:00:00:00:01", ips: [10.0.0.1]}
  - {name: web2, devargs: "net_af_packet1,iface=web2-h", vm: web2, labels: {app: shop, tier: web}, mac: "02:00:00:00:00:03", ips: [10.0.0.3]}
  - {name: db1, devargs: "net_af_packet2,iface=db1-h", vm: db1, labels: {app: shop, tier: db}, mac: "02:00:00:00:00:02", ips: [10.0.0.2]}
  - {name: uplink, devargs: "net_af_packet3,iface=out-h", role: uplink}
YAML
  cat > "$dir/segments/shop.yaml" <<'YAML'
# The shop: web servers may query the database and fetch from outside; the outside may reach the
# web servers' HTTP port; nothing else.
segments:
  - name: web
    members: {labels: {tier: web}}
  - name: db
    members: {labels: {tier: db}}
rules:
  - {name: web-to-db, from: web, to: db, proto: tcp, ports: 5432, action: allow}
  - {name: web-ping-db, from: web, to: db, proto: icmp, action: allow}
  - {name: web-dns, from: web, to: db, proto: udp, ports: 53, action: allow}
  - {name: web-out-http, from: web, to: external, proto: tcp, ports: [80, 443], action: allow}
  - {name: http-in, from: external, to: web, proto: tcp, ports: 8080, action: allow-log}
quarantine:
  allow:
    - {name: quarantine-dns, to: 10.0.0.254/32, proto: udp, ports: 53, action: allow}
YAML
}

# gg_switch_base DIR: on stdout, the switch settings the single-switch tests share (no huge pages,
# control socket, alert file and quarantine file in DIR, policy in DIR/segments); ports follow.
gg_switch_base() {
  cat <<YAML
eal: [-l, "0", --no-huge, -m, "512", --no-shconf, --no-pci, --no-telemetry, --log-level, "*:warning"]
mbufs: 8191
segments_dir: segments
control: {socket: $1/switch.sock}
alerts: {file: $1/alerts.jsonl, window_ms: 1000}
quarantine_file: $1/quarantine
metrics: {listen: "127.0.0.1:0"}
YAML
}

# The switch's metrics URL, from its log in DIR (metrics.listen port 0 above).
gg_metrics_url() { grep -o 'metrics on http://[0-9.:]*/metrics' "$1/switch.log" | tail -1 | sed 's/^metrics on //'; }

# Adds data-class inspection to DIR's config: the shipped classes (copied from $2/configs), the
# shop's VMs as the payment zone, everything else the internet.
gg_enable_inspection() {
  local dir=$1 root=$2 extra=${3:-}
  cp -r "$root/configs/datapolicy" "$dir/datapolicy"
  cat >> "$dir/goldgate.yaml" <<YAML
zones:
  - {name: payment, cidrs: [10.0.0.0/28], trusted: true}
  - {name: internet, cidrs: [0.0.0.0/0]}
inspection: {classes: datapolicy${extra:+, $extra}}
YAML
}

# Starts the switch on DIR's config in the background; waits until the control socket answers.
gg_switch_start() {
  local dir=$1 bin=$2
  "$bin/dataplane/goldgate-switch" -c "$dir/goldgate.yaml" > "$dir/switch.log" 2>&1 &
  GG_SWITCH_PID=$!
  local i
  for i in $(seq 1 100); do
    if "$bin/cli/goldgatectl" -s "$dir/switch.sock" status >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$GG_SWITCH_PID" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "goldgate-switch did not come up:"; cat "$dir/switch.log"
  return 1
}

gg_switch_stop() {
  if [ -n "$GG_SWITCH_PID" ]; then
    kill "$GG_SWITCH_PID" 2>/dev/null
    wait "$GG_SWITCH_PID" 2>/dev/null
    GG_SWITCH_PID=""
  fi
}

gg_cleanup() {
  gg_switch_stop
  gg_topology_down
}

# PASS / FAIL bookkeeping of the end-to-end scripts. A script that wants more on a failure (the
# switch's drop counters, a log) defines gg_on_fail, called with the check's name after its FAIL.
passed=0; failed=0
gg_on_fail() { :; }
ok()  { echo "PASS $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; failed=$((failed + 1)); gg_on_fail "$1"; }
expect() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
# until_ok SECONDS CMD...: runs CMD until it succeeds or SECONDS of wall time have passed.
until_ok() { local end=$(($(date +%s) + $1)); shift; while ! "$@"; do [ "$(date +%s)" -ge "$end" ] && return 1; sleep 0.1; done; }

# Runs a command inside namespace $1.
gg_in() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
