#!/usr/bin/env bash
# The kernel profile of the real guest kernel (Debian's 6.1 cloud kernel the VM tiers boot): built
# from the package's own vmlinuz with goldgatectl kernel-profile build, shown, read back; and the
# unit tests' real-kernel case run on it (it is skipped in the unit tier when the guest is not built
# yet). Usage: e2e_kernel_profile.sh BUILD_DIR     (exit 77 = skipped, with the reason)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "${1:-build}" && pwd)
source "$here/lib.sh"

for c in apt-get dpkg cpio; do
  command -v "$c" >/dev/null || { echo "SKIP: $c not installed (scripts/install-deps.sh test)"; exit 77; }
done
"$here/guest/build-guest.sh" "$bin/guest" agent || { echo "FAIL: could not build the agent guest"; exit 1; }
work=$(mktemp -d /tmp/gg-kprofile.XXXXXX)
trap 'rm -rf "$work"' EXIT
ctl="$bin/cli/goldgatectl"

expect "goldgatectl kernel-profile build reads the guest's vmlinuz" $ctl kernel-profile build "$bin/guest/vmlinuz" -o "$work"
profile=$(ls "$work"/*.json 2>/dev/null | head -1)
check() {
  python3 - "$profile" "$1" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
}
expect "it is named after the release and keyed by the exact banner" \
  check "p['banner'].startswith('Linux version ' + p['release'] + ' ') and sys.argv[1].endswith(p['release'] + '-' + sys.argv[1].rsplit('-', 1)[1])"
expect "its symbols: _text at the link address, sys_call_table and init_task in the image" \
  check "p['symbols']['_text'] == '0xffffffff81000000' and int(p['symbols']['_text'], 16) < int(p['symbols']['init_task'], 16) and int(p['symbols']['sys_call_table'], 16) > int(p['symbols']['_etext'], 16)"
expect "its layout from BTF: task_struct.comm inside task_struct, a 16-byte comm" \
  check "0 < p['members']['task_struct.comm'] < p['sizes']['task_struct'] and p['sizes']['task_struct.comm'] == 16"
expect "KASLR's text relocations and the jump-label sites are there; the system-call table is 300 to 1024 entries" \
  check "len(p['text_relocs32']) > 10000 and len(p['text_jump_sites']) > 1000 and 300 <= p['syscall_count'] <= 1024"
expect "goldgatectl kernel-profile show reads it back" bash -c "$ctl kernel-profile show '$work' | grep -q 'syscalls:'"
echo '{"format": 2, "banner": 7}' > "$work/broken.json"
refused() { ! $ctl kernel-profile show "$work" 2>"$work/err" && grep -q "broken.json" "$work/err"; }
expect "a broken profile in the folder is refused, naming the file" refused
rm -f "$work/broken.json"
real_unit() {
  GOLDGATE_VMLINUZ="$bin/guest/vmlinuz" "$bin/tests/unit_core_tests" "kernel_profile: the guest kernel's vmlinuz (Debian 6.1 cloud)" >"$work/unit.log" 2>&1 &&
    ! grep -q "not run" "$work/unit.log"
}
expect "the unit tests' real-kernel case passes on it (not skipped)" real_unit

echo
echo "e2e.kernel_profile: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
