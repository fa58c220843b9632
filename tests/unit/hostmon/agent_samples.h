// Captured-style guest agent replies and probe-script output (a busybox guest: qemu-ga, dropbear
// and an application under uid 1000), shared by the parser and collector tests.
#pragma once

#include <openssl/evp.h>

#include <initializer_list>
#include <string>
#include <tuple>

namespace goldgate::test {

inline constexpr const char* kNonce = "abcdefgh12345678";

inline const std::string kOsInfoReply =
    R"j({"return": {"name": "Debian GNU/Linux", "kernel-release": "6.1.0-28-cloud-amd64", "version": "12 (bookworm)",)j"
    R"j( "pretty-name": "Debian GNU/Linux 12 (bookworm)", "version-id": "12",)j"
    R"j( "kernel-version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)", "machine": "x86_64", "id": "debian"}})j";

inline const std::string kInterfacesReply =
    R"j({"return": [{"name": "lo", "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": "127.0.0.1", "prefix": 8},)j"
    R"j( {"ip-address-type": "ipv6", "ip-address": "::1", "prefix": 128}], "statistics": {"tx-packets": 0},)j"
    R"j( "hardware-address": "00:00:00:00:00:00"}, {"name": "eth0", "ip-addresses": [{"ip-address-type": "ipv4",)j"
    R"j( "ip-address": "10.0.0.5", "prefix": 24}, {"ip-address-type": "ipv6", "ip-address": "fe80::5054:ff:feab:cd01",)j"
    R"j( "prefix": 64}], "hardware-address": "52:54:00:AB:CD:01"}]})j";

inline std::string hash64(char c) { return std::string(64, c); }

// A /proc/PID/cmdline: each argument followed by a NUL.
inline std::string cmdline(std::initializer_list<std::string> args) {
  std::string s;
  for (const auto& a : args) s += a + '\0';
  return s;
}

