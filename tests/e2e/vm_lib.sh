# Real guests under a private libvirtd with the QEMU driver (TCG), for the VM end-to-end tier.
#
# libvirtd runs as root inside a private mount namespace (held open by a `sleep` started with
# `unshare --mount --propagation private`), where its fixed paths are bind mounts over folders of
# the test's work dir:
#
#   /etc/libvirt        WORK/etc      generated libvirtd.conf and qemu.conf
#   /run/libvirt        WORK/run      sockets, domain status, QEMU pid files
#   /var/lib/libvirt    WORK/lib      agent channel sockets, domain definitions
#   /var/cache/libvirt  CACHE         QEMU capability cache (default WORK/cache; see vm_init)
#   /var/log/libvirt    WORK/log      per-domain QEMU logs
#
# so the host's own libvirt configuration and state are never touched, and clients outside the
# namespace connect with $VM_URI (qemu:///system?socket=WORK/run/libvirt-sock). QEMU processes are
# children of that libvirtd, in the same namespace; they outlive a libvirtd restart, as in
# production.
#
# Source this file, then: vm_init WORK GUEST_DIR; vm_libvirtd_start; vm_start NAME ...;
# vm_wait_agent NAME; vm_exec NAME 'command'; ...; vm_cleanup (also installed as an EXIT trap by
# vm_init, chained after any trap already set).

VM_WORK=""
VM_GUEST=""
VM_BIN=""          # the build folder (vm_prelude)
VM_CACHE=""
VM_URI=""
VM_NS_PID=""        # the process holding the private mount namespace
VM_LIBVIRTD_PID=""
VM_LIBVIRTD_READY_S=""   # seconds the last vm_libvirtd_start took
# Mount points this library creates on the host are shared by every test using it at the same
# time, and removing one unmounts it in every namespace that has it mounted (a concurrent test's
# libvirtd would lose /var/lib/libvirt mid-run). So each user holds a shared lock on VM_LOCK while
# its namespace lives; whoever ends last (gets the lock exclusively) removes the folders any of
# them created, listed in VM_LOCK.made.
VM_LOCK=/run/goldgate-test-vm.lock
VM_LOCK_FD=""
VM_DOMAINS=()

# vm_skip_reason: prints why real VMs cannot run here and returns 1, or returns 0 if they can.
vm_skip_reason() {
  local c
  [ "$(id -u)" -eq 0 ] || { echo "needs root (runs libvirtd and QEMU; uid $(id -u))"; return 1; }
  for c in libvirtd virsh qemu-system-x86_64 unshare nsenter flock python3 apt-get dpkg cpio; do
    command -v "$c" >/dev/null || { echo "$c not installed (scripts/install-deps.sh test)"; return 1; }
  done
  [ -e /usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so ] ||
    { echo "libvirt's QEMU driver is not installed (libvirt-daemon-driver-qemu)"; return 1; }
  unshare --mount --propagation private true 2>/dev/null ||
    { echo "cannot create a mount namespace (unshare --mount)"; return 1; }
  return 0
}

# vm_prelude BIN_DIR: the start of a real-VM script. Exits 77 with the reason where VMs cannot
# run here, 1 when a binary is missing or the guest cannot be built; sets `guest` to the folder of
# the built agent guest.
vm_prelude() {
  local reason b here_lib
  if ! reason=$(vm_skip_reason); then echo "SKIP: $reason"; exit 77; fi
  for b in dataplane/goldgate-switch hostmon/goldgate-hostmon cli/goldgatectl; do
    [ -x "$1/$b" ] || { echo "FAIL: $1/$b not built"; exit 1; }
  done
  here_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  VM_BIN=$1
  guest="$1/guest"
  "$here_lib/guest/build-guest.sh" "$guest" agent || { echo "FAIL: could not build the agent guest"; exit 1; }
}

# until_ok SECONDS COMMAND...: for the VM tiers, SECONDS × 4 tries 0.25 s apart (replacing lib.sh's
# wall-clock form): a guest command under TCG can take seconds, and each still gets its tries.
until_ok() { local n=$(($1 * 4)); shift; for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.25; done; return 1; }

