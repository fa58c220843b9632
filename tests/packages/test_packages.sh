#!/usr/bin/env bash
# Package tier: the Debian packages that `make deb` built, on this machine.
#   1. lintian: no error or warning (the overrides in debian/*.lintian-overrides say why each is there);
#   2. apt-get install ./*.deb pulls their dependencies; conffiles, man pages, completion, units in place;
#   3. systemd-analyze verify passes on the installed units (systemd need not be running);
#   4. the installed switch runs the demo topology (/usr/share/goldgate/examples/demo, copied to
#      /etc/goldgate) with the unit's own ExecStartPre and ExecStart command lines, confined as the unit
#      confines it (its capability bounding set and no-new-privileges through setpriv, and a read-only
#      file system but for the unit's state folders, in a mount namespace): real ping and TCP between
#      namespaces, allowed and refused, a quarantine written to /var/lib/goldgate, an alert in
#      /var/log/goldgate, a reload by the unit's ExecReload; the installed hostmon answers goldgatectl;
#   5. apt-get purge leaves nothing behind: no file of the packages' lists, nothing in /etc/goldgate,
#      /var/lib/goldgate, /var/log/goldgate, /var/cache/goldgate, /usr/share/goldgate, /usr/lib/goldgate.
# The packages are purged on exit, and the namespaces removed, whatever happened.
# Usage: tests/packages/test_packages.sh [DEB_DIR]   (default: build-deb/packages; build them with make deb)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
debdir=$(cd "${1:-$root/build-deb/packages}" && pwd)
pkgs=(goldgate goldgate-switch goldgate-hostmon goldgate-ctl)
units=(goldgate-switch.service goldgate-hostmon.service goldgate.target)
unitdir=/lib/systemd/system
export DEBIAN_FRONTEND=noninteractive

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: installing packages and network namespaces need root (running as uid $(id -u))"
  exit 77
fi

step() { printf '== packages: %s\n' "$*"; }
fail() { echo "FAIL: $*"; exit 1; }
pass() { echo "PASS $*"; }
# until_ok SECONDS CMD...: runs CMD until it succeeds or SECONDS have passed.
until_ok() { local end=$((SECONDS + $1)); shift; until "$@"; do [ "$SECONDS" -ge "$end" ] && return 1; sleep 0.1; done; }

work=$(mktemp -d /tmp/goldgate-packages.XXXXXX)
switch_pid="" hostmon_pid=""
demo=/usr/share/goldgate/examples/demo

