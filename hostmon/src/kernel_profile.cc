// Kernel profiles from a kernel package's vmlinuz: the payload decompressed (LZ4 legacy frames, gzip,
// xz), the ELF's sections, KASLR's relocation table after the ELF, kallsyms found in .rodata by its
// shape (no symbol table says where it is), member offsets from .BTF through libbpf, and the
// profile's JSON form. The image and the JSON are untrusted: every offset read from them is checked
// against the bytes it points into before use, and every search has a bounded amount of work.
#include "goldgate/hostmon/kernel_profile.h"
#include "parse_util.h"

#include <bpf/btf.h>
#include <lz4.h>
#include <lzma.h>
#include <openssl/evp.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

namespace goldgate::hostmon {
namespace {

using Bytes = std::span<const uint8_t>;
constexpr auto kParse = Error::Code::kParse;

// Where x86-64 kernel image addresses start (the kernel text mapping; KASLR moves it within).
constexpr uint64_t kKernelImageStart = 0xffffffff80000000ull;
constexpr uint64_t kMaxTextBytes = 256ull << 20;  // as the walker accepts
constexpr int kProfileFormat = 2;                 // 2: text_jump_sites, the early IDT handlers
constexpr uint64_t kMaxMemberBytes = 1u << 20;    // offsets and sizes of members: a task_struct is ~10 KiB

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint32_t le32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
uint64_t le64(const uint8_t* p) { return le32(p) | uint64_t{le32(p + 4)} << 32; }

std::string hex(uint64_t v) { return hexAddress(v); }

std::string sha256Hex(Bytes data) { return sha256HexOf(data); }

Error parseError(const std::string& where, const std::string& why) { return makeError(kParse, where + ": " + why); }

// ---------------------------------------------------------------------------------------------
// Decompression. Output grows by what a stream actually produces (never by what it claims), in
// pieces decoded into a scratch buffer, so that a small hostile input costs little.

constexpr size_t kPiece = 1u << 20;

Result<std::vector<uint8_t>> unlz4Legacy(Bytes in, size_t limit) {
  constexpr uint32_t kMagic = 0x184C2102;
  constexpr size_t kBlock = 8u << 20;  // the legacy format's fixed block size
  const size_t maxCompressed = static_cast<size_t>(LZ4_compressBound(kBlock));
  std::vector<uint8_t> out;
  std::unique_ptr<uint8_t[]> scratch;
  size_t pos = 4;  // past the magic
  while (in.size() - pos >= 4) {
    const uint32_t size = le32(&in[pos]);
    // Frames concatenated by the kernel's build repeat the magic between blocks.
    if (size == kMagic) {
      pos += 4;
      continue;
    }
    // The end: a zero, or the size trailer (the image's last four bytes), which no block follows.
    if (size == 0 || size > in.size() - pos - 4) break;
    if (size > maxCompressed)
      return makeError(kParse, "LZ4 block at payload offset " + hex(pos) + " claims " + std::to_string(size) +
                                   " bytes, more than an 8 MiB block can take");
    if (!scratch) scratch.reset(new uint8_t[kBlock]);
    const int n =
        LZ4_decompress_safe(reinterpret_cast<const char*>(&in[pos + 4]), reinterpret_cast<char*>(scratch.get()),
                            static_cast<int>(size), static_cast<int>(kBlock));
    if (n < 0) return makeError(kParse, "LZ4 block at payload offset " + hex(pos) + " is damaged");
    if (static_cast<size_t>(n) > limit - out.size())
      return makeError(kParse,
                       "the LZ4 payload decompresses to more than the limit of " + std::to_string(limit) + " bytes");
    out.insert(out.end(), scratch.get(), scratch.get() + n);
    pos += 4 + size;
  }
  return out;
}

Result<std::vector<uint8_t>> gunzip(Bytes in, size_t limit) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return makeError(Error::Code::kResource, "zlib: cannot start inflate");
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&z, inflateEnd);
  std::vector<uint8_t> out;
  std::unique_ptr<uint8_t[]> scratch(new uint8_t[kPiece]);
  size_t fed = 0;
  for (;;) {
    if (z.avail_in == 0 && fed < in.size()) {
      // zlib counts in uInt: hand the input over in pieces it can count.
      const size_t n = std::min<size_t>(in.size() - fed, 1u << 30);
      z.next_in = const_cast<Bytef*>(in.data() + fed);
      z.avail_in = static_cast<uInt>(n);
      fed += n;
    }
    z.next_out = scratch.get();
    z.avail_out = kPiece;
    const int rc = inflate(&z, Z_NO_FLUSH);
    const size_t n = kPiece - z.avail_out;
    if (n > limit - out.size())
      return makeError(kParse,
                       "the gzip payload decompresses to more than the limit of " + std::to_string(limit) + " bytes");
    out.insert(out.end(), scratch.get(), scratch.get() + n);
    if (rc == Z_STREAM_END) break;
    if (rc == Z_BUF_ERROR && z.avail_in == 0 && fed == in.size())
      return makeError(kParse, "the gzip payload is truncated");
    if (rc != Z_OK && rc != Z_BUF_ERROR)
      return makeError(
          kParse, std::string("the gzip payload is damaged: ") + (z.msg ? z.msg : "zlib error " + std::to_string(rc)));
  }
  return out;
}

Result<std::vector<uint8_t>> unxz(Bytes in, size_t limit) {
  lzma_stream s = LZMA_STREAM_INIT;
  // The kernel's xz uses a dictionary of at most 32 MiB; more memory than that is not a kernel.
  if (lzma_stream_decoder(&s, 128u << 20, 0) != LZMA_OK)
    return makeError(Error::Code::kResource, "liblzma: cannot start the decoder");
  std::unique_ptr<lzma_stream, void (*)(lzma_stream*)> guard(&s, lzma_end);
  std::vector<uint8_t> out;
  std::unique_ptr<uint8_t[]> scratch(new uint8_t[kPiece]);
  s.next_in = in.data();
  s.avail_in = in.size();
  for (;;) {
    s.next_out = scratch.get();
    s.avail_out = kPiece;
    // All input is there from the start. The size trailer after the stream is ignored: without
    // LZMA_CONCATENATED the decoder ends at the first stream's footer.
    const lzma_ret rc = lzma_code(&s, LZMA_FINISH);
    const size_t n = kPiece - s.avail_out;
    if (n > limit - out.size())
      return makeError(kParse,
                       "the xz payload decompresses to more than the limit of " + std::to_string(limit) + " bytes");
    out.insert(out.end(), scratch.get(), scratch.get() + n);
    if (rc == LZMA_STREAM_END) break;
    if (rc == LZMA_BUF_ERROR) return makeError(kParse, "the xz payload is truncated");
    if (rc == LZMA_MEMLIMIT_ERROR) return makeError(kParse, "the xz payload needs more than 128 MiB to decode");
    if (rc != LZMA_OK) return makeError(kParse, "the xz payload is damaged (liblzma error " + std::to_string(rc) + ")");
  }
  return out;
}