// What the probe script prints in the guest (section markers with kNonce; the script is pid 412,
// its grep 414; ls of pid 413 is gone by the time /proc/*/status is read).
inline std::string probeOutput() {
  const std::string m = std::string("@@gg-") + kNonce + " ";
  std::string s;
  s += m + "self\n412\n";
  s += m + "exe\n";
  s += "lrwxrwxrwx    1 root     root             0 Nov 26 21:00 /proc/1/exe -> /bin/busybox\n";
  s += "lrwxrwxrwx    1 root     root             0 Nov 26 21:00 /proc/2/exe\n";
  s += "lrwxrwxrwx    1 root     root             0 Nov 26 21:00 /proc/380/exe -> /usr/sbin/qemu-ga\n";
  s += "lrwxrwxrwx    1 root     root             0 Nov 26 21:00 /proc/395/exe -> /usr/sbin/dropbear\n";
  s += "lrwxrwxrwx    1 app      app              0 Nov 26 21:00 /proc/401/exe -> /tmp/my app (deleted)\n";
  s += "lrwxrwxrwx    1 root     root             0 Nov 26 21:00 /proc/412/exe -> /bin/busybox\n";
  s += "lrwxrwxrwx    1 root     root             0 Nov 26 21:00 /proc/413/exe -> /bin/busybox\n";
  s += m + "status\n";
  for (auto [pid, name, ppid, uid] : {std::tuple{1, "init", 0, 0},
                                      {2, "kthreadd", 0, 0},
                                      {380, "qemu-ga", 1, 0},
                                      {395, "dropbear", 1, 0},
                                      {401, "my app", 395, 1000},
                                      {412, "sh", 380, 0},
                                      {414, "grep", 412, 0}}) {
    std::string p = "/proc/" + std::to_string(pid) + "/status:";
    s += p + "Name:\t" + name + "\n";
    s += p + "PPid:\t" + std::to_string(ppid) + "\n";
    s += p + "Uid:\t" + std::to_string(uid) + "\t" + std::to_string(uid) + "\t" + std::to_string(uid) + "\t" +
         std::to_string(uid) + "\n";
  }
  s += m + "cmdline\n";
  s += "==> /proc/1/cmdline <==\n";
  s += cmdline({"/bin/busybox", "sh", "/init"});
  s += "\n==> /proc/2/cmdline <==\n";
  s += "\n==> /proc/380/cmdline <==\n";
  s += cmdline({"/usr/sbin/qemu-ga", "-m", "virtio-serial"});
  s += "\n==> /proc/395/cmdline <==\n";
  s += cmdline({"dropbear", "-F", "-p", "22"});
  s += "\n==> /proc/401/cmdline <==\n";
  s += cmdline({"/tmp/my app", "--listen", "127.0.0.1:8080"});
  s += "\n==> /proc/412/cmdline <==\n";
  s += cmdline({"/bin/sh", "-c", "m=@@gg-; t=abcdefgh12345678\ns() { echo \"$m$t $1\"; }\n"});
  s += "\n";
  s += m + "fd\n";
  s += "/proc/1/fd/:\n/proc/380/fd/:\n/proc/395/fd/:\n";
  s += "lrwx------    1 root     root            64 Nov 26 21:00 3 -> socket:[9001]\n";
  s += "/proc/401/fd/:\n";
  s += "lrwx------    1 app      app             64 Nov 26 21:00 4 -> socket:[9002]\n";
  s += m + "files\n";
  const char* hdr = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";
  s += std::string("/proc/net/tcp:") + hdr + "\n";
  s +=
      "/proc/net/tcp:   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 9001 1 "
      "0000000000000000 100 0 0 10 0\n";
  s +=
      "/proc/net/tcp:   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 9002 1 "
      "0000000000000000 100 0 0 10 0\n";
  s +=
      "/proc/net/tcp:   2: 0500000A:0016 0100000A:C350 01 00000000:00000000 02:000AF0B5 00000000     0        0 9010 4 "
      "0000000000000000 20 4 31 10 -1\n";
  s += std::string("/proc/net/tcp6:") + hdr + "\n";
  s += "/proc/net/tcp6:   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A "
       "00000000:00000000 00:00000000 00000000     0        0 9003 1 0000000000000000 100 0 0 10 0\n";
  s += "/proc/net/tcp6:   1: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A "
       "00000000:00000000 00:00000000 00000000     0        0 9005 1 0000000000000000 100 0 0 10 0\n";
  s += "/proc/net/udp:   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
       "inode ref pointer drops\n";
  s += "/proc/net/udp:  123: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 9004 "
       "2 "
       "0000000000000000 0\n";
  s += "/proc/net/udp6:   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
       "inode ref pointer drops\n";
  s += "/proc/modules:virtio_net 61440 0 - Live 0x0000000000000000\n";
  s += "/proc/modules:failover 12288 1 net_failover, Live 0x0000000000000000 (OE)\n";
  s += "/proc/cmdline:console=ttyS0 nokaslr gg.ip=10.0.0.5/24\n";
  s += "/etc/passwd:root:x:0:0:root:/root:/bin/sh\n";
  s += "/etc/passwd:app:x:1000:1000::/home/app:/bin/sh\n";
  s += m + "sha256\n";
  s += hash64('a') + "  /proc/1/exe\n";
  s += hash64('b') + "  /proc/380/exe\n";
  s += hash64('c') + "  /proc/395/exe\n";
  s += hash64('d') + "  /proc/401/exe\n";
  s += m + "end\n";
  return s;
}

inline std::string base64(const std::string& raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

inline std::string execStatusReply(bool exited, const std::string& out = {}) {
  if (!exited) return R"j({"return": {"exited": false}})j";
  return R"j({"return": {"exitcode": 0, "out-data": ")j" + base64(out) + R"j(", "exited": true}})j";
}

}  // namespace goldgate::test
