#include "guest_paging.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace goldgate::hostmon {

namespace {

constexpr uint64_t kPresent = 1ull << 0;
constexpr uint64_t kWrite = 1ull << 1;
constexpr uint64_t kUser = 1ull << 2;
constexpr uint64_t kLarge = 1ull << 7;  // PS: a 1 GiB (PDPT) or 2 MiB (PD) page
constexpr uint64_t kNoExecute = 1ull << 63;
constexpr uint64_t kAddrMask = 0x000f'ffff'ffff'f000ull;  // bits 12..51: the next table or page

const char* levelName(int level) {
  switch (level) {
    case 5: return "PML5";
    case 4: return "PML4";
    case 3: return "PDPT";
    case 2: return "PD";
    default: return "PT";
  }
}

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

}  // namespace

Result<Translation> translate(const MemoryPeekFn& peek, uint64_t root, uint64_t va, PagingLevels levels,
                              uint64_t ramTop) {
  const int top = static_cast<int>(levels);
  // Canonical: the bits above the highest translated one all equal it.
  const int vaBits = top == 5 ? 57 : 48;
  const uint64_t upper = va >> (vaBits - 1);
  if (upper != 0 && upper != (~uint64_t{0} >> (vaBits - 1)))
    return makeError(Error::Code::kInvalidArgument, "guest-virtual " + hex(va) + " is not canonical");
  uint64_t table = root & kAddrMask;
  Translation t;
  t.writable = t.user = true;
  for (int level = top; level >= 1; --level) {
    if (table >= ramTop || table + 4096 > ramTop)
      return makeError(Error::Code::kInvalidArgument, std::string(levelName(level)) + " table at " + hex(table) +
                                                          " is past guest RAM (" + hex(ramTop) + ")");
    const unsigned index = static_cast<unsigned>((va >> (12 + 9 * (level - 1))) & 0x1ff);
    uint8_t raw[8];
    if (auto r = peek(table + index * 8ull, sizeof raw, raw); !r) return r.error();
    uint64_t e;
    std::memcpy(&e, raw, sizeof e);  // x86-64: little-endian, as the host
    if (!(e & kPresent))
      return makeError(Error::Code::kNotFound, "guest-virtual " + hex(va) + ": " + levelName(level) + " entry " +
                                                   std::to_string(index) + " not present");
    t.writable = t.writable && (e & kWrite);
    t.user = t.user && (e & kUser);
    t.no_execute = t.no_execute || (e & kNoExecute);
    const bool large = e & kLarge;
    if (large && level > 3)
      return makeError(Error::Code::kInvalidArgument, std::string(levelName(level)) + " entry " +
                                                          std::to_string(index) + " has the page-size bit (reserved)");
    if (level == 1 || large) {
      const uint64_t size = 1ull << (12 + 9 * (level - 1));
      const uint64_t base = e & kAddrMask & ~(size - 1);
      // A large page's frame must be aligned to its size: low address bits set are reserved (bit
      // 12 of a large entry is PAT, not an address bit).
      if (large && ((e & kAddrMask) & (size - 1) & ~0x1000ull))
        return makeError(Error::Code::kInvalidArgument, std::string(levelName(level)) + " entry " +
                                                            std::to_string(index) + " maps an unaligned large page");
      // The byte itself must be in guest RAM (a large page may reach past its end).
      const uint64_t phys = base | (va & (size - 1));
      if (phys >= ramTop)
        return makeError(Error::Code::kInvalidArgument, "guest-virtual " + hex(va) + " maps to " + hex(phys) +
                                                            ", past guest RAM (" + hex(ramTop) + ")");
      t.phys = phys;
      t.page_size = size;
      return t;
    }
    table = e & kAddrMask;
  }
  return makeError(Error::Code::kInternal, "page walk ended without a page");  // not reached
}

GuestVirtualMemory::GuestVirtualMemory(MemoryPeekFn peek, uint64_t root, PagingLevels levels, uint64_t ramTop)
    : peek_(std::move(peek)), root_(root), levels_(levels), ram_top_(ramTop) {}