bool isElf(Bytes b) {
  return b.size() >= 4 && std::memcmp(b.data(),
                                      "\x7f"
                                      "ELF",
                                      4) == 0;
}

// The compressed vmlinux of a bzImage (boot protocol 2.08 or later: the payload fields).
Result<std::vector<uint8_t>> decompressBzImage(Bytes img, size_t limit) {
  if (img.size() < 0x250 || std::memcmp(&img[0x202], "HdrS", 4) != 0)
    return makeError(kParse, "not a kernel image (neither an ELF nor a bzImage with \"HdrS\" at 0x202)");
  const uint16_t protocol = le16(&img[0x206]);
  if (protocol < 0x208)
    return makeError(kParse, "bzImage boot protocol " + hex(protocol) + " predates the payload fields (2.08)");
  const uint64_t setupSects = img[0x1f1] ? img[0x1f1] : 4;
  const uint64_t start = (setupSects + 1) * 512 + le32(&img[0x248]);
  const uint64_t length = le32(&img[0x24c]);
  if (start > img.size() || length > img.size() - start)
    return makeError(kParse, "bzImage payload at " + hex(start) + " (" + std::to_string(length) +
                                 " bytes) extends past the end of the image (" + std::to_string(img.size()) +
                                 " bytes): truncated?");
  if (length < 8) return makeError(kParse, "bzImage payload of " + std::to_string(length) + " bytes is too short");
  const Bytes payload = img.subspan(start, length);
  // The kernel's build appends the decompressed size to every compressed payload (gzip's own
  // trailer holds it): a claim past the limit is refused before anything is decompressed.
  const uint32_t claimed = le32(&payload[length - 4]);
  if (claimed > limit)
    return makeError(kParse, "the bzImage payload claims to decompress to " + std::to_string(claimed) +
                                 " bytes, more than the limit of " + std::to_string(limit));
  const uint8_t* m = payload.data();
  Result<std::vector<uint8_t>> out = std::vector<uint8_t>{};
  if (le32(m) == 0x184C2102) out = unlz4Legacy(payload, limit);
  else if (m[0] == 0x1f && m[1] == 0x8b) out = gunzip(payload, limit);
  else if (std::memcmp(m,
                       "\xfd"
                       "7zXZ\0",
                       6) == 0)
    out = unxz(payload, limit);
  else {
    const char* what = std::memcmp(m, "BZh", 3) == 0                ? "bzip2"
                       : m[0] == 0x5d && m[1] == 0 && m[2] == 0     ? "lzma"
                       : std::memcmp(m, "\x89LZO", 4) == 0          ? "lzo"
                       : std::memcmp(m, "\x28\xb5\x2f\xfd", 4) == 0 ? "zstd"
                                                                    : nullptr;
    char magic[32];
    std::snprintf(magic, sizeof magic, "%02x %02x %02x %02x", m[0], m[1], m[2], m[3]);
    return makeError(kParse, std::string("bzImage payload compressed with ") + (what ? what : "an unknown method") +
                                 " (magic " + magic + "): only LZ4, gzip and xz are read");
  }
  if (!out) return out;
  if (out->size() != claimed)
    return makeError(kParse, "the bzImage payload decompressed to " + std::to_string(out->size()) +
                                 " bytes, the image says " + std::to_string(claimed) + ": damaged or truncated");
  return out;
}

// ---------------------------------------------------------------------------------------------
// ELF (64-bit little-endian x86-64): sections by name and the bytes behind kernel addresses.

struct Section {
  std::string name;
  uint32_t type = 0;
  uint64_t flags = 0, addr = 0, offset = 0, size = 0;
};
struct Segment {
  uint64_t offset = 0, vaddr = 0, filesz = 0;
};

constexpr uint32_t kShtNobits = 8;
constexpr uint64_t kShfAlloc = 2;

struct Elf {
  Bytes file;
  std::vector<Section> sections;
  std::vector<Segment> loads;  // PT_LOAD
  uint64_t end = 0;            // the first byte past everything the headers describe

  const Section* section(std::string_view name) const {
    for (const auto& s : sections)
      if (s.name == name) return &s;
    return nullptr;
  }
  Bytes bytes(const Section& s) const { return s.type == kShtNobits ? Bytes{} : file.subspan(s.offset, s.size); }
  // The file bytes of [va, va+len) when one allocated section, or else one loaded segment, holds
  // all of them; empty otherwise.
  Bytes at(uint64_t va, uint64_t len) const {
    for (const auto& s : sections)
      if ((s.flags & kShfAlloc) && s.type != kShtNobits && va >= s.addr && va - s.addr <= s.size &&
          len <= s.size - (va - s.addr))
        return file.subspan(s.offset + (va - s.addr), len);
    for (const auto& g : loads)
      if (va >= g.vaddr && va - g.vaddr <= g.filesz && len <= g.filesz - (va - g.vaddr))
        return file.subspan(g.offset + (va - g.vaddr), len);
    return {};
  }
  // Up to `max` file bytes from `va` on, within the section that holds it.
  Bytes from(uint64_t va, uint64_t max) const {
    for (const auto& s : sections)
      if ((s.flags & kShfAlloc) && s.type != kShtNobits && va >= s.addr && va - s.addr < s.size)
        return file.subspan(s.offset + (va - s.addr), std::min(max, s.size - (va - s.addr)));
    return {};
  }
};

