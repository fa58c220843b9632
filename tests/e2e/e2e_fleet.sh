#!/usr/bin/env bash
# The fleet against a real etcd: a 3-member cluster (Debian's etcd-server) on loopback with mutual
# TLS and the roles of scripts/fleet-etcd.sh, three hosts' agents (goldgate-fleet, each with its own
# state folder and certificate), and goldgatectl fleet as the admin. A push reaches every host; a
# bundle without a valid signature, a tampered one and a rolled-back one written straight into
# etcd are refused and alerted by every host, which stay on what they had; a host's credentials
# cannot write the policy or another host's status; with all of etcd stopped the hosts keep their
# last-known-good and one restarted meanwhile starts on it; pushes resume when etcd returns; the
# leader killed during a push does not stop the hosts converging.
# Usage: e2e_fleet.sh BUILD_DIR   (exit 77 = skipped, with the reason)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
bin=$(cd "${1:-build}" && pwd)
source "$here/lib.sh"
for c in etcd etcdctl openssl; do
  command -v "$c" >/dev/null || { echo "SKIP: $c is not installed (scripts/install-deps.sh test)"; exit 77; }
done
work=$(mktemp -d /tmp/gg-fleet.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}" $(jobs -p); do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT; [ -n "${GG_KEEP_WORK:-}" ] && trap - EXIT
gg_on_fail() { for h in h1 h2 h3; do echo "    --- $h"; tail -5 "$work/$h/agent.log" 2>/dev/null | sed 's/^/    /'; done; }
ctl="$bin/cli/goldgatectl"
pki=$work/pki
members=(m1 m2 m3)
# Six free ports on loopback (client and peer for each member), not fixed ones.
read -r -a free <<<"$(/usr/bin/python3 -c '
import socket
ss = [socket.socket() for _ in range(6)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')"
declare -A cport=([m1]=${free[0]} [m2]=${free[1]} [m3]=${free[2]}) pport=([m1]=${free[3]} [m2]=${free[4]} [m3]=${free[5]}) mpid=()
endpoints="https://127.0.0.1:${free[0]},https://127.0.0.1:${free[1]},https://127.0.0.1:${free[2]}"
cluster="m1=https://127.0.0.1:${free[3]},m2=https://127.0.0.1:${free[4]},m3=https://127.0.0.1:${free[5]}"

"$src/scripts/fleet-etcd.sh" pki "$pki" "${members[@]}" -- h1 h2 h3 >/dev/null
start_member() {  # name [existing]
  local m=$1
  # shellcheck disable=SC2046
  etcd --name "$m" --data-dir "$work/etcd-$m" --initial-cluster "$cluster" --initial-cluster-state "${2:-new}" \
    --listen-client-urls "https://127.0.0.1:${cport[$m]}" --advertise-client-urls "https://127.0.0.1:${cport[$m]}" \
    --listen-peer-urls "https://127.0.0.1:${pport[$m]}" --initial-advertise-peer-urls "https://127.0.0.1:${pport[$m]}" \
    $("$src/scripts/fleet-etcd.sh" member-flags "$pki" "$m") > "$work/etcd-$m.log" 2>&1 &
  mpid[$m]=$!
  pids+=($!)
}
for m in "${members[@]}"; do start_member "$m"; done
etcdctl_as() {  # root by its certificate's CN; the others as users, with their passwords
  local who=$1 user=(); shift
  [ "$who" = root ] || user=(--user "$([ "$who" = admin ] && echo goldgate-admin || echo "$who"):$(cat "$pki/$([ "$who" = admin ] && echo goldgate-admin || echo "$who").password")")
  etcdctl --endpoints "$endpoints" --cacert "$pki/ca.pem" --cert "$pki/$who.pem" --key "$pki/$who-key.pem" "${user[@]}" "$@"
}
healthy() { etcdctl_as root endpoint health --cluster >/dev/null 2>&1; }
expect "a 3-member etcd cluster with mutual TLS is up" until_ok 60 healthy
expect "users and roles set and authentication on (scripts/fleet-etcd.sh roles)" \
  "$src/scripts/fleet-etcd.sh" roles "$pki" "$endpoints" h1 h2 h3

# The admin's signing key (never on a host) and a stranger's.
$ctl manifest keygen --out "$work/admin.key" >/dev/null
$ctl manifest keygen --out "$work/stranger.key" >/dev/null
export GOLDGATE_ETCD_ENDPOINTS=$endpoints GOLDGATE_ETCD_CA=$pki/ca.pem GOLDGATE_ETCD_CERT=$pki/admin.pem GOLDGATE_ETCD_KEY=$pki/admin-key.pem \
  GOLDGATE_ETCD_USER=goldgate-admin GOLDGATE_ETCD_PASSWORD_FILE=$pki/goldgate-admin.password

start_agent() {
  local h=$1
  mkdir -p "$work/$h"
  cat > "$work/$h/fleet.yaml" <<YAML
host: $h
etcd: {endpoints: [${endpoints//,/, }], ca: $pki/ca.pem, cert: $pki/host-$h.pem, key: $pki/host-$h-key.pem,
       user: host-$h, password_file: $pki/host-$h.password, timeout_ms: 2000}
trust: {keys: [$work/admin.key.pub], threshold: 1}
state_dir: $work/$h/state
lease_ttl_s: 4
report_interval_ms: 500
alerts: {file: $work/$h/alerts.jsonl}
YAML
  "$bin/fleet/goldgate-fleet" -c "$work/$h/fleet.yaml" >> "$work/$h/agent.log" 2>&1 &
  declare -g "apid_$h=$!"
  pids+=($!)
}
for h in h1 h2 h3; do start_agent "$h"; done

# A policy folder.
mkdir -p "$work/policy/segments"
cat > "$work/policy/segments/app.yaml" <<'YAML'
segments:
  - {name: web, members: {vms: [web1]}}
  - {name: db, members: {vms: [db1]}}
rules:
  - {name: web-to-db, from: web, to: db, proto: tcp, ports: 5432, action: allow}
YAML
applied() {  # version: every host reports it applied, and its last-known-good holds it
  local v=$1 h
  $ctl fleet status --json > "$work/status.json" 2>/dev/null || return 1
  for h in h1 h2 h3; do
    /usr/bin/python3 - "$work/status.json" "$h" "$v" <<'PY' || return 1
import json, sys
text, d, i, found = open(sys.argv[1]).read(), json.JSONDecoder(), 0, {}
while i < len(text):
    if text[i].isspace(): i += 1; continue
    o, i = d.raw_decode(text, i); found[o["host"]] = o
h = found.get(sys.argv[2], {})
sys.exit(0 if str(h.get("applied_version", 0)) == sys.argv[3] else 1)
PY
    [ "$(readlink "$work/$h/state/current")" = "versions/$v" ] || return 1
  done
}
expect "goldgatectl fleet push publishes version 1" $ctl fleet push "$work/policy" --key "$work/admin.key" -m first
expect "... and every host applies it (fleet status, and each host's last-known-good)" until_ok 30 applied 1
expect "... its files are in each host's last-known-good" cmp "$work/policy/segments/app.yaml" "$work/h2/state/current/segments/app.yaml"
echo "  - {name: web-dns, from: web, to: db, proto: udp, ports: 53, action: allow}" >> "$work/policy/segments/app.yaml"
$ctl fleet diff "$work/policy" > "$work/diff.txt" 2>&1
expect "fleet diff names the changed file" grep -q "changed  segments/app.yaml" "$work/diff.txt"
expect "a second push (version 2) reaches every host" bash -c "$ctl fleet push $work/policy --key $work/admin.key -m dns >/dev/null"
expect "... every host on version 2" until_ok 30 applied 2

# Bundles written straight into etcd with the admin's etcd credentials but without its signing key.
bkey() { printf '/goldgate/policy/bundles/%020d' "$1"; }
refused_everywhere() {  # version: each host alerted its refusal, and stays on version 2
  local h
  for h in h1 h2 h3; do
    grep -q "\"kind\":\"fleet.bundle_refused\".*bundles/$(printf '%020d' "$1")" "$work/$h/alerts.jsonl" 2>/dev/null || return 1
    [ "$(readlink "$work/$h/state/current")" = "versions/2" ] || return 1
  done
}
v2=$(etcdctl_as admin get "$(bkey 2)" --print-value-only)
# 3: signed by a stranger's key.
/usr/bin/python3 - "$v2" "$work/stranger.key" "$ctl" > "$work/v3.json" <<'PY'
import base64, json, subprocess, sys, tempfile
env = json.loads(sys.argv[1]); b = json.loads(base64.b64decode(env["payload"])); b["version"] = "3"
p = json.dumps(b).encode()
# goldgatectl signs manifests only: a stranger's signature is made with openssl over DSSE's PAE.
t = "application/vnd.goldgate.policy-bundle+json"
pae = b"DSSEv1 %d %s %d " % (len(t), t.encode(), len(p)) + p
f = tempfile.NamedTemporaryFile(delete=False); f.write(pae); f.close()
sig = subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", sys.argv[2], "-rawin", "-in", f.name], capture_output=True, check=True).stdout
print(json.dumps({"payloadType": t, "payload": base64.b64encode(p).decode(), "signatures": [{"keyid": "", "sig": base64.b64encode(sig).decode()}]}))
PY
etcdctl_as admin put "$(bkey 3)" "$(cat "$work/v3.json")" >/dev/null
expect "a bundle signed by a key the hosts do not trust is refused and alerted by every host" until_ok 30 refused_everywhere 3
# 4: version 2's signed envelope with one byte of its payload changed.
/usr/bin/python3 - "$v2" > "$work/v4.json" <<'PY'
import base64, json, sys
env = json.loads(sys.argv[1]); p = base64.b64decode(env["payload"]).replace(b'"dns"', b'"dnZ"')
env["payload"] = base64.b64encode(p).decode(); print(json.dumps(env))
PY
etcdctl_as admin put "$(bkey 4)" "$(cat "$work/v4.json")" >/dev/null
expect "a tampered bundle is refused and alerted by every host" until_ok 30 refused_everywhere 4
# 5: version 1, validly signed, written again under a newer key: a rollback.
etcdctl_as admin put "$(bkey 5)" "$(etcdctl_as admin get "$(bkey 1)" --print-value-only)" >/dev/null
expect "a rolled-back bundle is refused and alerted by every host" until_ok 30 refused_everywhere 5
expect "the refusals name their reasons (unknown-key, tampered)" \
  bash -c "grep -q 'unknown-key' '$work/h1/alerts.jsonl' && grep -q 'tampered' '$work/h1/alerts.jsonl'"

# What a host's credentials may do.
expect_not() { local what=$1; shift; if "$@"; then bad "$what"; else ok "$what"; fi; }
expect_not "host h1's credentials cannot write the policy prefix" etcdctl_as host-h1 put "$(bkey 99)" x
expect_not "... nor host h2's status" etcdctl_as host-h1 put /goldgate/hosts/h2/status x
expect "... but may write its own keys" etcdctl_as host-h1 put /goldgate/hosts/h1/probe x

# All of etcd away: the hosts keep enforcing; a host restarted meanwhile starts on its last-known-good.
for m in "${members[@]}"; do kill "${mpid[$m]}"; wait "${mpid[$m]}" 2>/dev/null; done
unreachable_said() { grep -q '"kind":"fleet.store_unreachable"' "$work/h1/alerts.jsonl"; }
expect "with etcd stopped, a host says the store is unreachable" until_ok 30 unreachable_said
kill "$apid_h3"; wait "$apid_h3" 2>/dev/null
start_agent h3
starts_on_lkg() { grep -q "starting on the last-known-good, version 2" "$work/h3/agent.log"; }
expect "a host restarted while etcd is down starts on its last-known-good (version 2)" until_ok 20 starts_on_lkg
expect "... and every host still holds version 2" bash -c "for h in h1 h2 h3; do [ \"\$(readlink $work/\$h/state/current)\" = versions/2 ] || exit 1; done"
for m in "${members[@]}"; do start_member "$m" existing; done
expect "etcd is back" until_ok 60 healthy
echo "  - {name: web-ntp, from: web, to: db, proto: udp, ports: 123, action: allow}" >> "$work/policy/segments/app.yaml"
expect "a push after etcd returned (version 6) is taken by every host" bash -c "$ctl fleet push $work/policy --key $work/admin.key >/dev/null"
expect "... every host on version 6" until_ok 60 applied 6

# The leader killed during a push: the push goes to another member, every host converges.
leader=$(etcdctl_as root endpoint status --cluster -w json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)
for e in s:
    if e["Status"]["leader"] == e["Status"]["header"]["member_id"]:
        print(e["Endpoint"].rsplit(":", 1)[1])')
for m in "${members[@]}"; do [ "${cport[$m]}" = "$leader" ] && lm=$m; done
echo "  - {name: web-smtp, from: web, to: db, proto: tcp, ports: 25, action: allow}" >> "$work/policy/segments/app.yaml"
kill "${mpid[$lm]}"
pushed() { $ctl fleet push "$work/policy" --key "$work/admin.key" -m "leader gone" >/dev/null 2>&1; }
expect "a push while the leader ($lm) is killed succeeds through another member" until_ok 60 pushed
expect "... and every host converges on version 7" until_ok 60 applied 7
$ctl fleet history > "$work/history.txt"
expect "fleet history lists the versions with their signer" grep -q "^7 .*$(openssl pkey -pubin -in "$work/admin.key.pub" -outform DER 2>/dev/null | tail -c 32 | sha256sum | cut -c1-8)" "$work/history.txt"

echo
echo "e2e fleet: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
