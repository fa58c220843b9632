// goldgate-bench-memview: the cost of one memory introspection pass of a running VM, through the
// fast path (process_vm_readv on the QEMU process) and through virDomainMemoryPeek, in the same
// run on the same guest: wall time and CPU of the polling thread per pass, reads and bytes, and the
// raw read rate of each path over the same guest-physical range. Used by bench/memview.sh.
// Correctness, every run: every pass reads the same kernel (profile, text hash) and lists
// processes; a pass that fails fails the benchmark.
// Usage: goldgate-bench-memview URI VM PROFILES_DIR [PASSES]   (one JSON object on stdout)
#include <libvirt/libvirt.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "libvirt_guest_access.h"
#include "memory_collector.h"

using namespace goldgate::hostmon;

namespace {

double threadCpuMs() {
  rusage r{};
  getrusage(RUSAGE_THREAD, &r);
  return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e3 + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e3;
}

double nowMs() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct Passes {
  std::vector<double> wall, cpu;
  uint64_t reads = 0, bytes = 0;
  size_t processes = 0, modules = 0;
  std::string text, access;
};

// `n` full passes (processes, modules, tables, text hash) with `access`; exits on a failed pass.
Passes run(const CollectTarget& vm, const GuestAccess& access, const std::string& profiles, int n) {
  MemoryCollectorOptions o;
  o.profiles_dir = profiles;
  o.budget_ms = 600000;  // no deadline: the slow path's pass is measured whole
  MemoryPeekCollector c(o);
  Passes p;
  for (int i = 0; i < n; ++i) {
    const double w0 = nowMs(), c0 = threadCpuMs();
    CollectResult r = c.collect(vm, access, GuestState{});
    const double c1 = threadCpuMs(), w1 = nowMs();
    if (r.failed || !r.memory || r.memory->profile.empty() || r.memory->processes.empty()) {
      std::fprintf(stderr, "memview bench: pass %d over %s failed: %s\n", i, access.peek_method.c_str(),
                   r.status.c_str());
      std::exit(1);
    }
    if (!p.text.empty() && p.text != r.memory->text_sha256) {
      std::fprintf(stderr, "memview bench: the kernel text hash changed between passes\n");
      std::exit(1);
    }
    p.text = r.memory->text_sha256;
    p.wall.push_back(w1 - w0);
    p.cpu.push_back(c1 - c0);
    p.reads = r.memory->reads;
    p.bytes = r.memory->bytes;
    p.processes = r.memory->processes.size();
    p.modules = r.memory->modules.size();
    p.access = r.memory->access;
  }
  return p;
}

// MB/s reading [0, len) of guest-physical memory in 64 KiB pieces.
double readRate(const MemoryPeekFn& peek, uint64_t len) {
  std::vector<uint8_t> buf(64 << 10);
  const double t0 = nowMs();
  for (uint64_t at = 0; at < len; at += buf.size())
    if (!peek(at, buf.size(), buf.data())) {
      std::fprintf(stderr, "memview bench: a read at 0x%llx failed\n", static_cast<unsigned long long>(at));
      std::exit(1);
    }
  return len / 1e6 / ((nowMs() - t0) / 1e3);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: goldgate-bench-memview URI VM PROFILES_DIR [PASSES]\n");
    return 2;
  }
  const int passes = argc > 4 ? std::atoi(argv[4]) : 10;
  virConnectPtr conn = virConnectOpen(argv[1]);
  if (!conn) return 1;
  virDomainPtr dom = virDomainLookupByName(conn, argv[2]);
  if (!dom) return 1;
  char uuid[VIR_UUID_STRING_BUFLEN];
  virDomainGetUUIDString(dom, uuid);
  virDomainFree(dom);
  auto access = libvirtGuestAccess(conn, uuid);
  if (!access) {
    std::fprintf(stderr, "memview bench: %s\n", access.error().message.c_str());
    return 1;
  }
  if (access->peek_method != "process_vm_readv") {
    std::fprintf(stderr, "memview bench: no fast path: %s\n", access->peek_note.c_str());
    return 1;
  }
  CollectTarget vm;
  vm.uuid = uuid;
  vm.name = argv[2];
  Passes fast = run(vm, *access, argv[3], passes);
  GuestAccess slowAccess = *access;
  slowAccess.peek = access->slow_peek;
  slowAccess.peek_method = "virDomainMemoryPeek";
  Passes slow = run(vm, slowAccess, argv[3], std::max(3, passes / 3));
  if (slow.text != fast.text) {
    std::fprintf(stderr, "memview bench: the two paths read different kernel text\n");
    return 1;
  }
  constexpr uint64_t kRange = 32ull << 20;
  const double fastRate = readRate(access->peek, kRange), slowRate = readRate(access->slow_peek, kRange);
  std::printf(
      "{\"processes\": %zu, \"modules\": %zu, \"reads\": %llu, \"bytes\": %llu, \"fast_wall_ms\": %.2f, "
      "\"fast_cpu_ms\": %.2f, \"fast_wall_spread\": [%.2f, %.2f], \"fast_cpu_spread\": [%.2f, %.2f], "
      "\"slow_wall_ms\": %.2f, \"slow_cpu_ms\": %.2f, \"fast_mb_s\": %.1f, \"slow_mb_s\": %.1f, \"passes\": %d}\n",
      fast.processes, fast.modules, static_cast<unsigned long long>(fast.reads),
      static_cast<unsigned long long>(fast.bytes), median(fast.wall), median(fast.cpu),
      *std::min_element(fast.wall.begin(), fast.wall.end()), *std::max_element(fast.wall.begin(), fast.wall.end()),
      *std::min_element(fast.cpu.begin(), fast.cpu.end()), *std::max_element(fast.cpu.begin(), fast.cpu.end()),
      median(slow.wall), median(slow.cpu), fastRate, slowRate, passes);
  virConnectClose(conn);
  return 0;
}