Result<Elf> parseElf(Bytes f) {
  if (f.size() < 64 || !isElf(f)) return makeError(kParse, "not an ELF file");
  if (f[4] != 2 || f[5] != 1) return makeError(kParse, "not a 64-bit little-endian ELF");
  if (le16(&f[0x12]) != 62)
    return makeError(kParse, "ELF machine " + std::to_string(le16(&f[0x12])) + " is not x86-64");
  Elf e;
  e.file = f;
  const uint64_t phoff = le64(&f[0x20]), shoff = le64(&f[0x28]);
  const uint64_t phentsize = le16(&f[0x36]), phnum = le16(&f[0x38]);
  const uint64_t shentsize = le16(&f[0x3a]), shnum = le16(&f[0x3c]), shstrndx = le16(&f[0x3e]);
  const std::string size = " (the file has " + std::to_string(f.size()) + " bytes): truncated?";
  // A table fits when it starts inside the file and its entries end inside it (the products are
  // at most 2^32: no overflow).
  auto fits = [&](uint64_t off, uint64_t len) { return off <= f.size() && len <= f.size() - off; };
  if (shnum == 0) return makeError(kParse, "the ELF has no section headers");
  if (shentsize < 64)
    return makeError(kParse, "ELF section header size " + std::to_string(shentsize) + " is too small");
  if (!fits(shoff, shnum * shentsize))
    return makeError(kParse, "the ELF section headers at " + hex(shoff) + " extend past the end" + size);
  e.end = shoff + shnum * shentsize;
  if (phnum) {
    if (phentsize < 56)
      return makeError(kParse, "ELF program header size " + std::to_string(phentsize) + " is too small");
    if (!fits(phoff, phnum * phentsize))
      return makeError(kParse, "the ELF program headers at " + hex(phoff) + " extend past the end" + size);
    e.end = std::max(e.end, phoff + phnum * phentsize);
    for (uint64_t i = 0; i < phnum; ++i) {
      const uint8_t* p = &f[phoff + i * phentsize];
      if (le32(p) != 1) continue;  // PT_LOAD only
      Segment g{le64(p + 8), le64(p + 16), le64(p + 32)};
      if (!fits(g.offset, g.filesz))
        return makeError(kParse, "ELF segment " + std::to_string(i) + " extends past the end" + size);
      e.end = std::max(e.end, g.offset + g.filesz);
      e.loads.push_back(g);
    }
  }
  std::vector<uint32_t> nameOffsets;
  for (uint64_t i = 0; i < shnum; ++i) {
    const uint8_t* p = &f[shoff + i * shentsize];
    Section s;
    s.type = le32(p + 4);
    s.flags = le64(p + 8);
    s.addr = le64(p + 16);
    s.offset = le64(p + 24);
    s.size = le64(p + 32);
    nameOffsets.push_back(le32(p));
    e.sections.push_back(s);
  }
  if (shstrndx >= shnum)
    return makeError(kParse, "ELF section name table index " + std::to_string(shstrndx) + " is out of range");
  const Section& names = e.sections[shstrndx];
  if (names.type == kShtNobits || !fits(names.offset, names.size))
    return makeError(kParse, "the ELF section name table extends past the end" + size);
  const Bytes strtab = f.subspan(names.offset, names.size);
  for (size_t i = 0; i < e.sections.size(); ++i) {
    Section& s = e.sections[i];
    if (nameOffsets[i] >= strtab.size())
      return makeError(kParse, "ELF section " + std::to_string(i) + " has a name outside the name table");
    const uint8_t* n = &strtab[nameOffsets[i]];
    const void* nul = std::memchr(n, 0, strtab.size() - nameOffsets[i]);
    if (!nul) return makeError(kParse, "ELF section " + std::to_string(i) + " has an unterminated name");
    s.name.assign(reinterpret_cast<const char*>(n), static_cast<const uint8_t*>(nul) - n);
    if (s.type == kShtNobits || s.type == 0) continue;
    if (!fits(s.offset, s.size))
      return makeError(kParse, "ELF section " + s.name + " (at " + hex(s.offset) + ", " + std::to_string(s.size) +
                                   " bytes) extends past the end" + size);
    e.end = std::max(e.end, s.offset + s.size);
  }
  return e;
}

// ---------------------------------------------------------------------------------------------
// KASLR's relocation table (arch/x86/boot/compressed/misc.c, handle_relocations): 32-bit values
// read backwards from the end, each the sign-extended address of a location: the 32-bit list, a
// zero, the inverse 32-bit list, a zero, the 64-bit list, a zero.

struct RelocLists {
  std::vector<uint64_t> r32, r32inverse, r64;
};

Result<RelocLists> parseRelocs(Bytes table) {
  RelocLists r;
  if (table.empty()) return r;  // a vmlinux as built, without the table
  std::vector<uint64_t>* lists[] = {&r.r32, &r.r32inverse, &r.r64};
  const char* names[] = {"32-bit", "inverse 32-bit", "64-bit"};
  size_t pos = table.size();
  for (int k = 0; k < 3; ++k) {
    for (;;) {
      if (pos < 4)
        return makeError(kParse, "the relocation table after the ELF (" + std::to_string(table.size()) +
                                     " bytes) is damaged: its " + names[k] + " list has no end");
      pos -= 4;
      const uint32_t v = le32(&table[pos]);
      if (v == 0) break;
      lists[k]->push_back(static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(v))));
    }
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// kallsyms (scripts/kallsyms.c, CONFIG_KALLSYMS_BASE_RELATIVE + ABSOLUTE_PERCPU), found in .rodata
// by its shape: no symbol says where it is. Positions are offsets into .rodata; alignment is that
// of the address (`base` + position), as the assembler aligned it.

struct Kallsyms {
  std::vector<std::string> names;  // with the type letter first, as kallsyms keeps them
  std::vector<uint64_t> addrs;
};

struct TokenTable {
  size_t start = 0, indexEnd = 0;
  std::array<std::string_view, 256> tokens;
};

struct KallsymsSearch {
  Bytes ro;
  uint64_t base = 0;
  int64_t budget = 0;  // steps left: a hostile .rodata cannot make the search quadratic
  std::string why;     // the furthest the search got, for the error

  uint32_t u32(size_t pos) const { return le32(&ro[pos]); }
  size_t alignUp(size_t pos, size_t a) const { return pos + (a - (base + pos) % a) % a; }
  size_t alignDown(size_t pos, size_t a) const { return pos - (base + pos) % a; }
  bool spend(int64_t n) { return (budget -= n) >= 0; }

  // The token table whose "0" (token 0x30) is at `p`, validated by the token index after it:
  // index[i] is the offset of token i, each token is a NUL-terminated non-empty string.
  std::optional<TokenTable> tokenTableAt(size_t p) {
    size_t q = p;
    for (int t = 0x30; t < 256; ++t) {
      if (q >= ro.size()) return std::nullopt;
      const size_t room = std::min<size_t>(ro.size() - q, 256);
      const void* nul = std::memchr(&ro[q], 0, room);
      if (!spend(1) || !nul || nul == &ro[q]) return std::nullopt;
      q = static_cast<const uint8_t*>(nul) - ro.data() + 1;
    }
    for (size_t a : {2, 4, 8}) {
      const size_t idx = alignUp(q, a);
      if (idx > ro.size() || ro.size() - idx < 512) continue;
      const size_t at30 = le16(&ro[idx + 0x30 * 2]);
      if (at30 > p || le16(&ro[idx]) != 0) continue;
      TokenTable t;
      t.start = p - at30;
      t.indexEnd = idx + 512;
      bool ok = true;
      for (int i = 0; i < 256 && ok; ++i) {
        const size_t off = le16(&ro[idx + 2 * i]);
        const size_t next = i == 255 ? q - t.start : le16(&ro[idx + 2 * i + 2]);
        const size_t s = t.start + off;
        ok = next > off + 1 && t.start + next <= q && ro[t.start + next - 1] == 0 &&
             !std::memchr(&ro[s], 0, next - off - 1);
        if (ok) t.tokens[i] = std::string_view(reinterpret_cast<const char*>(&ro[s]), next - off - 1);
      }
      if (ok) return t;
    }
    return std::nullopt;
  }