void GuestVirtualMemory::flush() { tlb_.fill(Entry{}); }

Result<Translation> GuestVirtualMemory::translate(uint64_t va) { return lookup(va); }

Result<Translation> GuestVirtualMemory::lookup(uint64_t va) {
  const uint64_t vpage = va & ~uint64_t{0xfff};
  Entry& e = tlb_[(vpage >> 12) % tlb_.size()];
  if (e.vpage == vpage) {
    Translation t = e.t;
    t.phys = (t.phys & ~uint64_t{0xfff}) | (va & 0xfff);
    return t;
  }
  ++walks_;
  const MemoryPeekFn counted = [this](uint64_t a, size_t n, uint8_t* b) {
    ++reads_;
    return peek_(a, n, b);
  };
  auto t = hostmon::translate(counted, root_, va, levels_, ram_top_);
  if (!t) return t;
  e.vpage = vpage;
  e.t = *t;
  return t;
}

Result<void> GuestVirtualMemory::read(uint64_t va, size_t len, uint8_t* out) {
  while (len > 0) {
    auto t = lookup(va);
    if (!t) return t.error();
    // Up to the end of this page, at most 64 KiB (the peek's bound): a large page is contiguous
    // in guest-physical memory, so text in 2 MiB pages is read in 64 KiB pieces, not 4 KiB ones.
    const uint64_t pageLeft = t->page_size - (va & (t->page_size - 1));
    const size_t n = static_cast<size_t>(std::min<uint64_t>({len, pageLeft, uint64_t{64} << 10}));
    if (t->phys + n > ram_top_)
      return makeError(Error::Code::kInvalidArgument, "guest-physical " + hex(t->phys) + " is past guest RAM");
    ++reads_;
    if (auto r = peek_(t->phys, n, out); !r) return r;
    va += n;
    out += n;
    len -= n;
  }
  return {};
}

Result<uint64_t> GuestVirtualMemory::read64(uint64_t va) {
  uint8_t b[8];
  if (auto r = read(va, sizeof b, b); !r) return r.error();
  uint64_t v;
  std::memcpy(&v, b, sizeof v);
  return v;
}

Result<KernelImage> locateKernel(GuestVirtualMemory& mem, uint64_t bannerSearch) {
  KernelImage k;
  constexpr uint64_t kStep = 2ull << 20;
  Result<Translation> first = makeError(Error::Code::kNotFound, "");
  for (uint64_t va = kKernelMapStart; va < kKernelMapEnd; va += kStep) {
    first = mem.translate(va);
    if (first) {
      k.text = va;
      break;
    }
    if (first.error().code != Error::Code::kNotFound) return first.error();
  }
  if (!k.text)
    return makeError(Error::Code::kNotFound, "nothing is mapped in the kernel-image region (no Linux kernel here)");
  if (first->no_execute)
    return makeError(Error::Code::kNotFound, "the kernel image's first page is not executable (no kernel text)");
  k.text_phys = first->phys;
  // Text: page after page while executable (4 KiB steps inside a 2 MiB page that is split), at
  // most 64 MiB (a kernel's text is a fraction of that; the guest's tables cannot make hostmon
  // walk the whole region page by page).
  constexpr uint64_t kMaxText = 64ull << 20;
  uint64_t va = k.text;
  while (va < kKernelMapEnd && va < k.text + kMaxText) {
    auto t = mem.translate(va);
    if (!t || t->no_execute) break;
    va += t->page_size - (va & (t->page_size - 1));
  }
  k.text_end = std::min(va, k.text + kMaxText);  // a large last page ends where the bound does
  // The banner: in the read-only data after the text.
  constexpr std::string_view kBanner = "Linux version ";
  std::string window(4096 + kBanner.size(), '\0');
  for (uint64_t at = k.text_end; at < k.text_end + bannerSearch && at < kKernelMapEnd; at += 4096) {
    if (!mem.read(at, 4096 + kBanner.size(), reinterpret_cast<uint8_t*>(window.data()))) continue;
    const size_t hit = window.find(kBanner);
    if (hit == std::string::npos || hit >= 4096) continue;
    k.banner = at + hit;
    char line[256];
    if (mem.read(k.banner, sizeof line, reinterpret_cast<uint8_t*>(line))) {
      size_t n = 0;
      while (n < sizeof line && line[n] && line[n] != '\n') ++n;
      for (size_t i = 0; i < n; ++i) k.banner_text += std::isprint(static_cast<unsigned char>(line[i])) ? line[i] : '?';
    }
    break;
  }
  return k;
}