installed() { dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qv '^not-installed$'; }
purge_all() {
  local present=() p
  for p in "${pkgs[@]}"; do installed "$p" && present+=("$p"); done
  [ ${#present[@]} -eq 0 ] || apt-get purge -y -q "${present[@]}" >"$work/purge.log" 2>&1
}
cleanup() {
  local rc=$?
  set +e
  for pid in $switch_pid $hostmon_pid; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  [ -n "${hp_before:-}" ] && echo "$hp_before" > /proc/sys/vm/nr_hugepages
  [ -x "$demo/topology.sh" ] && "$demo/topology.sh" down
  if [ $rc -ne 0 ]; then
    echo "-- switch log:"; tail -20 "$work/switch.log" 2>/dev/null
    if [ -e "${marker:-/nonexistent}" ]; then
      if purge_all; then rm -f "$marker"; else cat "$work/purge.log"; fi
    fi
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT

mapfile -t debs < <(find "$debdir" -maxdepth 1 -name 'goldgate*.deb' ! -name '*-dbgsym_*' | sort)
[ ${#debs[@]} -eq ${#pkgs[@]} ] || fail "$debdir holds ${#debs[@]} packages, not ${#pkgs[@]} (run make deb)"

step "lintian on ${debs[*]##*/}"
# Errors and warnings fail; the informational tags are printed for the record.
lint=0
lintian --fail-on error,warning --display-info "${debs[@]}" >"$work/lintian.log" 2>&1 || lint=$?
grep -v '^running with root' "$work/lintian.log" || true
[ "$lint" -eq 0 ] || fail "lintian reports errors or warnings (above), exit code $lint"
pass "lintian: no error or warning"

step "install with apt-get (dependencies from the archive)"
# The test replaces /etc/goldgate and purges what it installed: packages it did not install are
# left alone. The marker says the packages are this test's (an interrupted run leaves it).
marker=/var/lib/goldgate-package-test.installed
for p in "${pkgs[@]}"; do
  if installed "$p"; then
    [ -e "$marker" ] || fail "$p is installed on this machine, not by this test: the test would overwrite /etc/goldgate and purge it; purge it first (apt-get purge ${pkgs[*]})"
    echo "  $p is installed by an interrupted run of this test: purging it first"
    purge_all
    break
  fi
done
touch "$marker"
apt-get install -y -q --no-install-recommends "${debs[@]}" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "apt-get install"; }
for p in "${pkgs[@]}"; do
  installed "$p" || fail "$p is not installed"
  dpkg -L "$p" > "$work/$p.list"
done
pass "apt-get install ./goldgate*.deb"
conffiles=$(dpkg-query -W -f='${Conffiles}\n' goldgate-switch goldgate-hostmon | awk '{print $1}')
for f in /etc/goldgate/goldgate.yaml /etc/goldgate/hostmon.yaml /etc/goldgate/segments/shop.yaml \
         /etc/goldgate/datapolicy/payment-card.yaml; do
  grep -qxF "$f" <<<"$conffiles" || fail "$f is not a conffile"
done
pass "the configuration in /etc/goldgate is conffiles"
for f in /usr/sbin/goldgate-switch /usr/sbin/goldgate-hostmon /usr/bin/goldgatectl /usr/lib/goldgate/goldgate-hugepages \
         /usr/share/bash-completion/completions/goldgatectl "$unitdir/goldgate-switch.service" \
         "$unitdir/goldgate-hostmon.service" "$unitdir/goldgate.target"; do
  [ -e "$f" ] || fail "$f is missing"
done
for m in goldgate-switch.8 goldgate-hostmon.8 goldgatectl.1; do
  [ -e "/usr/share/man/man${m##*.}/$m.gz" ] || fail "man page $m is missing"
done
pass "programs, helper, units, man pages and bash completion in place"
# The shipped configurations are valid as installed.
/usr/sbin/goldgate-switch --check -c /etc/goldgate/goldgate.yaml >/dev/null || fail "goldgate-switch --check on /etc/goldgate/goldgate.yaml"
/usr/sbin/goldgate-hostmon --check -c /etc/goldgate/hostmon.yaml >/dev/null || fail "goldgate-hostmon --check on /etc/goldgate/hostmon.yaml"
pass "the installed configurations pass --check"

step "systemd-analyze verify ${units[*]}"
# With no systemd running, systemd-analyze loads the units on its own. Documentation= man: links are
# checked when man is installed; After=libvirtd.service needs no libvirtd (an ordering only).
man_opt=--man=yes
command -v man >/dev/null || { man_opt=--man=no; echo "  (man is not installed: the man: links are not checked)"; }
if ! (cd "$unitdir" && systemd-analyze verify "$man_opt" "${units[@]}") >"$work/verify.log" 2>&1 || [ -s "$work/verify.log" ]; then
  cat "$work/verify.log"; fail "systemd-analyze verify"
fi
pass "systemd-analyze verify: no complaint"

# unit_value UNIT KEY: the value of KEY= in the installed unit (the last one wins, as in systemd).
unit_value() { sed -n "s/^$2=//p" "$unitdir/$1" | tail -1; }

# confined UNIT CMD...: runs CMD as UNIT would: its CapabilityBoundingSet and NoNewPrivileges through
# setpriv, and (ProtectSystem=strict) a read-only file system but for /dev, /proc, /sys and the unit's
# StateDirectory, LogsDirectory, CacheDirectory and RuntimeDirectory, in a mount namespace of its own.
confined() {
  local unit=$1; shift
  local caps="" c rw=() d key
  for c in $(unit_value "$unit" CapabilityBoundingSet); do caps+=",+${c#CAP_}"; done
  caps=${caps,,}
  [ "$(unit_value "$unit" NoNewPrivileges)" = yes ] || fail "$unit: NoNewPrivileges=yes expected"
  [ "$(unit_value "$unit" ProtectSystem)" = strict ] || fail "$unit: ProtectSystem=strict expected"
  for key in StateDirectory:/var/lib LogsDirectory:/var/log CacheDirectory:/var/cache RuntimeDirectory:/run; do
    for d in $(unit_value "$unit" "${key%%:*}"); do rw+=("${key#*:}/$d"); done
  done
  mkdir -p "${rw[@]}"
  # exec: the command keeps this process's id (the unit's $MAINPID), through unshare and setpriv.
  # shellcheck disable=SC2016
  exec unshare --mount --propagation private -- bash -c '
    for d in "${@:2:$1}"; do mount --bind "$d" "$d"; done
    mount -o remount,bind,ro /
    shift $(($1 + 1))
    exec "$@"' confine "${#rw[@]}" "${rw[@]}" \
    setpriv --bounding-set "-all$caps" --inh-caps=-all --no-new-privs -- "$@"
}

step "the switch on the demo topology, from /etc/goldgate, with the unit's own command lines"
"$demo/topology.sh" up
cp "$demo/goldgate.yaml" /etc/goldgate/goldgate.yaml
cp "$demo/segments/shop.yaml" /etc/goldgate/segments/shop.yaml
pre=$(unit_value goldgate-switch.service ExecStartPre)
start=$(unit_value goldgate-switch.service ExecStart)
reload=$(unit_value goldgate-switch.service ExecReload)
echo "  ExecStartPre=$pre"
echo "  ExecStart=$start"
# '+': the helper runs with full privileges, as systemd runs it.
read -r -a pre_argv <<<"${pre#+}"
"${pre_argv[@]}" >"$work/hugepages.log" 2>&1 || { cat "$work/hugepages.log"; fail "ExecStartPre"; }
grep -q 'without hugepages' "$work/hugepages.log" || { cat "$work/hugepages.log"; fail "the helper did not see --no-huge"; }
pass "ExecStartPre: the hugepages helper respects --no-huge"
read -r -a start_argv <<<"$start"
ctl=/usr/bin/goldgatectl
t0=$EPOCHREALTIME
confined goldgate-switch.service "${start_argv[@]}" >"$work/switch.log" 2>&1 &
switch_pid=$!
switch_up() { kill -0 "$switch_pid" 2>/dev/null || fail "the switch exited: $(cat "$work/switch.log")"; $ctl status >/dev/null 2>&1; }
until_ok 30 switch_up || fail "the switch did not answer goldgatectl status within 30 s"
t1=$EPOCHREALTIME
start_ms=$(( (${t1/./} - ${t0/./}) / 1000 ))
pass "the installed switch answers goldgatectl status ($start_ms ms after ExecStart; data classes compiled or cached)"
$ctl status >"$work/status.txt" || fail "goldgatectl status"
for p in web1 web2 db1 uplink; do grep -qw "$p" "$work/status.txt" || fail "port $p not in goldgatectl status"; done

in_ns() { local ns=$1; shift; ip netns exec "gd-$ns" "$@"; }
in_ns db1 nc -lk 5432 >/dev/null 2>&1 &
in_ns db1 nc -lk 22 >/dev/null 2>&1 &
until_ok 10 in_ns db1 sh -c 'ss -ltn | grep -q ":5432 "' || fail "nc did not listen in gd-db1"
until_ok 10 in_ns web1 ping -c 1 -W 1 10.0.0.2 >/dev/null || fail "web1 -> db1 ping (web-ping-db)"
pass "ping web1 -> db1 passes (web-ping-db)"
in_ns web1 nc -z -w 2 10.0.0.2 5432 || fail "web1 -> db1:5432 (web-to-db)"
pass "TCP web1 -> db1:5432 passes (web-to-db)"
! in_ns web1 nc -z -w 2 10.0.0.2 22 || fail "web1 -> db1:22 passed: it has no rule"
pass "TCP web1 -> db1:22 refused (default deny)"
! in_ns db1 ping -c 1 -W 1 10.0.0.1 >/dev/null || fail "db1 -> web1 ping passed: it has no rule"
pass "ping db1 -> web1 refused (default deny)"

$ctl quarantine web2 >/dev/null || fail "goldgatectl quarantine web2"
grep -qw web2 /var/lib/goldgate/quarantine || fail "the quarantine was not written to /var/lib/goldgate/quarantine"
! in_ns web2 nc -z -w 2 10.0.0.2 5432 || fail "web2 in quarantine reached db1:5432"
$ctl release web2 >/dev/null || fail "goldgatectl release web2"
# Asked until it connects: one attempt right after the release failed once in `make test` (why is
# not known yet; the release is in force when goldgatectl returns). A release that does not work
# still fails here, after 10 s.
until_ok 10 in_ns web2 nc -z -w 2 10.0.0.2 5432 || fail "web2 released did not reach db1:5432 within 10 s"
pass "quarantine of web2 kept in /var/lib/goldgate (writable under the read-only file system)"

printf 'rules:\n  - {name: web-ssh-db, from: web, to: db, proto: tcp, ports: 22, action: allow}\n' > /etc/goldgate/segments/zz-ssh.yaml
read -r -a reload_argv <<<"${reload//\$MAINPID/$switch_pid}"
echo "  ExecReload=$reload"
"${reload_argv[@]}" || fail "ExecReload"
until_ok 10 in_ns web1 nc -z -w 1 10.0.0.2 22 || fail "web1 -> db1:22 still refused after the reload"
pass "ExecReload (SIGHUP) applied a new rule"
rm /etc/goldgate/segments/zz-ssh.yaml

# The refusals above are alerted (default deny logs), aggregated over the demo's 2 s window.
until_ok 10 test -s /var/log/goldgate/alerts.jsonl || fail "no alert in /var/log/goldgate/alerts.jsonl"
pass "alerts written to /var/log/goldgate/alerts.jsonl"
kill -TERM "$switch_pid"
rc=0; wait "$switch_pid" || rc=$?
switch_pid=""
[ "$rc" -eq 0 ] || fail "the switch exited $rc on SIGTERM"
pass "the switch stops on SIGTERM with exit code 0"

step "the switch with hugepages: reserved by the unit's ExecStartPre, taken by DPDK under the unit's confinement"
# The demo with 256 MB of hugepages instead of --no-huge (--in-memory: DPDK takes them without
# files in a mount). The pages the helper adds are given back afterwards.
hp_before=$(cat /proc/sys/vm/nr_hugepages)
restore_hugepages() { echo "$hp_before" > /proc/sys/vm/nr_hugepages; }
sed -i 's/^eal: .*/eal: [-l, "0", -m, "256", --in-memory, --no-pci, --no-telemetry, --log-level, "*:warning"]/' /etc/goldgate/goldgate.yaml
if ! "${pre_argv[@]}" >"$work/hugepages.log" 2>&1; then
  cat "$work/hugepages.log"
  restore_hugepages
  grep -q 'the kernel gave' "$work/hugepages.log" || fail "ExecStartPre with hugepages"
  echo "  SKIP: this kernel could not give 128 hugepages now (above); the hugepages run is left out"
else
  sed 's/^/  /' "$work/hugepages.log"
  free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
  [ "$free" -ge 128 ] || { restore_hugepages; fail "the helper left $free free hugepages, 128 asked for"; }
  confined goldgate-switch.service "${start_argv[@]}" >"$work/switch.log" 2>&1 &
  switch_pid=$!
  until_ok 30 switch_up || { restore_hugepages; fail "the switch on hugepages did not answer goldgatectl status within 30 s"; }
  until_ok 10 in_ns web1 ping -c 1 -W 1 10.0.0.2 >/dev/null || { restore_hugepages; fail "web1 -> db1 ping on hugepages"; }
  used=$(( free - $(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo) ))
  kill -TERM "$switch_pid"; wait "$switch_pid" || true
  switch_pid=""
  restore_hugepages
  [ "$used" -gt 0 ] || fail "the switch took no hugepages"
  pass "the switch runs on hugepages ($used pages of 2 MB taken) with the unit's capabilities"
fi

step "hostmon from /etc/goldgate with the unit's own command line"
read -r -a hm_argv <<<"$(unit_value goldgate-hostmon.service ExecStart)"
confined goldgate-hostmon.service "${hm_argv[@]}" >"$work/hostmon.log" 2>&1 &
hostmon_pid=$!
hostmon_up() { kill -0 "$hostmon_pid" 2>/dev/null || fail "hostmon exited: $(cat "$work/hostmon.log")"; $ctl vms >/dev/null 2>&1; }
until_ok 30 hostmon_up || fail "hostmon did not answer goldgatectl vms within 30 s"
pass "the installed hostmon answers goldgatectl vms (libvirtd need not run)"
hm_reload=$(unit_value goldgate-hostmon.service ExecReload)
read -r -a hm_reload_argv <<<"${hm_reload//\$MAINPID/$hostmon_pid}"
echo "  ExecReload=$hm_reload"
"${hm_reload_argv[@]}" || fail "hostmon's ExecReload"
hm_reloaded() { grep -q "reload: manifests read again" "$work/hostmon.log"; }
until_ok 10 hm_reloaded || fail "hostmon did not say it read its manifests again after ExecReload: $(cat "$work/hostmon.log")"
kill -0 "$hostmon_pid" 2>/dev/null || fail "hostmon exited on its ExecReload"
pass "hostmon reads its manifests again on the unit's ExecReload (SIGHUP) and keeps running"
kill -TERM "$hostmon_pid"; wait "$hostmon_pid" || true
hostmon_pid=""

step "apt-get purge"
"$demo/topology.sh" down
apt-get purge -y -q "${pkgs[@]}" >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "apt-get purge"; }
left=()
for p in "${pkgs[@]}"; do
  installed "$p" && fail "$p is still known to dpkg after purge"
  while read -r f; do
    # Folders shared with other packages (/etc, /usr/share/doc, ...) stay; Goldgate's own must go.
    if [ -d "$f" ]; then
      [[ $f == *goldgate* ]] && left+=("$f")
    elif [ -e "$f" ] || [ -L "$f" ]; then
      left+=("$f")
    fi
  done < "$work/$p.list"
done
for d in /etc/goldgate /var/lib/goldgate /var/log/goldgate /var/cache/goldgate /usr/share/goldgate /usr/lib/goldgate /run/goldgate; do
  [ -e "$d" ] && mapfile -t -O "${#left[@]}" left < <(find "$d")
done
mapfile -t -O "${#left[@]}" left < <(find /etc/systemd/system -name '*goldgate*' 2>/dev/null)
if [ ${#left[@]} -gt 0 ]; then
  printf '  left behind: %s\n' "${left[@]}"
  fail "apt-get purge left files behind"
fi
pass "apt-get purge leaves nothing behind (configuration, state, logs, cache, units' links)"
rm -f "$marker"
echo "== packages: every check passed (switch start: $start_ms ms)"