  // Where the names of N symbols starting at `names` end, checking each 256th against the markers;
  // nullopt when they do not fit below `limit`.
  std::optional<size_t> namesEnd(size_t names, uint32_t n, const std::vector<uint32_t>& markers, size_t limit) {
    size_t pos = names;
    for (uint32_t i = 0; i < n; ++i) {
      if (!spend(1)) return std::nullopt;
      if (i % 256 == 0 && markers[i / 256] != pos - names) return std::nullopt;
      if (pos >= limit) return std::nullopt;
      size_t len = ro[pos++];
      if (len & 0x80) {  // a "big" symbol: the length takes two bytes
        if (pos >= limit) return std::nullopt;
        len = (len & 0x7f) | size_t{ro[pos++]} << 7;
      }
      if (len == 0 || len > limit - pos) return std::nullopt;
      pos += len;
    }
    return pos;
  }

  // The addresses from the offsets at `offs` and the relative base at `rb`, when they look like a
  // kernel's: in the kernel image, sorted (kallsyms sorts by address) but for a few.
  std::optional<std::vector<uint64_t>> addresses(size_t offs, size_t rb, uint32_t n) {
    if (offs > ro.size() || ro.size() - offs < size_t{n} * 4 || rb > ro.size() || ro.size() - rb < 8)
      return std::nullopt;
    if (!spend(n)) return std::nullopt;
    const uint64_t relBase = le64(&ro[rb]);
    if (relBase < kKernelImageStart) return std::nullopt;
    std::vector<uint64_t> a(n);
    size_t decreases = 0, inKernel = 0;
    for (uint32_t i = 0; i < n; ++i) {
      const int32_t off = static_cast<int32_t>(u32(offs + 4 * size_t{i}));
      // Non-negative: an absolute (per-CPU) value; negative: below-zero-biased from the base.
      a[i] = off >= 0 ? static_cast<uint64_t>(off) : relBase + static_cast<uint64_t>(-(static_cast<int64_t>(off) + 1));
      if (i && a[i] < a[i - 1]) ++decreases;
      if (a[i] >= kKernelImageStart) ++inKernel;
    }
    if (decreases > n / 100 || inKernel < n / 2) return std::nullopt;
    return a;
  }

  // The offsets and relative base of N symbols whose count is at `numSyms`: just before it (as
  // 6.1 lays them out), or after the token index (the order of later kernels).
  std::optional<std::vector<uint64_t>> findAddresses(size_t numSyms, uint32_t n, const TokenTable& tt) {
    std::vector<std::pair<size_t, size_t>> candidates;  // (offsets, relative base)
    const size_t bytes = size_t{n} * 4;
    if (numSyms >= 8)
      for (size_t rb : {alignDown(numSyms - 8, 8), numSyms - 8})
        for (size_t len : {(bytes + 7) & ~size_t{7}, bytes})
          if (rb >= len) candidates.push_back({rb - len, rb});
    for (size_t a : {8, 4}) {
      const size_t offs = alignUp(tt.indexEnd, a);
      candidates.push_back({offs, alignUp(offs + bytes, 8)});
    }
    for (auto [offs, rb] : candidates)
      if (auto a = addresses(offs, rb, n)) return a;
    return std::nullopt;
  }

  // kallsyms with the markers at `m` (a run of `run` plausible entries), the token table `tt` after.
  std::optional<Kallsyms> withMarkers(size_t m, const std::vector<uint32_t>& markers, const TokenTable& tt) {
    const size_t run = markers.size();
    // Below the markers lie the names: the last group of at most 256 names takes at most 256
    // entries of 2 + 512 bytes; the count (and padding) sits just before the names.
    const size_t span = markers.back() + 256 * 514 + 32;
    const int64_t lowest = m > span ? static_cast<int64_t>(m - span) : 0;
    for (int64_t qs = m >= 4 ? static_cast<int64_t>(alignDown(m - 4, 4)) : -1; qs >= lowest; qs -= 4) {
      const size_t q = static_cast<size_t>(qs);
      if (!spend(1)) return std::nullopt;
      const uint32_t n = u32(q);
      if (n != 0 && (n + 255ull) / 256 <= run) {
        const std::vector<uint32_t> used(markers.begin(), markers.begin() + (n + 255) / 256);
        for (size_t a : {4, 8}) {
          const size_t names = alignUp(q + 4, a);
          if (a == 8 && names == alignUp(q + 4, 4)) continue;
          if (names + used.back() >= m) continue;
          auto end = namesEnd(names, n, used, m);
          if (!end || m - *end >= 16) continue;
          auto addrs = findAddresses(q, n, tt);
          if (!addrs) {
            why = "kallsyms_num_syms at .rodata+" + hex(q) + " (" + std::to_string(n) +
                  " symbols) has no kallsyms_offsets and kallsyms_relative_base that give sorted kernel addresses";
            continue;
          }
          return decode(names, n, tt, std::move(*addrs));
        }
      }
    }
    if (why.empty())
      why =
          "no kallsyms_num_syms and kallsyms_names before kallsyms_markers at .rodata+" + hex(m) + " match the markers";
    return std::nullopt;
  }

  Kallsyms decode(size_t pos, uint32_t n, const TokenTable& tt, std::vector<uint64_t> addrs) {
    Kallsyms k;
    k.addrs = std::move(addrs);
    k.names.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {  // namesEnd() checked every length against the bytes
      size_t len = ro[pos++];
      if (len & 0x80) len = (len & 0x7f) | size_t{ro[pos++]} << 7;
      std::string s;
      for (size_t j = 0; j < len; ++j) s += tt.tokens[ro[pos + j]];
      pos += len;
      k.names.push_back(std::move(s));
    }
    return k;
  }

  // The markers (one u32 per 256 names, the first 0, increasing) below the token table.
  std::optional<Kallsyms> withTokenTable(const TokenTable& tt) {
    constexpr size_t kMaxBack = 16u << 20;  // past the markers: the 3 bytes per symbol of seqs_of_names
    const int64_t lowest = tt.start > kMaxBack ? static_cast<int64_t>(tt.start - kMaxBack) : 0;
    for (int64_t ms = tt.start >= 4 ? static_cast<int64_t>(alignDown(tt.start - 4, 4)) : -1; ms >= lowest; ms -= 4) {
      const size_t m = static_cast<size_t>(ms);
      if (!spend(1)) return std::nullopt;
      if (u32(m) != 0) continue;
      std::vector<uint32_t> markers{0};
      // Each step covers 256 names of 2 to 514 bytes.
      for (size_t p = m + 4; p + 4 <= tt.start; p += 4) {
        const uint32_t v = u32(p);
        if (v <= markers.back() || v - markers.back() < 512 || v - markers.back() > 256 * 514) break;
        markers.push_back(v);
      }
      if (markers.size() < 2) continue;
      if (auto k = withMarkers(m, markers, tt)) return k;
      if (budget < 0) return std::nullopt;
    }
    if (why.empty()) why = "no kallsyms_markers before the token table at .rodata+" + hex(tt.start);
    return std::nullopt;
  }

