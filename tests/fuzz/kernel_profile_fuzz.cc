// libFuzzer target: kernel profiles from untrusted kernel images and profile files. The input is
// read three ways: as a kernel image (a bzImage with its compressed payload, or an ELF); as the
// .BTF and .rodata of a minimal vmlinux ELF (a little-endian u32 length, that many bytes of .BTF,
// the rest .rodata), so that the kallsyms search and the BTF walk see the bytes directly; and as a
// profile's JSON. Holds: no crash, hang or sanitizer report; a profile that is built has every
// required symbol and its relocations inside the text; a built profile's JSON is accepted; a
// profile read from JSON writes out the same JSON again.
#include <bpf/libbpf.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "goldgate/hostmon/kernel_profile.h"

using namespace goldgate::hostmon;

namespace {

constexpr uint64_t kText = 0xffffffff81000000ull, kTextSize = 0x2000;
constexpr uint64_t kRodata = 0xffffffff82000000ull, kBtf = 0xffffffff82400000ull;

void set16(std::vector<uint8_t>& v, size_t at, uint16_t x) { std::memcpy(&v[at], &x, 2); }
void set32(std::vector<uint8_t>& v, size_t at, uint32_t x) { std::memcpy(&v[at], &x, 4); }
void set64(std::vector<uint8_t>& v, size_t at, uint64_t x) { std::memcpy(&v[at], &x, 8); }

// A vmlinux of three sections (.text of zeros, .rodata, .BTF) and the section name table.
std::vector<uint8_t> wrap(const uint8_t* rodata, size_t rodataLen, const uint8_t* btf, size_t btfLen) {
  static const char kNames[] = "\0.text\0.rodata\0.BTF\0.shstrtab";  // offsets 1, 7, 15, 20
  std::vector<uint8_t> f(64, 0);
  std::memcpy(f.data(),
              "\x7f"
              "ELF\x02\x01\x01",
              7);
  set16(f, 0x12, 62);
  struct Part {
    uint32_t name, type;
    uint64_t addr, off, len;
  } parts[] = {{1, 1, kText, 0, kTextSize},
               {7, 1, kRodata, 0, rodataLen},
               {15, 1, kBtf, 0, btfLen},
               {20, 3, 0, 0, sizeof kNames}};
  const uint8_t* data[] = {nullptr, rodata, btf, reinterpret_cast<const uint8_t*>(kNames)};
  for (int i = 0; i < 4; ++i) {
    f.resize((f.size() + 15) & ~size_t{15});
    parts[i].off = f.size();
    if (data[i]) f.insert(f.end(), data[i], data[i] + parts[i].len);
    else f.resize(f.size() + parts[i].len);
  }
  f.resize((f.size() + 7) & ~size_t{7});
  const size_t shoff = f.size();
  f.resize(shoff + 5 * 64);
  for (int i = 0; i < 4; ++i) {
    const size_t h = shoff + 64 * (i + 1);
    set32(f, h, parts[i].name);
    set32(f, h + 4, parts[i].type);
    set64(f, h + 8, parts[i].type == 1 ? 2 : 0);  // SHF_ALLOC
    set64(f, h + 16, parts[i].addr);
    set64(f, h + 24, parts[i].off);
    set64(f, h + 32, parts[i].len);
  }
  set64(f, 0x28, shoff);
  set16(f, 0x3a, 64);
  set16(f, 0x3c, 5);
  set16(f, 0x3e, 4);
  return f;
}

void checkBuilt(const goldgate::Result<KernelProfile>& p) {
  if (!p) return;
  for (auto s : kProfileSymbols)
    if (!p->symbols.count(std::string(s))) std::abort();
  const uint64_t textLen = p->symbol("_etext") - p->symbol("_text");
  for (const auto* list : {&p->text_relocs32, &p->text_relocs32_inverse, &p->text_relocs64})
    for (uint32_t off : *list)
      if (off >= textLen) std::abort();
  if (!kernelProfileFromJson(kernelProfileToJson(*p), "built")) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  libbpf_set_print(nullptr);  // libbpf's warnings about damaged BTF would flood the output
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  checkBuilt(buildKernelProfile({data, size}, "fuzz"));

  uint32_t btfLen = 0;
  if (size >= 4) std::memcpy(&btfLen, data, 4);
  const std::vector<uint8_t> elf = size >= 4 && btfLen <= size - 4
                                       ? wrap(data + 4 + btfLen, size - 4 - btfLen, data + 4, btfLen)
                                       : wrap(data, size, data, size);
  checkBuilt(buildKernelProfile(elf, "fuzz-wrapped"));

  auto j = kernelProfileFromJson(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.json");
  if (j) {
    const std::string once = kernelProfileToJson(*j);
    auto again = kernelProfileFromJson(once, "again");
    if (!again || kernelProfileToJson(*again) != once) std::abort();
  }
  return 0;
}
