#!/usr/bin/env bash
# Installs the Debian 12 packages Goldgate builds and tests with. Idempotent: a package
# that is already installed is not touched, and nothing runs when everything is present.
# Usage: scripts/install-deps.sh [build|test|bench]   (default: test)
set -euo pipefail

profile=${1:-test}

build_pkgs=(
  build-essential cmake pkg-config ninja-build
  libdpdk-dev dpdk libipsec-mb-dev
  libssl-dev libhyperscan-dev libvirt-dev libxml2-dev nlohmann-json3-dev
  libprotobuf-dev protobuf-compiler
  libyaml-cpp-dev libcli11-dev libpcap-dev librdkafka-dev zlib1g-dev libbrotli-dev
  liblz4-dev libbpf-dev liblzma-dev prometheus-cpp-dev libcurl4-openssl-dev
  catch2 clang libclang-rt-14-dev clang-format
  debhelper bash-completion
)
test_pkgs=(
  python3 python3-scapy python3-yaml iproute2 ethtool iputils-ping netcat-openbsd iperf3 curl procps dpdk-dev
  qemu-system-x86 busybox-static cpio rsyslog rsyslog-openssl openssl libvirt-daemon
  libvirt-daemon-driver-qemu libvirt-clients
  zip brotli python3-openpyxl python3-docx python3-reportlab prometheus
  lintian systemd etcd-server etcd-client
)
bench_pkgs=(
  python3-matplotlib openvswitch-switch-dpdk
)

want=("${build_pkgs[@]}")
case "$profile" in
  build) ;;
  test) want+=("${test_pkgs[@]}") ;;
  bench) want+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  *) echo "install-deps.sh: unknown profile '$profile' (build|test|bench)" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: missing packages: ${missing[*]}; run as root (or install them) first" >&2
  exit 1
fi

echo "install-deps.sh: installing ${#missing[@]} package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists once if they were never fetched or are older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -mmin -1440 2>/dev/null | head -1)" ]; then
  apt-get update -q
fi
apt-get install -y -q --no-install-recommends "${missing[@]}"