  Result<Kallsyms> run() {
    // Single-character tokens sit at their own byte value: the digits are tokens 0x30..0x39, one
    // after the other, in every kernel's table.
    static constexpr char kDigits[] =
        "0\0"
        "1\0"
        "2\0"
        "3\0"
        "4\0"
        "5\0"
        "6\0"
        "7\0"
        "8\0"
        "9";
    constexpr size_t kLen = sizeof kDigits;  // with the final NUL
    const uint8_t* p = ro.data();
    const uint8_t* end = ro.data() + ro.size();
    bool anyTable = false;
    while (p && static_cast<size_t>(end - p) >= kLen) {
      const void* hit = memmem(p, end - p, kDigits, kLen);
      if (!hit) break;
      const size_t at = static_cast<const uint8_t*>(hit) - ro.data();
      if (auto tt = tokenTableAt(at)) {
        anyTable = true;
        if (auto k = withTokenTable(*tt)) return std::move(*k);
      }
      if (budget < 0) return makeError(kParse, "kallsyms search in .rodata gave up (too many candidates)");
      p = static_cast<const uint8_t*>(hit) + 1;
    }
    if (!anyTable) return makeError(kParse, "no kallsyms token table (with its index) in .rodata");
    return makeError(kParse, "no kallsyms in .rodata: " + why);
  }
};

// ---------------------------------------------------------------------------------------------
// BTF: member offsets and sizes by "struct.member.member" paths.

struct BtfFree {
  void operator()(btf* b) const { btf__free(b); }
};

int compositeByName(const btf* b, const std::string& name) {
  const int id = btf__find_by_name_kind(b, name.c_str(), BTF_KIND_STRUCT);
  return id > 0 ? id : btf__find_by_name_kind(b, name.c_str(), BTF_KIND_UNION);
}

const btf_type* composite(const btf* b, int id) {
  if (id <= 0) return nullptr;
  const btf_type* t = btf__type_by_id(b, static_cast<uint32_t>(id));
  return t && btf_is_composite(t) ? t : nullptr;
}

// Finds member `name` of the struct or union `id` as C does: directly, or inside anonymous
// members (at most 8 levels: the BTF could nest a type in itself). Adds its bit offset to `bits`.
bool findMember(const btf* b, int id, const std::string& name, int depth, uint64_t& bits, uint32_t& type) {
  const btf_type* t = composite(b, id);
  if (!t) return false;
  const btf_member* m = btf_members(t);
  const int n = btf_vlen(t);
  for (int i = 0; i < n; ++i) {
    const char* s = btf__name_by_offset(b, m[i].name_off);
    if (s && name == s) {
      bits += btf_member_bit_offset(t, static_cast<uint32_t>(i));
      type = m[i].type;
      return true;
    }
  }
  if (depth >= 8) return false;
  for (int i = 0; i < n; ++i) {
    const char* s = btf__name_by_offset(b, m[i].name_off);
    if (s && *s) continue;
    uint64_t inner = bits + btf_member_bit_offset(t, static_cast<uint32_t>(i));
    if (findMember(b, btf__resolve_type(b, m[i].type), name, depth + 1, inner, type)) {
      bits = inner;
      return true;
    }
  }
  return false;
}

struct Resolved {
  uint64_t offset = 0, size = 0;
};

// "struct" (its size) or "struct.member[.member…]" (the member's offset and size).
Result<Resolved> resolvePath(const btf* b, std::string_view path) {
  std::vector<std::string> parts;
  for (size_t s = 0;;) {
    const size_t dot = path.find('.', s);
    parts.emplace_back(path.substr(s, dot == std::string_view::npos ? std::string_view::npos : dot - s));
    if (dot == std::string_view::npos) break;
    s = dot + 1;
  }
  int id = compositeByName(b, parts[0]);
  if (id <= 0) return makeError(Error::Code::kNotFound, "BTF has no struct " + parts[0]);
  if (parts.size() == 1) {
    const int64_t size = btf__resolve_size(b, static_cast<uint32_t>(id));
    if (size < 0) return makeError(kParse, "BTF cannot size struct " + parts[0]);
    if (static_cast<uint64_t>(size) > kMaxMemberBytes)
      return makeError(kParse, "BTF gives struct " + parts[0] + " " + std::to_string(size) + " bytes: not a kernel's");
    return Resolved{0, static_cast<uint64_t>(size)};
  }
  uint64_t bits = 0;
  uint32_t type = 0;
  for (size_t i = 1; i < parts.size(); ++i) {
    if (i > 1) {
      id = btf__resolve_type(b, type);  // through typedefs and qualifiers to the embedded struct
      if (!composite(b, id))
        return makeError(Error::Code::kNotFound,
                         "BTF: " + std::string(path) + ": " + parts[i - 1] + " is not a struct");
    }
    if (!findMember(b, id, parts[i], 0, bits, type))
      return makeError(Error::Code::kNotFound, "BTF has no member " + std::string(path));
  }
  const int64_t size = btf__resolve_size(b, type);
  if (size < 0) return makeError(kParse, "BTF cannot size member " + std::string(path));
  if (bits / 8 > kMaxMemberBytes || static_cast<uint64_t>(size) > kMaxMemberBytes)
    return makeError(kParse, "BTF puts member " + std::string(path) + " at " + std::to_string(bits / 8) + " (" +
                                 std::to_string(size) + " bytes): not a kernel's layout");
  return Resolved{bits / 8, static_cast<uint64_t>(size)};
}

bool optionalMember(std::string_view name) {
  return std::find(std::begin(kOptionalMembers), std::end(kOptionalMembers), name) != std::end(kOptionalMembers);
}

bool validRelease(std::string_view r) {
  if (r.empty() || r.size() > 128) return false;
  for (char c : r)
    if (!std::isalnum(static_cast<unsigned char>(c)) && !std::strchr("._+~-", c)) return false;
  return true;
}

// The release in a banner: the word after "Linux version ".
std::string releaseOf(std::string_view banner) {
  constexpr std::string_view kPrefix = "Linux version ";
  if (banner.substr(0, kPrefix.size()) != kPrefix) return {};
  const std::string_view rest = banner.substr(kPrefix.size());
  return std::string(rest.substr(0, rest.find(' ')));
}