# stop_pid PID: ends a background process (empty: nothing) and reaps it; one that does not end
# within 5 s of SIGTERM (a hung daemon, which would keep the VM tier's lock) gets SIGKILL.
stop_pid() {
  [ -n "$1" ] && kill "$1" 2>/dev/null || return 0
  local i
  for i in $(seq 1 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$1" 2>/dev/null
  wait "$1" 2>/dev/null
  return 0
}

# vm_init WORK GUEST_DIR [CACHE_DIR]: sets the paths; GUEST_DIR holds vmlinuz and initrd-agent.gz
# (tests/e2e/guest/build-guest.sh GUEST_DIR agent). CACHE_DIR (default WORK/cache) becomes
# /var/cache/libvirt: libvirt's QEMU capability cache, checked by libvirt against QEMU's binary and
# libvirt's version, so a folder kept between runs spares the ~8 s probe at every first start.
vm_init() {
  VM_WORK=$1
  VM_GUEST=$2
  VM_CACHE=${3:-$1/cache}
  VM_URI="qemu:///system?socket=$VM_WORK/run/libvirt-sock"
  mkdir -p "$VM_WORK"/{etc,run,lib,log,console} "$VM_CACHE"
  chmod 755 "$VM_WORK"
  local old
  old=$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\1/")
  # shellcheck disable=SC2064
  trap "vm_cleanup; $old" EXIT
}

# vm_since T0: seconds (one decimal) since T0, an $EPOCHREALTIME value.
vm_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

vm_virsh() { virsh -q -c "$VM_URI" "$@"; }

# Runs a command inside the private mount namespace.
vm_in_ns() { nsenter --mount="/proc/$VM_NS_PID/ns/mnt" -- "$@"; }

vm_write_config() {
  cat > "$VM_WORK/etc/libvirtd.conf" <<EOF
# Test libvirtd (tests/e2e/vm_lib.sh): local socket only, warnings and errors to the log file.
auth_unix_rw = "none"
auth_unix_ro = "none"
log_level = 3
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
EOF
  cat > "$VM_WORK/etc/qemu.conf" <<EOF
# Test QEMU driver (tests/e2e/vm_lib.sh), on a throwaway host: QEMU runs as root with no security
# driver and no ownership changes (files stay as they are; nothing to restore), no per-VM /dev
# namespace, no cgroups (no systemd here), and QEMU's stdout/serial files are written directly
# (no virtlogd to start and keep alive).
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = [ ]
cgroup_controllers = [ ]
stdio_handler = "file"
EOF
  # The QEMU driver resolves its compiled-in user and group (libvirt-qemu, from Debian's
  # libvirt-daemon-system) at start, before reading qemu.conf's user = "root". Rather than create
  # a user on the host, the namespace sees copies of passwd and group that include it.
  cp /etc/passwd "$VM_WORK/etc/passwd"
  cp /etc/group "$VM_WORK/etc/group"
  getent passwd libvirt-qemu >/dev/null ||
    echo "libvirt-qemu:x:64055:64055:libvirt-qemu (test namespace only):/var/lib/libvirt:/usr/sbin/nologin" >> "$VM_WORK/etc/passwd"
  getent group libvirt-qemu >/dev/null || echo "libvirt-qemu:x:64055:" >> "$VM_WORK/etc/group"
  getent group kvm >/dev/null || echo "kvm:x:64056:" >> "$VM_WORK/etc/group"
}

# Creates the namespace and its bind mounts (once per test).
vm_namespace_up() {
  [ -n "$VM_NS_PID" ] && kill -0 "$VM_NS_PID" 2>/dev/null && return 0
  local d
  if [ -z "$VM_LOCK_FD" ]; then
    exec {VM_LOCK_FD}>>"$VM_LOCK"
    flock -s "$VM_LOCK_FD"
  fi
  # A bind mount needs a mount point; Debian's libvirt-daemon (without -system) ships none of these.
  for d in /etc/libvirt /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt; do
    if [ ! -d "$d" ]; then mkdir -p "$d" && echo "$d" >> "$VM_LOCK.made"; fi
  done
  unshare --mount --propagation private sleep infinity &
  VM_NS_PID=$!
  # Wait until the sleep runs in its own namespace.
  for _ in $(seq 1 50); do
    [ "$(readlink "/proc/$VM_NS_PID/ns/mnt" 2>/dev/null)" != "$(readlink /proc/self/ns/mnt)" ] && break
    sleep 0.05
  done
  vm_in_ns sh -e -c "
    mount --bind '$VM_WORK/etc' /etc/libvirt
    mount --bind '$VM_WORK/run' /run/libvirt
    mount --bind '$VM_WORK/lib' /var/lib/libvirt
    mount --bind '$VM_CACHE' /var/cache/libvirt
    mount --bind '$VM_WORK/log' /var/log/libvirt
    mount --bind '$VM_WORK/etc/passwd' /etc/passwd
    mount --bind '$VM_WORK/etc/group' /etc/group"
}

# vm_libvirtd_start [TIMEOUT_S]: starts libvirtd and waits until the QEMU driver answers
# (the first start probes QEMU's capabilities, about 8 s here). Returns 1 on timeout.
vm_libvirtd_start() {
  local timeout=${1:-60} t0=$EPOCHREALTIME i
  [ -s "$VM_WORK/etc/qemu.conf" ] || vm_write_config
  vm_namespace_up || return 1
  rm -f "$VM_WORK/run/libvirt-sock"
  # nsenter itself (not the vm_in_ns function, which would fork a subshell): $! is libvirtd's pid.
  nsenter --mount="/proc/$VM_NS_PID/ns/mnt" -- libvirtd --pid-file "$VM_WORK/libvirtd.pid" \
    >> "$VM_WORK/libvirtd.out" 2>&1 &
  VM_LIBVIRTD_PID=$!
  for i in $(seq 1 $((timeout * 4))); do
    if vm_virsh version 2>/dev/null | grep -q 'hypervisor: QEMU'; then
      VM_LIBVIRTD_READY_S=$(vm_since "$t0")
      return 0
    fi
    kill -0 "$VM_LIBVIRTD_PID" 2>/dev/null || break
    sleep 0.25
  done
  echo "libvirtd did not come up within ${timeout}s:"
  tail -20 "$VM_WORK/libvirtd.out" "$VM_WORK/log/libvirtd.log" 2>/dev/null
  return 1
}

vm_libvirtd_stop() {
  [ -n "$VM_LIBVIRTD_PID" ] || return 0
  kill "$VM_LIBVIRTD_PID" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$VM_LIBVIRTD_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$VM_LIBVIRTD_PID" 2>/dev/null
  wait "$VM_LIBVIRTD_PID" 2>/dev/null
  VM_LIBVIRTD_PID=""
}

vm_libvirtd_restart() { vm_libvirtd_stop; vm_libvirtd_start "$@"; }

# vm_domain_xml NAME MAC SOCKET IP APP SEGMENT: the domain XML on stdout, its Goldgate metadata
# binding IP (without its prefix length) to the NIC (anti-spoofing from host truth). Direct kernel boot of the
# agent guest; 256 MiB of shared memfd memory (vhost-user maps it; no hugepages); the vNIC is the
# vhost-user server (the switch connects as client=1 and reconnects after a restart); the agent
# channel; serial console into WORK/console/NAME.log.
# Kernel arguments: KASLR stays on (hostmon finds the kernel through its page tables); pci=nomsi
# (QEMU 7.2 under TCG crashes when a guest enables MSI-X on a vhost-user NIC).
vm_domain_xml() {
  local name=$1 mac=$2 sock=$3 ip=$4 app=$5 segment=$6
  cat <<EOF
<domain type='qemu'>
  <name>$name</name>
  <metadata>
    <gg:vm xmlns:gg="https://goldgate.dev/xmlns/vm/1">
      <gg:app>$app</gg:app>
      <gg:segment>$segment</gg:segment>
      <gg:address mac='$mac'>${ip%/*}</gg:address>
    </gg:vm>
  </metadata>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <memoryBacking>
    <source type='memfd'/>
    <access mode='shared'/>
  </memoryBacking>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>$VM_GUEST/vmlinuz</kernel>
    <initrd>$VM_GUEST/initrd-agent.gz</initrd>
    <cmdline>console=ttyS0 quiet pci=nomsi panic=-1 gg.name=$name gg.ip=$ip</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <interface type='vhostuser'>
      <mac address='$mac'/>
      <source type='unix' path='$sock' mode='server'/>
      <model type='virtio'/>
      <rom enabled='no'/>
    </interface>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <serial type='file'>
      <source path='$VM_WORK/console/$name.log'/>
      <target port='0'/>
    </serial>
    <controller type='usb' model='none'/>
    <!-- spare PCIe slots, so that a NIC can be hot-plugged -->
    <controller type='pci' index='0' model='pcie-root'/>
    <controller type='pci' index='8' model='pcie-root-port'/>
    <controller type='pci' index='9' model='pcie-root-port'/>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}

# vm_write_switch_config DIR [EXTRA_PORT]: DIR/goldgate.yaml and DIR/segments/app.yaml for guests
# web1 and db1 on vhost-user ports vm-web1 and vm-db1 (client mode; QEMU is the server and may come
# later), plus an optional spare port EXTRA_PORT (socket DIR/web1b.sock). Which VM is on which port,
# and in which segment, is not written here: goldgate-hostmon tells the switch (identity: hostmon),
# from the VMs' own metadata (gg:segment frontend / backend). Needs lib.sh (gg_switch_base).
vm_write_switch_config() {
  local dir=$1 extra=${2:-}
  mkdir -p "$dir/segments"
  { gg_switch_base "$dir"; cat <<YAML; } > "$dir/goldgate.yaml"
ports:
  - {name: vm-web1, devargs: "net_vhost0,iface=$dir/web1.sock,client=1", identity: hostmon}
  - {name: vm-db1, devargs: "net_vhost1,iface=$dir/db1.sock,client=1", identity: hostmon}
YAML
  [ -n "$extra" ] && echo "  - {name: $extra, devargs: \"net_vhost2,iface=$dir/web1b.sock,client=1\", identity: hostmon}" >> "$dir/goldgate.yaml"
  cat > "$dir/segments/app.yaml" <<'YAML'
segments:
  - {name: frontend, members: {labels: {app: shop}}}
  - {name: backend, members: {vms: [db1]}}
rules:
  - {name: web-to-db, from: frontend, to: backend, proto: tcp, ports: 8080, action: allow}
  - {name: web-ping-db, from: frontend, to: backend, proto: icmp, action: allow}
YAML
}

# vm_write_hostmon_config DIR AGENT_MS MEMORY_MS: DIR/hostmon.yaml for the private libvirtd
# ($VM_URI), pushing identities to DIR's switch (never the default /run/goldgate/switch.sock, which
# may be a real switch on this host), alerts to DIR/hostmon-alerts.jsonl.
vm_write_hostmon_config() {
  # The guest kernel's profile, built from the package's own vmlinuz, for memory introspection.
  mkdir -p "$1/profiles"
  "$VM_BIN/cli/goldgatectl" kernel-profile build "$VM_GUEST/vmlinuz" -o "$1/profiles" >/dev/null ||
    { echo "FAIL: goldgatectl kernel-profile build $VM_GUEST/vmlinuz"; return 1; }
  cat > "$1/hostmon.yaml" <<YAML
libvirt:
  uri: $VM_URI
  reconnect: {min_ms: 100, max_ms: 1000}
  keepalive: {interval_s: 1, count: 3}
control:
  socket: $1/hostmon.sock
switch: {push: true, socket: $1/switch.sock, interval_ms: 500}
collect: {agent_interval_ms: $2, memory_interval_ms: $3, kernel_profiles: $1/profiles}
metrics: {listen: "127.0.0.1:0"}
alerts: {file: $1/hostmon-alerts.jsonl, window_ms: 0}
YAML
}

# vm_start NAME MAC SOCKET IP APP SEGMENT: defines the domain and starts it (in the background:
# QEMU waits for the vhost-user client before it runs the guest). Returns at once.
vm_start() {
  local name=$1
  vm_domain_xml "$@" > "$VM_WORK/$name.xml"
  vm_virsh define "$VM_WORK/$name.xml" > /dev/null || return 1
  VM_DOMAINS+=("$name")
  vm_virsh start "$name" > "$VM_WORK/$name.start.log" 2>&1 &
}

# vm_agent NAME JSON: one guest-agent command; prints the reply (JSON). Fails if the agent does
# not answer within 5 s.
vm_agent() { vm_virsh qemu-agent-command "$1" --timeout 5 "$2" 2>/dev/null; }

vm_agent_ping() { vm_agent "$1" '{"execute":"guest-ping"}' > /dev/null; }

# vm_wait_agent NAME [TIMEOUT_S]: waits until the guest agent answers. Returns 1 on timeout.
vm_wait_agent() {
  local name=$1 timeout=${2:-90} deadline
  deadline=$(($(date +%s) + timeout))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    vm_agent_ping "$name" && return 0
    sleep 0.5
  done
  return 1
}

# vm_exec NAME 'SHELL COMMAND' [TIMEOUT_S]: runs the command in the guest (/bin/sh -c) through
# guest-exec; prints its standard output (standard error to ours) and returns its exit code
# (124 if it did not end within the timeout, 125 if the agent refused it).
vm_exec() {
  local name=$1 cmd=$2 timeout=${3:-20} req reply pid deadline st
  req=$(python3 -c 'import json,sys; print(json.dumps({"execute":"guest-exec","arguments":{
    "path":"/bin/sh","arg":["-c",sys.argv[1]],"capture-output":True}}))' "$cmd")
  reply=$(vm_agent "$name" "$req") || return 125
  pid=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["return"]["pid"])' <<<"$reply") || return 125
  deadline=$(($(date +%s) + timeout))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    st=$(vm_agent "$name" "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":$pid}}") || return 125
    if python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["return"]["exited"] else 1)' <<<"$st"; then
      python3 -c '
import base64, json, sys
r = json.load(sys.stdin)["return"]
sys.stdout.write(base64.b64decode(r.get("out-data", "")).decode(errors="replace"))
sys.stderr.write(base64.b64decode(r.get("err-data", "")).decode(errors="replace"))
sys.exit(r.get("exitcode", 128 + r.get("signal", 0)))' <<<"$st"
      return
    fi
    sleep 0.2
  done
  return 124
}

# vm_qemu_pid NAME: the QEMU process of a running domain (from libvirt's pid file).
vm_qemu_pid() { cat "$VM_WORK/run/qemu/$1.pid" 2>/dev/null; }

# Destroys and undefines the domains, stops libvirtd, ends the namespace (its mounts go with it)
# and, if no other test is using them, removes the mount points created on the host. Safe to call
# twice.
vm_cleanup() {
  local d pid
  for d in "${VM_DOMAINS[@]}"; do
    if [ -n "$VM_LIBVIRTD_PID" ]; then
      timeout 10 virsh -q -c "$VM_URI" destroy "$d" >/dev/null 2>&1
      timeout 10 virsh -q -c "$VM_URI" undefine "$d" >/dev/null 2>&1
    fi
    # libvirtd gone (or the destroy failed): QEMU by its pid file.
    pid=$(vm_qemu_pid "$d")
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  done
  VM_DOMAINS=()
  vm_libvirtd_stop
  if [ -n "$VM_NS_PID" ]; then
    kill "$VM_NS_PID" 2>/dev/null
    wait "$VM_NS_PID" 2>/dev/null
    VM_NS_PID=""
  fi
  if [ -n "$VM_LOCK_FD" ]; then
    if flock -x -n "$VM_LOCK_FD"; then
      if [ -f "$VM_LOCK.made" ]; then
        while read -r d; do rmdir "$d" 2>/dev/null; done < "$VM_LOCK.made"
        rm -f "$VM_LOCK.made"
      fi
    fi
    exec {VM_LOCK_FD}>&-
    VM_LOCK_FD=""
  fi
}
