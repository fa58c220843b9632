#!/usr/bin/env bash
# Builds tiny test guests from Debian packages: the cloud kernel and a busybox initramfs.
#
#   checks (default)  OUT/initrd.gz: the virtio modules and tests/e2e/guest/init, which runs the
#                     checks named on the kernel command line, prints the results on the serial
#                     console and powers off (e2e_guest.sh);
#   agent             OUT/initrd-agent.gz: busybox init (tests/e2e/guest/agent/inittab) bringing up
#                     the network from the command line, qemu-guest-agent on its virtio-serial port
#                     and two listening "applications", all respawned (e2e_vms.sh, vm_lib.sh).
#
# Both use OUT/vmlinuz. Idempotent: an image newer than its inputs is reused; the downloaded
# packages are kept in OUT/debs.
# Usage: build-guest.sh OUT [checks|agent]
set -euo pipefail
out=$1
mode=${2:-checks}
here=$(cd "$(dirname "$0")" && pwd)
case "$mode" in
  checks) image="$out/initrd.gz"; inputs=("$here/init" "$0") ;;
  agent) image="$out/initrd-agent.gz"; inputs=("$here"/agent/* "$here"/rootkit/* "$0") ;;
  *) echo "build-guest: unknown mode '$mode' (checks|agent)" >&2; exit 2 ;;
esac
mkdir -p "$out/debs"
fresh=1
[ -s "$out/vmlinuz" ] && [ -s "$image" ] || fresh=0
for f in "${inputs[@]}"; do [ "$image" -nt "$f" ] || fresh=0; done
[ "$fresh" -eq 1 ] && exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt-get download writes into the current folder; the cache folder must be readable by _apt.
chmod 755 "$out/debs"

# download PACKAGE: OUT/debs/PACKAGE_*.deb, fetched once.
download() {
  local deb
  deb=$(ls "$out/debs/$1"_*.deb 2>/dev/null | head -1)
  if [ -z "$deb" ]; then
    (cd "$out/debs" && apt-get download "$1" >/dev/null 2>&1) || { echo "build-guest: apt-get download $1 failed" >&2; return 1; }
    deb=$(ls "$out/debs/$1"_*.deb | head -1)
  fi
  echo "$deb"
}

# The kernel: the package the cloud metapackage depends on (virtio as modules, boots fast).
resolve() { apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}'; }
pkg=$(resolve)
if [ -z "$pkg" ]; then apt-get update -q >/dev/null 2>&1; pkg=$(resolve); fi
[ -n "$pkg" ] || { echo "build-guest: cannot resolve linux-image-cloud-amd64 (apt-get update?)" >&2; exit 1; }
dpkg -x "$(download "$pkg")" "$work/kernel"
kver=$(ls "$work/kernel/lib/modules")
cp "$work/kernel/boot/vmlinuz-$kver" "$out/vmlinuz"

root="$work/root"
mkdir -p "$root"/{bin,sbin,lib/modules,proc,sys,dev,tmp,run,etc,usr/local/bin,usr/sbin,var}
cp /bin/busybox "$root/bin/busybox"
modules=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net)
[ "$mode" = agent ] && modules+=(virtio_console)
for m in "${modules[@]}"; do
  f=$(find "$work/kernel/lib/modules" -name "$m.ko*" | head -1)
  [ -n "$f" ] || { echo "build-guest: module $m not found in $pkg" >&2; exit 1; }
  cp "$f" "$root/lib/modules/"
done
# A module the agent guest has but does not load: a test loads it (insmod) to be seen from memory.
if [ "$mode" = agent ]; then
  mkdir -p "$root/lib/modules/extra"
  f=$(find "$work/kernel/lib/modules" -name "dummy.ko*" | head -1)
  [ -n "$f" ] || { echo "build-guest: module dummy not found in $pkg" >&2; exit 1; }
  cp "$f" "$root/lib/modules/extra/"
  # The test rootkit (rootkit/gg_rootkit.c), built against this kernel's own headers: Debian's
  # linux-headers-KVER matches the image exactly. Without them the guest has no rootkit, and the
  # tests that need it say so.
  hdr=/usr/src/linux-headers-$kver
  if [ ! -e "$hdr/Makefile" ] && [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "linux-headers-$kver" >"$work/headers.log" 2>&1 ||
      echo "build-guest: linux-headers-$kver could not be installed ($(tail -1 "$work/headers.log")): no test rootkit" >&2
  fi
  if [ -e "$hdr/Makefile" ]; then
    cp -r "$here/rootkit" "$work/rootkit"
    if make -s -C "$hdr" M="$work/rootkit" modules >"$work/rootkit.log" 2>&1; then
      cp "$work/rootkit/gg_rootkit.ko" "$root/lib/modules/extra/"
    else
      echo "build-guest: the test rootkit did not build against $hdr: no test rootkit" >&2
      tail -5 "$work/rootkit.log" >&2
    fi
  fi
fi
# The console exists before anything mounts devtmpfs (init's own output goes there).
mknod -m 600 "$root/dev/console" c 5 1
mknod -m 666 "$root/dev/null" c 1 3

if [ "$mode" = checks ]; then
  cp "$here/init" "$root/init"
  chmod +x "$root/init"
else
  # busybox init (argv[0] "init"), reading /etc/inittab; every applet as a link in /bin.
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  ln -sf bin/busybox "$root/init"
  ln -sf ../run "$root/var/run"
  cp "$here/agent/inittab" "$root/etc/inittab"
  install -m 755 "$here/agent/rcS" "$root/etc/rcS"
  install -m 755 "$here/agent/ga-run" "$here/agent/app-listen" "$here/agent/app-answer" "$root/usr/local/bin/"
  printf 'NAME="Goldgate test guest"\nID=goldgate-test\nVERSION_ID=1\nPRETTY_NAME="Goldgate test guest (busybox)"\n' \
    > "$root/etc/os-release"
  printf 'root:x:0:0:root:/:/bin/sh\n' > "$root/etc/passwd"
  printf 'root:x:0:\n' > "$root/etc/group"
  # The guest agent from Debian's package, with the shared libraries and loader it needs (the host
  # is Debian 12 too, so ldd on the unpacked binary names the same libraries the package wants).
  dpkg -x "$(download qemu-guest-agent)" "$work/qga"
  cp "$work/qga/usr/sbin/qemu-ga" "$root/usr/sbin/qemu-ga"
  libs=$(ldd "$work/qga/usr/sbin/qemu-ga") || { echo "build-guest: ldd qemu-ga failed" >&2; exit 1; }
  if grep -q 'not found' <<<"$libs"; then
    echo "build-guest: qemu-ga needs libraries this host lacks:" >&2; grep 'not found' <<<"$libs" >&2; exit 1
  fi
  for lib in $(awk '/=> \// {print $3} /^[ \t]*\/[^ ]*ld-linux/ {print $1}' <<<"$libs"); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
fi
(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$image.tmp"
mv "$image.tmp" "$image"
echo "build-guest: $out/vmlinuz ($kver) and $image ($(du -k "$image" | cut -f1) KiB)"