Result<std::vector<uint8_t>> readFile(const std::string& path, size_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return makeError(Error::Code::kIo, path + ": cannot open: " + std::strerror(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) return makeError(Error::Code::kIo, path + ": cannot read its size");
  if (static_cast<uint64_t>(size) > limit)
    return makeError(kParse,
                     path + ": " + std::to_string(size) + " bytes, more than the limit of " + std::to_string(limit));
  in.seekg(0);
  std::vector<uint8_t> data(static_cast<size_t>(size));
  if (!in.read(reinterpret_cast<char*>(data.data()), size)) return makeError(Error::Code::kIo, path + ": cannot read");
  return data;
}

}  // namespace

uint64_t KernelProfile::symbol(std::string_view name) const {
  auto it = symbols.find(std::string(name));
  return it == symbols.end() ? 0 : it->second;
}

Result<uint64_t> KernelProfile::member(std::string_view name) const {
  auto it = members.find(std::string(name));
  if (it == members.end())
    return makeError(Error::Code::kNotFound, "the kernel profile has no member " + std::string(name));
  return it->second;
}

Result<std::vector<uint8_t>> extractVmlinux(std::span<const uint8_t> image, size_t limit) {
  if (isElf(image)) {
    if (image.size() > limit)
      return makeError(kParse, "the ELF of " + std::to_string(image.size()) + " bytes is more than the limit of " +
                                   std::to_string(limit));
    return std::vector<uint8_t>(image.begin(), image.end());
  }
  return decompressBzImage(image, limit);
}

Result<KernelProfile> buildKernelProfile(std::span<const uint8_t> image, const std::string& path) {
  // An ELF is read where it is; a bzImage's vmlinux is decompressed first.
  std::vector<uint8_t> owned;
  Bytes blob = image;
  if (!isElf(image)) {
    auto v = decompressBzImage(image, kMaxVmlinuxBytes);
    if (!v) return parseError(path, v.error().message);
    owned = std::move(*v);
    blob = owned;
  }
  auto elf = parseElf(blob);
  if (!elf) return parseError(path, "vmlinux: " + elf.error().message);
  auto relocs = parseRelocs(blob.subspan(elf->end));
  if (!relocs) return parseError(path, relocs.error().message);
  const Section* rodata = elf->section(".rodata");
  if (!rodata || rodata->type == kShtNobits) return parseError(path, "vmlinux has no .rodata section");
  const Section* btfSection = elf->section(".BTF");
  if (!btfSection || btfSection->type == kShtNobits)
    return parseError(path, "vmlinux has no .BTF section (a kernel built without CONFIG_DEBUG_INFO_BTF)");

  KallsymsSearch search{elf->bytes(*rodata), rodata->addr, static_cast<int64_t>(32 * rodata->size + (1u << 20)), {}};
  auto ks = search.run();
  if (!ks) return parseError(path, ks.error().message);

  KernelProfile p;
  p.source = path;
  p.source_sha256 = sha256Hex(image);
  p.kallsyms_count = ks->names.size();
  // Static symbols may share a name: a global one wins; two different addresses left are ambiguous.
  struct Candidates {
    std::set<uint64_t> global, local;
  };
  std::map<std::string, Candidates, std::less<>> found;
  for (auto want : kProfileSymbols) found[std::string(want)];
  for (size_t i = 0; i < ks->names.size(); ++i) {
    const std::string& n = ks->names[i];
    if (n.size() < 2) continue;
    auto it = found.find(std::string_view(n).substr(1));
    if (it == found.end()) continue;
    (std::isupper(static_cast<unsigned char>(n[0])) ? it->second.global : it->second.local).insert(ks->addrs[i]);
  }
  for (auto& [name, c] : found) {
    const std::set<uint64_t>& s = c.global.empty() ? c.local : c.global;
    if (s.empty()) return parseError(path, "kallsyms has no symbol " + name);
    if (s.size() > 1)
      return parseError(path,
                        "kallsyms has " + std::to_string(s.size()) + " symbols " + name + " at different addresses");
    p.symbols[name] = *s.begin();
  }

  const uint64_t text = p.symbol("_text"), etext = p.symbol("_etext");
  if (etext <= text || etext - text > kMaxTextBytes)
    return parseError(path, "_text " + hex(text) + " to _etext " + hex(etext) + " is not a plausible kernel text");
  const Bytes textBytes = elf->at(text, etext - text);
  if (textBytes.empty()) return parseError(path, "no ELF section holds the text from _text to _etext");
  p.file_text_sha256 = sha256Hex(textBytes);

  // The banner is the string at linux_banner, up to its newline.
  const Bytes b = elf->from(p.symbol("linux_banner"), 1024);
  if (b.empty()) return parseError(path, "no ELF section holds linux_banner at " + hex(p.symbol("linux_banner")));
  size_t len = 0;
  while (len < b.size() && b[len] != '\n' && b[len] != 0) ++len;
  if (len == b.size()) return parseError(path, "linux_banner is not a string within 1024 bytes of its section");
  p.banner.assign(reinterpret_cast<const char*>(b.data()), len);
  for (char c : p.banner)
    if (c < 0x20 || c > 0x7e) return parseError(path, "linux_banner holds a byte that is not printable ASCII");
  p.release = releaseOf(p.banner);
  if (p.release.empty()) return parseError(path, "linux_banner does not start with \"Linux version \"");
  if (!validRelease(p.release))
    return parseError(path, "the banner's release \"" + p.release + "\" has unexpected characters");

  // sys_call_table's entries reach the next symbol above it.
  const uint64_t sct = p.symbol("sys_call_table");
  uint64_t next = ~uint64_t{0};
  for (uint64_t a : ks->addrs)
    if (a > sct && a < next) next = a;
  const uint64_t count = next == ~uint64_t{0} ? 0 : std::min<uint64_t>((next - sct) / 8, 1024);
  if (count < 300)
    return parseError(path, "sys_call_table has room for " + std::to_string(count) +
                                " entries (the next symbol is at " + hex(next) + "); a kernel has 300 to 1024");
  // The table's own entries are the non-null ones: past NR_syscalls it is padding to the next symbol.
  const Bytes table = elf->at(sct, count * 8);
  if (table.empty()) return parseError(path, "no ELF section holds sys_call_table at " + hex(sct));
  uint64_t entries = 0;
  while (entries < count && le64(table.data() + entries * 8) != 0) ++entries;
  if (entries < 300)
    return parseError(path, "sys_call_table has " + std::to_string(entries) + " entries; a kernel has 300 to 1024");
  p.syscall_count = static_cast<uint32_t>(entries);

  // Jump-label sites: struct jump_entry { s32 code; s32 target; long key; }, code relative to the
  // entry's own address. The site's length is what the file holds there (jmp8 / 2-byte nop: 2).
  const uint64_t jt = p.symbol("__start___jump_table"), jtEnd = p.symbol("__stop___jump_table");
  if (jtEnd < jt || (jtEnd - jt) % 16 != 0 || jtEnd - jt > (64u << 20))
    return parseError(path, "__start___jump_table " + hex(jt) + " to __stop___jump_table " + hex(jtEnd) +
                                " is not a table of 16-byte entries");
  const Bytes jump = jt == jtEnd ? Bytes{} : elf->at(jt, jtEnd - jt);
  if (jt != jtEnd && jump.empty()) return parseError(path, "no ELF section holds the jump table at " + hex(jt));
  for (size_t at = 0; at + 16 <= jump.size(); at += 16) {
    const int32_t rel = static_cast<int32_t>(le32(jump.data() + at));
    const uint64_t code = jt + at + static_cast<uint64_t>(static_cast<int64_t>(rel));
    if (code < text || code + 5 > etext) continue;  // init text, or not the kernel's own
    const uint8_t* site = textBytes.data() + (code - text);
    const bool two = site[0] == 0xeb || (site[0] == 0x66 && site[1] == 0x90);
    p.text_jump_sites.push_back(static_cast<uint32_t>(code - text) | (two ? 0 : 0x80000000u));
  }
  std::sort(p.text_jump_sites.begin(), p.text_jump_sites.end());
  if (p.symbol("early_idt_handler_common") <= p.symbol("early_idt_handler_array") ||
      p.symbol("early_idt_handler_common") - p.symbol("early_idt_handler_array") > 4096)
    return parseError(path, "early_idt_handler_array does not end at early_idt_handler_common");

  auto keep = [&](const std::vector<uint64_t>& in, std::vector<uint32_t>& out) {
    for (uint64_t a : in)
      if (a >= text && a < etext) out.push_back(static_cast<uint32_t>(a - text));
    std::sort(out.begin(), out.end());
  };
  keep(relocs->r32, p.text_relocs32);
  keep(relocs->r32inverse, p.text_relocs32_inverse);
  keep(relocs->r64, p.text_relocs64);

  const Bytes btfBytes = elf->bytes(*btfSection);
  std::unique_ptr<btf, BtfFree> types(btf__new(btfBytes.data(), static_cast<uint32_t>(btfBytes.size())));
  if (!types) return parseError(path, std::string(".BTF is not valid BTF: ") + std::strerror(errno));
  for (auto m : kProfileMembers) {
    auto r = resolvePath(types.get(), m);
    if (r) p.members[std::string(m)] = r->offset;
    else if (!optionalMember(m)) return parseError(path, r.error().message);
  }
  for (auto s : kProfileSizes) {
    auto r = resolvePath(types.get(), s);
    if (!r) return parseError(path, r.error().message);
    p.sizes[std::string(s)] = r->size;
  }
  return p;
}

