#!/usr/bin/env bash
# Builds a tiny test guest from Debian packages: the cloud kernel and an initramfs of busybox,
# the virtio modules and an init script that runs the checks named on the kernel command line and
# prints the results on the serial console. Idempotent: reuses OUT/vmlinuz and OUT/initrd.gz.
# Usage: build-guest.sh OUT
set -euo pipefail
out=$1
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
if [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.gz" ] && [ "$out/initrd.gz" -nt "$here/init" ]; then exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
# The kernel: the package the cloud metapackage depends on (virtio as modules, boots fast).
resolve() { apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}'; }
pkg=$(resolve)
if [ -z "$pkg" ]; then apt-get update -q >/dev/null 2>&1; pkg=$(resolve); fi
[ -n "$pkg" ] || { echo "build-guest: cannot resolve linux-image-cloud-amd64 (apt-get update?)" >&2; exit 1; }
apt-get download "$pkg" >/dev/null 2>&1 || { echo "build-guest: apt-get download $pkg failed" >&2; exit 1; }
dpkg -x ./*.deb kernel
kver=$(ls kernel/lib/modules)
cp kernel/boot/vmlinuz-"$kver" "$out/vmlinuz"
mkdir -p root/bin root/lib/modules root/proc root/sys root/dev root/tmp
cp /bin/busybox root/bin/busybox
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net; do
  f=$(find kernel/lib/modules -name "$m.ko*" | head -1)
  [ -n "$f" ] || { echo "build-guest: module $m not found in $pkg" >&2; exit 1; }
  cp "$f" root/lib/modules/
done
cp "$here/init" root/init
chmod +x root/init
(cd root && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$out/initrd.gz"
echo "build-guest: $out/vmlinuz ($kver) and $out/initrd.gz"