Result<VcpuRegisters> parseInfoRegisters(std::string_view text) {
  // One vCPU: up to the second "CPU#" header, if `info registers -a` printed several.
  if (const size_t first = text.find("CPU#"); first != std::string_view::npos)
    if (const size_t second = text.find("CPU#", first + 4); second != std::string_view::npos)
      text = text.substr(0, second);
  auto reg = [&](std::string_view name, uint64_t* out) -> Result<void> {
    // "NAME=" at the start of a line or after a space (not "CR0" inside "DR0=" or "XCR0=").
    size_t at = 0;
    while ((at = text.find(name, at)) != std::string_view::npos) {
      if ((at == 0 || text[at - 1] == ' ' || text[at - 1] == '\n') && at + name.size() < text.size() &&
          text[at + name.size()] == '=')
        break;
      at += name.size();
    }
    if (at == std::string_view::npos) return makeError(Error::Code::kParse, "info registers: no " + std::string(name));
    size_t p = at + name.size() + 1, digits = 0;
    uint64_t v = 0;
    for (; p < text.size() && std::isxdigit(static_cast<unsigned char>(text[p])) && digits < 16; ++p, ++digits)
      v = v << 4 | static_cast<uint64_t>(std::stoi(std::string(1, text[p]), nullptr, 16));
    if (digits == 0 || (p < text.size() && std::isxdigit(static_cast<unsigned char>(text[p]))))
      return makeError(Error::Code::kParse, "info registers: " + std::string(name) + " is not a 64-bit hex number");
    *out = v;
    return {};
  };
  VcpuRegisters r;
  for (auto [name, out] :
       {std::pair<std::string_view, uint64_t*>{"CR0", &r.cr0}, {"CR3", &r.cr3}, {"CR4", &r.cr4}, {"EFER", &r.efer}})
    if (auto ok = reg(name, out); !ok) return ok.error();
  // "IDT=     fffffe0000000000 00000fff": base and limit after spaces (optional).
  if (size_t at = text.find("\nIDT="); at != std::string_view::npos) {
    std::string_view rest = text.substr(at + 5, 64);
    auto field = [&](uint64_t& out) {
      size_t i = 0, digits = 0;
      while (i < rest.size() && rest[i] == ' ') ++i;
      uint64_t v = 0;
      for (; i < rest.size() && std::isxdigit(static_cast<unsigned char>(rest[i])) && digits < 16; ++i, ++digits)
        v = v << 4 | static_cast<uint64_t>(std::isdigit(static_cast<unsigned char>(rest[i]))
                                               ? rest[i] - '0'
                                               : (std::tolower(static_cast<unsigned char>(rest[i])) - 'a' + 10));
      rest.remove_prefix(i);
      out = v;
      return digits > 0;
    };
    uint64_t base = 0, limit = 0;
    if (field(base) && field(limit) && limit <= 0xffff) {
      r.has_idt = true;
      r.idt_base = base;
      r.idt_limit = static_cast<uint32_t>(limit);
    }
  }
  return r;
}

std::array<uint64_t, 2> kernelRootCandidates(uint64_t cr3) {
  const uint64_t root = cr3 & kAddrMask;
  return {root, root & ~uint64_t{0x1000}};
}

}  // namespace goldgate::hostmon