Result<KernelProfile> buildKernelProfileFromFile(const std::string& path) {
  auto data = readFile(path, kMaxVmlinuxBytes);
  if (!data) return data.error();
  return buildKernelProfile(*data, path);
}

// ---------------------------------------------------------------------------------------------
// JSON.

std::string kernelProfileToJson(const KernelProfile& p) {
  using Json = nlohmann::ordered_json;
  Json j;
  j["format"] = kProfileFormat;
  j["banner"] = p.banner;
  j["release"] = p.release;
  j["source"] = p.source;
  j["source_sha256"] = p.source_sha256;
  // Addresses as hex strings: they do not fit the doubles most JSON readers (jq) use.
  Json syms = Json::object();
  for (const auto& [k, v] : p.symbols) syms[k] = hex(v);
  j["symbols"] = std::move(syms);
  j["members"] = Json(p.members);
  j["sizes"] = Json(p.sizes);
  j["syscall_count"] = p.syscall_count;
  j["kallsyms_count"] = p.kallsyms_count;
  j["file_text_sha256"] = p.file_text_sha256;
  j["text_relocs32"] = p.text_relocs32;
  j["text_relocs32_inverse"] = p.text_relocs32_inverse;
  j["text_relocs64"] = p.text_relocs64;
  j["text_jump_sites"] = p.text_jump_sites;
  // One field per line, one map entry per line, each relocation list on one line: readable, and
  // diffs between two kernels' profiles show what changed.
  auto dump = [](const Json& v) { return v.dump(-1, ' ', false, Json::error_handler_t::replace); };
  std::string out = "{";
  const char* sep = "\n";
  for (const auto& [k, v] : j.items()) {
    out += sep + std::string("  ") + dump(Json(k)) + ": ";
    sep = ",\n";
    if (v.is_object() && !v.empty()) {
      const char* inner = "{\n";
      for (const auto& [ik, iv] : v.items()) {
        out += inner + std::string("    ") + dump(Json(ik)) + ": " + dump(iv);
        inner = ",\n";
      }
      out += "\n  }";
    } else {
      out += dump(v);
    }
  }
  out += "\n}\n";
  return out;
}

