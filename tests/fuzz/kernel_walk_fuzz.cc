// libFuzzer target: the kernel walker over a guest kernel the guest controls. A synthetic kernel
// (tests/unit/hostmon/synthetic_kernel.h: task list with executables, module list and kobjects,
// system-call table, IDT, text) is built, then the input overwrites words of its memory (any
// pointer, length, name, list link), as a hostile guest may. Holds: the walk ends, no crash or
// sanitizer report, the lists stay within their bounds, and cross-view over two such passes ends.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cross_view.h"
#include "synthetic_kernel.h"

using namespace goldgate::hostmon;
using namespace goldgate::hostmon::synthetic;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Kernel k;
  const uint64_t init = k.addTask(1, "init", "/sbin/init");
  k.addTask(2, "kthreadd", "");
  const uint64_t sh = k.addTask(30, "sh", "/bin/busybox", init, 0);
  k.addTask(31, "app", "/usr/local/bin/app", sh, 1000);
  k.addModule("virtio_net");
  k.addModule("hidden", false, true);
  // The pages the structures live on, in a fixed order: the input picks one, an offset and a value.
  std::vector<uint64_t> pages;
  for (const auto& [va, p] : k.mem.pages) pages.push_back(va);
  for (size_t at = 0; at + 11 <= size; at += 11) {
    const uint64_t page = pages[data[at] % pages.size()];
    uint16_t off;
    std::memcpy(&off, data + at + 1, 2);
    uint64_t v;
    std::memcpy(&v, data + at + 3, 8);
    // A value near a real pointer is more interesting than a random one: low bits pick the mode.
    if ((off & 0x8000) != 0) v = page + (v & 0xfff);
    k.mem.put64(page + (off & 0xff8), v);
  }
  WalkLimits lim;
  lim.max_tasks = 64;
  lim.max_modules = 16;
  lim.hash_text = size % 2 == 0;
  uint64_t reads = 0;
  auto inner = k.mem.reader();
  const VirtualReadFn read = [&](uint64_t va, size_t n, uint8_t* out) {
    if (++reads > 200000) std::abort();  // a walk that does not end
    return inner(va, n, out);
  };
  auto w = walkKernel(read, k.target(), lim);
  if (!w) return 0;
  if (w->processes.size() > lim.max_tasks || w->modules.size() > lim.max_modules) std::abort();
  MemoryView v;
  v.processes = w->processes;
  v.modules = w->modules;
  CrossViewHistory h;
  auto a = memorySnapshot(v, 0, 10), b = memorySnapshot(v, 1000, 1010);
  (void)crossView(h, &a, nullptr, 1);
  (void)crossView(h, &b, nullptr, 2);
  return 0;
}
