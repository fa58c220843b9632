// libFuzzer target: guest page-table translation over guest memory the input is (the guest writes
// its tables): a root, addresses and a small RAM image, with 4- and 5-level walks and reads across
// pages. Holds: no crash or sanitizer report, a walk reads at most five entries, a translation
// lands inside guest RAM, a read never returns bytes from outside it. The same input as the
// monitor's `info registers` text: a result or an error. The kernel locator over the same memory:
// bounded, its text range inside the kernel-image region.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "guest_paging.h"

using namespace goldgate::hostmon;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)parseInfoRegisters(std::string_view(reinterpret_cast<const char*>(data), size));
  if (size < 32) return 0;
  uint64_t root, va, va2;
  std::memcpy(&root, data, 8);
  std::memcpy(&va, data + 8, 8);
  std::memcpy(&va2, data + 16, 8);
  const PagingLevels levels = data[24] & 1 ? PagingLevels::k5 : PagingLevels::k4;
  const size_t readLen = data[25] * 37u;
  // Guest RAM: the rest of the input, repeated to fill 1 MiB (so that tables find entries).
  const uint8_t* ram = data + 32;
  const size_t ramLen = size - 32;
  constexpr uint64_t kRamTop = 1u << 20;
  root %= kRamTop;
  uint64_t peeks = 0;
  const MemoryPeekFn peek = [&](uint64_t a, size_t n, uint8_t* out) -> goldgate::Result<void> {
    ++peeks;
    if (a > kRamTop || n > kRamTop - a) std::abort();  // the walker checked the address first
    for (size_t i = 0; i < n; ++i) out[i] = ramLen ? ram[(a + i) % ramLen] : 0;
    return {};
  };
  for (uint64_t v : {va, va2}) {
    peeks = 0;
    auto t = translate(peek, root, v, levels, kRamTop);
    if (peeks > 5) std::abort();
    if (t && t->phys >= kRamTop) std::abort();
  }
  GuestVirtualMemory mem(peek, root, levels, kRamTop);
  uint8_t buf[256 * 37];
  (void)mem.read(va, readLen, buf);
  (void)mem.read64(va2);
  // The kernel locator over the same memory: bounded whatever the tables map.
  auto k = locateKernel(mem, 64u << 10);
  if (k && (k->text < kKernelMapStart || k->text_end < k->text || k->text_end - k->text > (64u << 20))) std::abort();
  return 0;
}
