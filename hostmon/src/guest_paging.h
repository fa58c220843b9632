// Guest-virtual memory through the guest's own page tables: x86-64 4-level and 5-level paging,
// 4 KiB, 2 MiB and 1 GiB pages, over a reader of guest-physical memory (MemoryPeekFn). The first
// piece of reading the guest kernel's data structures from outside the guest (KASLR on, nothing in
// the guest). The tables are the guest's, so every entry is untrusted: a walk is a fixed number of
// reads, every table and page address is checked against the top of guest RAM, reserved bits are
// refused, and nothing follows an entry a second time.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "collector.h"

namespace goldgate::hostmon {

enum class PagingLevels : uint8_t { k4 = 4, k5 = 5 };

/// Where a guest-virtual address lives.
struct Translation {
  uint64_t phys = 0;        // guest-physical address of the byte
  uint64_t page_size = 0;   // 4 KiB, 2 MiB or 1 GiB
  bool writable = false;    // every level allows writes
  bool user = false;        // every level allows user mode
  bool no_execute = false;  // some level forbids execution
};

/// Translates `va` through the tables rooted at `root` (CR3: its address bits are used, the rest
/// ignored). `ramTop`: the first guest-physical address past guest RAM; a table or page at or past
/// it is refused. Errors: kNotFound: `va` is not mapped (the message names the level whose entry
/// is not present); kInvalidArgument: a non-canonical address, a reserved bit (a large page where
/// none may be), or an address past `ramTop`; the peek's error when a table cannot be read. Any
/// thread; `peek` is called at most five times.
Result<Translation> translate(const MemoryPeekFn& peek, uint64_t root, uint64_t va, PagingLevels levels,
                              uint64_t ramTop);

/// Reads guest-virtual memory page by page through translate(), with a small cache of the last
/// translations (a software TLB): walkers that follow the kernel's lists read many small fields of
/// few pages. One owner at a time (not thread-safe).
class GuestVirtualMemory {
 public:
  GuestVirtualMemory(MemoryPeekFn peek, uint64_t root, PagingLevels levels, uint64_t ramTop);

  /// `len` bytes at `va` into `out`, crossing pages as the mapping says. Errors as translate()'s
  /// (for the first page that fails), or the peek's.
  Result<void> read(uint64_t va, size_t len, uint8_t* out);
  /// The translation of `va` (through the cache).
  Result<Translation> translate(uint64_t va);
  /// A little-endian 64-bit value at `va`.
  Result<uint64_t> read64(uint64_t va);
  /// Translations made (TLB misses) and physical reads, for the benchmark.
  uint64_t walks() const { return walks_; }
  uint64_t physicalReads() const { return reads_; }
  /// Forgets cached translations (the guest may have changed its tables between passes).
  void flush();

 private:
  Result<Translation> lookup(uint64_t va);

  MemoryPeekFn peek_;
  uint64_t root_;
  PagingLevels levels_;
  uint64_t ram_top_;
  struct Entry {
    uint64_t vpage = ~uint64_t{0};  // va with the page offset cleared; ~0: empty
    Translation t;
  };
  std::array<Entry, 64> tlb_{};
  uint64_t walks_ = 0, reads_ = 0;
};

/// Where the guest's kernel image is, found from its page tables alone (no symbol, no boot option).
struct KernelImage {
  uint64_t text = 0;       // virtual start of the kernel's text (_text; KASLR moves it in 2 MiB steps)
  uint64_t text_end = 0;   // end of the executable pages that follow it
  uint64_t text_phys = 0;  // guest-physical address of `text`
  uint64_t banner = 0;     // virtual address of "Linux version …" in the read-only data after it (0: none)
  std::string banner_text;
};

/// The kernel-image region x86-64 Linux maps its kernel in (__START_KERNEL_map, 1 GiB).
inline constexpr uint64_t kKernelMapStart = 0xffffffff80000000ull;
inline constexpr uint64_t kKernelMapEnd = 0xffffffffc0000000ull;

/// Finds the kernel image in `mem` (a kernel root): the first mapped 2 MiB step of the kernel-image
/// region is _text (the kernel unmaps the region outside its image), text runs while pages stay
/// executable, and the banner is looked for in the first `bannerSearch` bytes after it. Errors:
/// kNotFound: nothing is mapped in the region (a user-only root, or not a Linux kernel); kNotFound
/// for the banner is not an error (banner stays 0). At most 512 translations to find it, 64 MiB of
/// text pages, and the search.
Result<KernelImage> locateKernel(GuestVirtualMemory& mem, uint64_t bannerSearch = 32ull << 20);

/// The control registers of a vCPU, as QEMU's monitor prints them (`info registers`, HMP): where
/// the hypervisor learns the guest's paging root and mode without the guest's help.
struct VcpuRegisters {
  uint64_t cr0 = 0, cr3 = 0, cr4 = 0, efer = 0;
  bool has_idt = false;  // the IDTR was printed ("IDT=     BASE LIMIT")
  uint64_t idt_base = 0;
  uint32_t idt_limit = 0;
  /// 64-bit paging is on: CR0.PG and EFER.LMA.
  bool longMode() const { return (cr0 >> 31 & 1) && (efer >> 10 & 1); }
  /// 5-level paging (CR4.LA57) or 4-level.
  PagingLevels levels() const { return (cr4 >> 12 & 1) ? PagingLevels::k5 : PagingLevels::k4; }
};

/// Reads CR0, CR3, CR4 and EFER from the output of `info registers` (the first vCPU in it), and the
/// IDTR when it is there. Errors: kParse, naming the register that is missing or not hexadecimal.
Result<VcpuRegisters> parseInfoRegisters(std::string_view text);

/// The tables a kernel address is translated through, from a vCPU's CR3 at any moment: CR3 as it
/// is, then (page-table isolation: a vCPU in user mode runs on the user half of an 8 KiB pair
/// whose kernel half is the first page) CR3 without bit 12. The caller tries them in order.
std::array<uint64_t, 2> kernelRootCandidates(uint64_t cr3);

}  // namespace goldgate::hostmon