namespace {

bool isSha256(const nlohmann::json& v) {
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

bool parseHexAddress(const nlohmann::json& v, uint64_t& out) {
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
  if (s.size() < 3 || s.size() > 18 || s[0] != '0' || s[1] != 'x') return false;
  out = 0;
  for (size_t i = 2; i < s.size(); ++i) {
    const char c = s[i];
    const int d = c >= '0' && c <= '9'   ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                         : -1;
    if (d < 0) return false;
    out = out << 4 | static_cast<uint64_t>(d);
  }
  return true;
}

}  // namespace

Result<KernelProfile> kernelProfileFromJson(std::string_view document, const std::string& origin) {
  using nlohmann::json;
  auto bad = [&](const std::string& field, const std::string& why) {
    return makeError(kParse, origin + ": field " + field + ": " + why);
  };
  if (!jsonDepthWithin(document, 4)) return makeError(kParse, origin + ": JSON nested deeper than a kernel profile");
  const json j = json::parse(document.begin(), document.end(), nullptr, false);
  if (j.is_discarded()) return makeError(kParse, origin + ": not JSON");
  if (!j.is_object()) return makeError(kParse, origin + ": not a JSON object");
  auto field = [&](const char* name) -> const json* {
    auto it = j.find(name);
    return it == j.end() ? nullptr : &*it;
  };
  auto str = [&](const char* name, std::string& out) -> Result<void> {
    const json* v = field(name);
    if (!v) return bad(name, "missing");
    if (!v->is_string()) return bad(name, "not a string");
    out = v->get<std::string>();
    return {};
  };
  auto num = [&](const json& v, const std::string& name, uint64_t max, uint64_t& out) -> Result<void> {
    if (!v.is_number_unsigned()) return bad(name, "not a non-negative integer");
    out = v.get<uint64_t>();
    if (out > max) return bad(name, std::to_string(out) + " is more than " + std::to_string(max));
    return {};
  };

  KernelProfile p;
  const json* format = field("format");
  if (!format) return bad("format", "missing");
  if (!format->is_number_unsigned() || format->get<uint64_t>() != kProfileFormat)
    return bad("format", "not " + std::to_string(kProfileFormat) + " (a profile of another version of hostmon)");
  const std::pair<const char*, std::string*> strings[] = {{"banner", &p.banner},
                                                          {"release", &p.release},
                                                          {"source", &p.source},
                                                          {"source_sha256", &p.source_sha256},
                                                          {"file_text_sha256", &p.file_text_sha256}};
  for (auto [name, out] : strings)
    if (auto r = str(name, *out); !r) return r.error();
  if (releaseOf(p.banner).empty()) return bad("banner", "does not start with \"Linux version \"");
  if (p.banner.size() > 1024) return bad("banner", "longer than 1024 bytes");
  if (!validRelease(p.release)) return bad("release", "empty or has unexpected characters");
  if (releaseOf(p.banner) != p.release) return bad("release", "\"" + p.release + "\" is not the banner's");
  if (!isSha256(*field("source_sha256"))) return bad("source_sha256", "not 64 lowercase hex digits");
  if (!isSha256(*field("file_text_sha256"))) return bad("file_text_sha256", "not 64 lowercase hex digits");

  const json* syms = field("symbols");
  if (!syms) return bad("symbols", "missing");
  if (!syms->is_object()) return bad("symbols", "not an object");
  for (const auto& [k, v] : syms->items()) {
    uint64_t a = 0;
    if (!parseHexAddress(v, a)) return bad("symbols." + k, "not an address (\"0x\" and up to 16 hex digits)");
    p.symbols[k] = a;
  }
  for (auto s : kProfileSymbols)
    if (!p.symbols.count(std::string(s))) return bad("symbols." + std::string(s), "missing");

  const json* members = field("members");
  if (!members) return bad("members", "missing");
  if (!members->is_object()) return bad("members", "not an object");
  for (const auto& [k, v] : members->items())
    if (auto r = num(v, "members." + k, kMaxMemberBytes, p.members[k]); !r) return r.error();
  for (auto m : kProfileMembers)
    if (!optionalMember(m) && !p.members.count(std::string(m))) return bad("members." + std::string(m), "missing");

  const json* sizes = field("sizes");
  if (!sizes) return bad("sizes", "missing");
  if (!sizes->is_object()) return bad("sizes", "not an object");
  for (const auto& [k, v] : sizes->items())
    if (auto r = num(v, "sizes." + k, kMaxMemberBytes, p.sizes[k]); !r) return r.error();
  for (auto s : kProfileSizes)
    if (!p.sizes.count(std::string(s))) return bad("sizes." + std::string(s), "missing");

  uint64_t n = 0;
  if (!field("syscall_count")) return bad("syscall_count", "missing");
  if (auto r = num(*field("syscall_count"), "syscall_count", 1024, n); !r) return r.error();
  if (n < 300) return bad("syscall_count", std::to_string(n) + " is fewer than 300");
  p.syscall_count = static_cast<uint32_t>(n);
  if (!field("kallsyms_count")) return bad("kallsyms_count", "missing");
  if (auto r = num(*field("kallsyms_count"), "kallsyms_count", ~uint64_t{0}, p.kallsyms_count); !r) return r.error();

  const uint64_t text = p.symbol("_text"), etext = p.symbol("_etext");
  if (etext <= text || etext - text > kMaxTextBytes)
    return bad("symbols._etext", hex(etext) + " does not end a plausible text from _text " + hex(text));
  const std::pair<const char*, std::vector<uint32_t>*> lists[] = {{"text_relocs32", &p.text_relocs32},
                                                                  {"text_relocs32_inverse", &p.text_relocs32_inverse},
                                                                  {"text_relocs64", &p.text_relocs64}};
  for (auto [name, out] : lists) {
    const json* v = field(name);
    if (!v) return bad(name, "missing");
    if (!v->is_array()) return bad(name, "not an array");
    out->reserve(v->size());
    for (size_t i = 0; i < v->size(); ++i) {
      uint64_t off = 0;
      const std::string at = std::string(name) + "[" + std::to_string(i) + "]";
      if (auto r = num((*v)[i], at, ~uint64_t{0}, off); !r) return r.error();
      if (off >= etext - text)
        return bad(at, "offset " + hex(off) + " is outside the text (" + std::to_string(etext - text) + " bytes)");
      out->push_back(static_cast<uint32_t>(off));
    }
  }
  if (const json* v = field("text_jump_sites"); !v || !v->is_array()) {
    return bad("text_jump_sites", v ? "not an array" : "missing");
  } else {
    p.text_jump_sites.reserve(v->size());
    for (size_t i = 0; i < v->size(); ++i) {
      uint64_t site = 0;
      const std::string at = "text_jump_sites[" + std::to_string(i) + "]";
      if (auto r = num((*v)[i], at, 0xffffffffull, site); !r) return r.error();
      if ((site & 0x7fffffffu) + 5 > etext - text)
        return bad(at, "site " + hex(site & 0x7fffffffu) + " is outside the text");
      p.text_jump_sites.push_back(static_cast<uint32_t>(site));
    }
  }
  if (p.symbol("early_idt_handler_common") <= p.symbol("early_idt_handler_array") ||
      p.symbol("early_idt_handler_common") - p.symbol("early_idt_handler_array") > 4096)
    return bad("symbols.early_idt_handler_common", "does not follow early_idt_handler_array within 4 KiB");
  return p;
}

Result<std::map<std::string, KernelProfile>> loadKernelProfiles(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<fs::path> files;
  fs::directory_iterator it(dir, ec);
  if (ec) return makeError(Error::Code::kIo, dir + ": cannot read the folder: " + ec.message());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return makeError(Error::Code::kIo, dir + ": cannot read the folder: " + ec.message());
    std::error_code typeEc;
    if (it->path().extension() == ".json" && it->is_regular_file(typeEc)) files.push_back(it->path());
  }
  if (ec) return makeError(Error::Code::kIo, dir + ": cannot read the folder: " + ec.message());
  std::sort(files.begin(), files.end());
  std::map<std::string, KernelProfile> out;
  std::map<std::string, std::string> fileOf;  // banner → the file that gave it
  for (const auto& f : files) {
    auto text = readFile(f.string(), 256u << 20);
    if (!text) return text.error();
    auto p =
        kernelProfileFromJson(std::string_view(reinterpret_cast<const char*>(text->data()), text->size()), f.string());
    if (!p) return p.error();
    if (auto prev = fileOf.find(p->banner); prev != fileOf.end())
      return makeError(kParse, f.string() + " and " + prev->second + " both hold the profile of \"" + p->banner + "\"");
    fileOf[p->banner] = f.string();
    out.emplace(p->banner, std::move(*p));
  }
  return out;
}

std::string kernelProfileFileName(const KernelProfile& p) {
  const std::string h = sha256Hex(Bytes(reinterpret_cast<const uint8_t*>(p.banner.data()), p.banner.size()));
  return p.release + "-" + h.substr(0, 12) + ".json";
}

}  // namespace goldgate::hostmon
