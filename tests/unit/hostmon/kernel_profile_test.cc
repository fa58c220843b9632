// Unit tests of kernel profiles (hostmon/src/kernel_profile.cc) on synthetic kernels assembled here:
// a minimal x86-64 ELF whose .rodata holds a kallsyms region laid out as 6.1 lays it (with and
// without kallsyms_seqs_of_names) and as later kernels order it, a .BTF made with libbpf's writer,
// and KASLR's relocation table after the ELF; the same ELF in bzImages with LZ4 legacy, gzip and xz
// payloads. Damaged images, decompression bounds, the JSON form and the profile folder. And, when
// the guest kernel has been built (tests/e2e/guest/build-guest.sh), the real Debian vmlinuz.
#include <catch2/catch.hpp>

#include <bpf/btf.h>
#include <lz4.h>
#include <lzma.h>
#include <openssl/evp.h>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "goldgate/hostmon/kernel_profile.h"
#include "temp_dir.h"

using namespace goldgate::hostmon;

namespace {

constexpr uint64_t kText = 0xffffffff81000000ull, kTextSize = 0x2000;
constexpr uint64_t kRodata = 0xffffffff82000000ull;
constexpr uint64_t kBtfAddr = 0xffffffff82400000ull;
constexpr uint64_t kData = 0xffffffff82a00000ull;
constexpr uint64_t kBss = 0xffffffff832b0000ull;
constexpr uint64_t kSysCallTable = kRodata + 0x100;
constexpr uint64_t kBanner = kRodata + 0x1000;
constexpr const char* kBannerText =
    "Linux version 6.1.0-99-test-amd64 (builder@example.org) (gcc-12 12.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.1.1-1";

void put32(std::vector<uint8_t>& v, uint32_t x) {
  for (int i = 0; i < 4; ++i) v.push_back(static_cast<uint8_t>(x >> (8 * i)));
}
void put64(std::vector<uint8_t>& v, uint64_t x) {
  put32(v, static_cast<uint32_t>(x));
  put32(v, static_cast<uint32_t>(x >> 32));
}
void set16(std::vector<uint8_t>& v, size_t at, uint16_t x) {
  v[at] = static_cast<uint8_t>(x);
  v[at + 1] = static_cast<uint8_t>(x >> 8);
}
void set32(std::vector<uint8_t>& v, size_t at, uint32_t x) {
  for (int i = 0; i < 4; ++i) v[at + i] = static_cast<uint8_t>(x >> (8 * i));
}
void set64(std::vector<uint8_t>& v, size_t at, uint64_t x) {
  set32(v, at, static_cast<uint32_t>(x));
  set32(v, at + 4, static_cast<uint32_t>(x >> 32));
}
void align(std::vector<uint8_t>& v, size_t a) {
  while (v.size() % a) v.push_back(0);
}

std::string sha256(const std::vector<uint8_t>& d) {
  unsigned char md[32];
  unsigned len = 0;
  EVP_Digest(d.data(), d.size(), md, &len, EVP_sha256(), nullptr);
  std::string s;
  char b[3];
  for (unsigned i = 0; i < len; ++i) {
    std::snprintf(b, sizeof b, "%02x", md[i]);
    s += b;
  }
  return s;
}

// What the synthetic kernel looks like; the defaults give a complete, valid one.
struct Spec {
  enum class Layout { k61, k61NoSeqs, kLate } layout = Layout::k61;
  int fillers = 600;            // symbols in the text beside the required ones (3 marker groups)
  std::string dropSymbol;       // left out of kallsyms
  std::string dropMember;       // "struct.member" left out of the BTF
  bool btf = true;              // a .BTF section at all
  bool corruptMarkers = false;  // kallsyms_markers[1] off by two
  uint32_t syscallRoom = 400;   // entries between sys_call_table and the next symbol
  bool relocs = true;           // KASLR's table after the ELF
};

struct Sym {
  std::string name;
  char type;
  uint64_t addr;
};

std::vector<Sym> symbolsOf(const Spec& s) {
  std::vector<Sym> v = {
      {"fixed_percpu_data", 'A', 0},  // per-CPU: absolute values, first in address order
      {"cpu_tss_rw", 'A', 0x6000},
      {"_text", 'T', kText},
      {"_stext", 'T', kText},
      {"long" + std::string(150, 'x'), 't', kText + 0x1f00},  // more than 127 tokens: a two-byte length
      {"_etext", 'T', kText + kTextSize},
      {"__start_rodata", 'D', kRodata},
      {"sys_call_table", 'D', kSysCallTable},
      {"after_sys_call_table", 'd', kSysCallTable + 8ull * s.syscallRoom},
      {"linux_banner", 'D', kBanner},
      {"__end_rodata", 'D', kRodata + 0x800000},
      {"init_task", 'D', kData + 0x40},
      {"modules", 'D', kData + 0x1000},
      {"modules", 'd', kData + 0x2000},  // a static namesake: the global one is meant
      {"module_kset", 'B', kBss + 0x10},
      {"idt_table", 'b', kBss + 0x1000},
      {"__start___jump_table", 'D', kData + 0x3000},  // an empty jump table
      {"__stop___jump_table", 'D', kData + 0x3000},
      {"early_idt_handler_array", 'T', kText + 0x3000},
      {"early_idt_handler_common", 't', kText + 0x3120},
  };
  for (int i = 0; i < s.fillers; ++i) v.push_back({"fill_func_" + std::to_string(i), 't', kText + 0x100 + 8ull * i});
  std::erase_if(v, [&](const Sym& x) { return x.name == s.dropSymbol; });
  std::stable_sort(v.begin(), v.end(), [](const Sym& a, const Sym& b) { return a.addr < b.addr; });
  return v;
}

// Printable characters are tokens of themselves; the other byte values stand for substrings.
std::vector<std::string> tokenTable() {
  static const char* kMulti[] = {"fill_", "func_", "sys_", "call_", "table", "module", "_text", "init", "task"};
  std::vector<std::string> t(256);
  size_t next = 0;
  for (int i = 0; i < 256; ++i) {
    if (i >= 0x21 && i <= 0x7e) t[i] = std::string(1, static_cast<char>(i));
    else t[i] = next < std::size(kMulti) ? kMulti[next++] : "~" + std::to_string(i);
  }
  return t;
}

std::vector<uint8_t> encodeName(const std::string& s, const std::vector<std::string>& tokens) {
  std::vector<uint8_t> idx;
  for (size_t p = 0; p < s.size();) {
    int best = static_cast<uint8_t>(s[p]);
    size_t bestLen = 1;
    for (int i = 0; i < 256; ++i)
      if (tokens[i].size() > bestLen && s.compare(p, tokens[i].size(), tokens[i]) == 0) {
        best = i;
        bestLen = tokens[i].size();
      }
    idx.push_back(static_cast<uint8_t>(best));
    p += bestLen;
  }
  std::vector<uint8_t> out;
  if (idx.size() < 0x80) {
    out.push_back(static_cast<uint8_t>(idx.size()));
  } else {
    out.push_back(static_cast<uint8_t>(0x80 | (idx.size() & 0x7f)));
    out.push_back(static_cast<uint8_t>(idx.size() >> 7));
  }
  out.insert(out.end(), idx.begin(), idx.end());
  return out;
}

// .rodata: sys_call_table, the banner, then kallsyms as scripts/kallsyms.c writes it (every label
// 8-aligned), then unrelated bytes.
std::vector<uint8_t> rodataOf(const Spec& s) {
  const auto syms = symbolsOf(s);
  const auto tokens = tokenTable();
  std::vector<uint8_t> r(0x1000, 0);
  for (uint32_t i = 0; i < s.syscallRoom && 0x100 + 8 * i < 0x1000; ++i) set64(r, 0x100 + 8 * i, kText + 0x40 * i);
  r.insert(r.end(), kBannerText, kBannerText + std::strlen(kBannerText));
  r.push_back('\n');
  r.push_back(0);
  align(r, 8);

  const uint32_t n = static_cast<uint32_t>(syms.size());
  std::vector<uint8_t> offsets, names, markers, seqs, table, index;
  for (const auto& x : syms) {
    // Absolute (per-CPU) values as they are; the rest below-zero-biased from the base (_text).
    const int32_t off = x.addr < (1u << 31) ? static_cast<int32_t>(x.addr)
                                            : static_cast<int32_t>(-static_cast<int64_t>(x.addr - kText) - 1);
    put32(offsets, static_cast<uint32_t>(off));
  }
  for (uint32_t i = 0; i < n; ++i) {
    if (i % 256 == 0) put32(markers, static_cast<uint32_t>(names.size()));
    const auto e = encodeName(std::string(1, syms[i].type) + syms[i].name, tokens);
    names.insert(names.end(), e.begin(), e.end());
  }
  if (s.corruptMarkers) set32(markers, 4, static_cast<uint32_t>(markers[4] | markers[5] << 8) + 2);
  for (uint32_t i = 0; i < n; ++i) {  // which symbol comes i-th by name (unused by the reader)
    seqs.push_back(0);
    seqs.push_back(static_cast<uint8_t>(i >> 8));
    seqs.push_back(static_cast<uint8_t>(i));
  }
  for (const auto& t : tokens) {
    const auto at = static_cast<uint16_t>(table.size());
    index.push_back(static_cast<uint8_t>(at));
    index.push_back(static_cast<uint8_t>(at >> 8));
    table.insert(table.end(), t.begin(), t.end());
    table.push_back(0);
  }
  auto add = [&](const std::vector<uint8_t>& part) {
    align(r, 8);
    r.insert(r.end(), part.begin(), part.end());
  };
  std::vector<uint8_t> base, count;
  put64(base, kText);
  put32(count, n);
  if (s.layout == Spec::Layout::kLate) {
    add(count), add(names), add(markers), add(table), add(index), add(offsets), add(base), add(seqs);
  } else {
    add(offsets), add(base), add(count), add(names), add(markers);
    if (s.layout == Spec::Layout::k61) add(seqs);
    add(table), add(index);
  }
  for (int i = 0; i < 5000; ++i) r.push_back(static_cast<uint8_t>(i * 37 + 11));  // what follows kallsyms
  return r;
}

// A .BTF with the structures the profile needs, laid out as 6.1's (some members inside anonymous
// structs and unions, one behind const, one behind a typedef).
std::vector<uint8_t> btfOf(const Spec& s) {
  btf* b = btf__new_empty();
  REQUIRE(b);
  const int i32 = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
  const int u32 = btf__add_int(b, "unsigned int", 4, 0);
  const int u64 = btf__add_int(b, "long long unsigned int", 8, 0);
  const int chr = btf__add_int(b, "char", 1, BTF_INT_CHAR);
  const int ptr = btf__add_ptr(b, 0);
  const int pidT = btf__add_typedef(b, "pid_t", i32);
  const int constPtr = btf__add_const(b, ptr);
  const int comm = btf__add_array(b, i32, chr, 16);
  const int modName = btf__add_array(b, i32, chr, 56);
  struct Field {
    const char* name;
    int type;
    uint32_t offset;  // bytes
  };
  auto add = [&](const char* name, uint32_t size, std::initializer_list<Field> fields, bool isUnion = false) {
    const int id = isUnion ? btf__add_union(b, name, size) : btf__add_struct(b, name, size);
    REQUIRE(id > 0);
    for (const auto& f : fields) {
      if (*name && s.dropMember == std::string(name) + "." + f.name) continue;
      REQUIRE(btf__add_field(b, f.name, f.type, f.offset * 8, 0) == 0);
    }
    return id;
  };
  const int listHead = add("list_head", 16, {{"next", ptr, 0}, {"prev", ptr, 8}});
  const int hashLen = add("", 8, {{"hash", u32, 0}, {"len", u32, 4}});
  const int hashUnion = add("", 8, {{"", hashLen, 0}, {"hash_len", u64, 0}}, true);
  const int qstr = add("qstr", 16, {{"", hashUnion, 0}, {"name", ptr, 8}});
  const int path = add("path", 16, {{"mnt", ptr, 0}, {"dentry", ptr, 8}});
  add("file", 232, {{"f_flags", u32, 0}, {"f_path", path, 16}});
  const int vfsmount = add("vfsmount", 32, {{"mnt_root", ptr, 0}, {"mnt_sb", ptr, 8}});
  add("dentry", 192, {{"d_flags", u32, 0}, {"d_parent", ptr, 24}, {"d_name", qstr, 32}});
  add("mount", 320,
      {{"mnt_hash", listHead, 0}, {"mnt_parent", ptr, 16}, {"mnt_mountpoint", ptr, 24}, {"mnt", vfsmount, 32}});
  add("cred", 176, {{"usage", u32, 0}, {"uid", u32, 8}});
  const int mmInner = add("", 1000, {{"mm_count", u32, 0}, {"exe_file", ptr, 880}});
  add("mm_struct", 1100, {{"", mmInner, 64}});
  add("task_struct", 9728,
      {{"flags", u32, 44},
       {"tasks", listHead, 2192},
       {"mm", ptr, 2272},
       {"exit_state", i32, 2308},
       {"pid", pidT, 2416},
       {"tgid", pidT, 2420},
       {"real_parent", ptr, 2432},
       {"group_leader", ptr, 2480},
       {"start_time", u64, 2776},
       {"real_cred", constPtr, 2952},
       {"comm", comm, 2976}});
  const int kobject = add("kobject", 64, {{"name", ptr, 0}, {"entry", listHead, 8}});
  add("kset", 96, {{"list", listHead, 0}});
  const int modKobject = add("module_kobject", 96, {{"kobj", kobject, 0}, {"mod", ptr, 64}});
  const int layout = add("module_layout", 80, {{"base", ptr, 0}, {"size", u32, 8}});
  const int constLayout = btf__add_const(b, layout);
  add("module", 896,
      {{"state", i32, 0},
       {"list", listHead, 8},
       {"name", modName, 24},
       {"mkobj", modKobject, 80},
       {"core_layout", constLayout, 320}});
  uint32_t size = 0;
  const auto* raw = static_cast<const uint8_t*>(btf__raw_data(b, &size));
  std::vector<uint8_t> out(raw, raw + size);
  btf__free(b);
  return out;
}

struct ElfSection {
  std::string name;
  uint64_t addr;
  std::vector<uint8_t> data;
};

// A minimal ELF: header, section contents, the section name table, the section headers.
std::vector<uint8_t> elfOf(const std::vector<ElfSection>& sections) {
  std::vector<uint8_t> f(64, 0);
  std::memcpy(f.data(),
              "\x7f"
              "ELF\x02\x01\x01",
              7);
  set16(f, 0x10, 2);   // ET_EXEC
  set16(f, 0x12, 62);  // x86-64
  set32(f, 0x14, 1);
  std::vector<uint64_t> offsets;
  std::vector<uint8_t> names(1, 0);
  std::vector<uint32_t> nameAt;
  for (const auto& s : sections) {
    align(f, 16);
    offsets.push_back(f.size());
    f.insert(f.end(), s.data.begin(), s.data.end());
    nameAt.push_back(static_cast<uint32_t>(names.size()));
    names.insert(names.end(), s.name.begin(), s.name.end());
    names.push_back(0);
  }
  const uint32_t shstrtabName = static_cast<uint32_t>(names.size());
  const std::string shstrtab = ".shstrtab";
  names.insert(names.end(), shstrtab.begin(), shstrtab.end());
  names.push_back(0);
  const uint64_t namesAt = f.size();
  f.insert(f.end(), names.begin(), names.end());
  align(f, 8);
  const uint64_t shoff = f.size();
  f.resize(f.size() + 64);  // the null section
  auto header = [&](uint32_t name, uint32_t type, uint64_t flags, uint64_t addr, uint64_t off, uint64_t size) {
    const size_t at = f.size();
    f.resize(at + 64);
    set32(f, at, name);
    set32(f, at + 4, type);
    set64(f, at + 8, flags);
    set64(f, at + 16, addr);
    set64(f, at + 24, off);
    set64(f, at + 32, size);
    set64(f, at + 48, 8);
  };
  for (size_t i = 0; i < sections.size(); ++i)
    header(nameAt[i], 1, 2 /*ALLOC*/, sections[i].addr, offsets[i], sections[i].data.size());
  header(shstrtabName, 3, 0, 0, namesAt, names.size());
  set64(f, 0x28, shoff);
  set16(f, 0x34, 64);
  set16(f, 0x3a, 64);
  set16(f, 0x3c, static_cast<uint16_t>(sections.size() + 2));
  set16(f, 0x3e, static_cast<uint16_t>(sections.size() + 1));
  return f;
}

std::vector<uint8_t> textBytes() {
  std::vector<uint8_t> t(kTextSize);
  for (size_t i = 0; i < t.size(); ++i) t[i] = static_cast<uint8_t>(i * 7 + 3);
  return t;
}

// KASLR's table as the build appends it: read backwards, the 32-bit list, 0, the inverse list, 0,
// the 64-bit list, 0. Some entries are outside the text (the profile drops them).
std::vector<uint8_t> relocTable() {
  const std::vector<uint64_t> r32 = {kText + 0x10, kText + 0x1ffc, kRodata + 0x20, kText + kTextSize};
  const std::vector<uint64_t> inv = {kText + 0x40};
  const std::vector<uint64_t> r64 = {kData + 8, kText + 0x80};
  std::vector<uint8_t> t;
  put32(t, 0);
  for (auto it = r64.rbegin(); it != r64.rend(); ++it) put32(t, static_cast<uint32_t>(*it));
  put32(t, 0);
  for (auto it = inv.rbegin(); it != inv.rend(); ++it) put32(t, static_cast<uint32_t>(*it));
  put32(t, 0);
  for (auto it = r32.rbegin(); it != r32.rend(); ++it) put32(t, static_cast<uint32_t>(*it));
  return t;
}

std::vector<uint8_t> vmlinuxOf(const Spec& s = {}) {
  std::vector<ElfSection> secs = {{".text", kText, textBytes()}, {".rodata", kRodata, rodataOf(s)}};
  if (s.btf) secs.push_back({".BTF", kBtfAddr, btfOf(s)});
  secs.push_back({".data", kData, std::vector<uint8_t>(0x100, 0)});
  auto f = elfOf(secs);
  if (s.relocs) {
    const auto t = relocTable();
    f.insert(f.end(), t.begin(), t.end());
  }
  return f;
}

// A bzImage around a payload: three setup sectors, 0x100 bytes of code, the payload.
std::vector<uint8_t> bzImageOf(const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> img(4 * 512 + 0x100, 0);
  img[0x1f1] = 3;
  std::memcpy(&img[0x202], "HdrS", 4);
  set16(img, 0x206, 0x020f);
  set32(img, 0x248, 0x100);
  set32(img, 0x24c, static_cast<uint32_t>(payload.size()));
  img.insert(img.end(), payload.begin(), payload.end());
  for (int i = 0; i < 64; ++i) img.push_back(0xcc);  // the image continues past the payload
  return img;
}

// The decompressed size, as the kernel's build appends it to LZ4 and xz payloads.
void appendSize(std::vector<uint8_t>& v, size_t n) { put32(v, static_cast<uint32_t>(n)); }

std::vector<uint8_t> lz4Legacy(const std::vector<uint8_t>& in) {
  std::vector<uint8_t> out;
  put32(out, 0x184C2102);
  // Blocks of any size up to 8 MiB; the magic again between them, as concatenated frames have it.
  const size_t pieces[] = {in.size() / 3, in.size() - in.size() / 3};
  size_t at = 0;
  for (size_t k = 0; k < 2; ++k) {
    if (k == 1) put32(out, 0x184C2102);
    std::vector<char> c(LZ4_compressBound(static_cast<int>(pieces[k])));
    const int n = LZ4_compress_default(reinterpret_cast<const char*>(&in[at]), c.data(), static_cast<int>(pieces[k]),
                                       static_cast<int>(c.size()));
    REQUIRE(n > 0);
    put32(out, static_cast<uint32_t>(n));
    out.insert(out.end(), c.begin(), c.begin() + n);
    at += pieces[k];
  }
  appendSize(out, in.size());
  return out;
}

std::vector<uint8_t> gzipOf(const std::vector<uint8_t>& in) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::vector<uint8_t> out(deflateBound(&z, in.size()));
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;  // gzip's own trailer ends with the size
}

std::vector<uint8_t> xzOf(const std::vector<uint8_t>& in) {
  std::vector<uint8_t> out(lzma_stream_buffer_bound(in.size()));
  size_t n = 0;
  REQUIRE(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, nullptr, in.data(), in.size(), out.data(), &n, out.size()) ==
          LZMA_OK);
  out.resize(n);
  appendSize(out, in.size());
  return out;
}

KernelProfile build(const std::vector<uint8_t>& image) {
  auto p = buildKernelProfile(image, "synthetic");
  INFO((p ? std::string() : p.error().message));
  REQUIRE(p);
  return std::move(*p);
}

// The error building from `image` gives, which must be kParse.
std::string refusal(const std::vector<uint8_t>& image) {
  auto p = buildKernelProfile(image, "bad-image");
  REQUIRE_FALSE(p);
  CHECK(p.error().code == goldgate::Error::Code::kParse);
  CHECK(p.error().message.rfind("bad-image: ", 0) == 0);
  return p.error().message;
}

void checkSynthetic(const KernelProfile& p) {
  CHECK(p.banner == kBannerText);
  CHECK(p.release == "6.1.0-99-test-amd64");
  CHECK(p.symbol("_text") == kText);
  CHECK(p.symbol("_stext") == kText);
  CHECK(p.symbol("_etext") == kText + kTextSize);
  CHECK(p.symbol("linux_banner") == kBanner);
  CHECK(p.symbol("sys_call_table") == kSysCallTable);
  CHECK(p.symbol("init_task") == kData + 0x40);
  CHECK(p.symbol("modules") == kData + 0x1000);  // the global, not the static namesake
  CHECK(p.symbol("module_kset") == kBss + 0x10);
  CHECK(p.symbol("idt_table") == kBss + 0x1000);
  CHECK(p.symbol("__end_rodata") == kRodata + 0x800000);
  CHECK(p.symbols.size() == std::size(kProfileSymbols));
  CHECK(p.kallsyms_count == 620);
  CHECK(p.syscall_count == 400);
  CHECK(p.file_text_sha256 == sha256(textBytes()));
  const std::map<std::string, uint64_t> members = {
      {"list_head.next", 0},
      {"list_head.prev", 8},
      {"task_struct.tasks", 2192},
      {"task_struct.pid", 2416},
      {"task_struct.tgid", 2420},
      {"task_struct.comm", 2976},
      {"task_struct.real_parent", 2432},
      {"task_struct.real_cred", 2952},
      {"task_struct.mm", 2272},
      {"task_struct.flags", 44},
      {"task_struct.start_time", 2776},
      {"task_struct.exit_state", 2308},
      {"task_struct.group_leader", 2480},
      {"cred.uid", 8},
      {"mm_struct.exe_file", 944},
      {"file.f_path", 16},
      {"path.mnt", 0},
      {"path.dentry", 8},
      {"dentry.d_parent", 24},
      {"dentry.d_name", 32},
      {"qstr.name", 8},
      {"qstr.len", 4},
      {"mount.mnt", 32},
      {"mount.mnt_parent", 16},
      {"mount.mnt_mountpoint", 24},
      {"vfsmount.mnt_root", 0},
      {"module.list", 8},
      {"module.name", 24},
      {"module.state", 0},
      {"module.mkobj", 80},
      {"module_kobject.kobj", 0},
      {"module_kobject.mod", 64},
      {"kobject.entry", 8},
      {"kset.list", 0},
      {"module.core_layout.base", 320},
      {"module.core_layout.size", 328},
  };
  CHECK(p.members == members);
  const std::map<std::string, uint64_t> sizes = {
      {"task_struct", 9728}, {"module", 896}, {"task_struct.comm", 16}, {"module.name", 56}};
  CHECK(p.sizes == sizes);
  CHECK(p.text_relocs32 == std::vector<uint32_t>{0x10, 0x1ffc});
  CHECK(p.text_relocs32_inverse == std::vector<uint32_t>{0x40});
  CHECK(p.text_relocs64 == std::vector<uint32_t>{0x80});
  CHECK(*p.member("qstr.len") == 4);
  CHECK_FALSE(p.member("qstr.hash"));
  CHECK(p.symbol("no_such_symbol") == 0);
}

}  // namespace

TEST_CASE("kernel_profile: symbols, members and relocations of a synthetic vmlinux", "[kernel_profile]") {
  Spec s;
  SECTION("kallsyms as 6.1 lays it out, with seqs_of_names") { s.layout = Spec::Layout::k61; }
  SECTION("kallsyms without seqs_of_names (older kernels)") { s.layout = Spec::Layout::k61NoSeqs; }
  SECTION("kallsyms with the offsets after the token index (later kernels)") { s.layout = Spec::Layout::kLate; }
  const auto elf = vmlinuxOf(s);
  const KernelProfile p = build(elf);
  checkSynthetic(p);
  CHECK(p.source == "synthetic");
  CHECK(p.source_sha256 == sha256(elf));
}

TEST_CASE("kernel_profile: a vmlinux without KASLR's table, and one without module_layout", "[kernel_profile]") {
  Spec s;
  s.relocs = false;
  s.dropMember = "module.core_layout";  // later kernels have mem[] instead: optional
  const KernelProfile p = build(vmlinuxOf(s));
  CHECK(p.text_relocs32.empty());
  CHECK(p.text_relocs32_inverse.empty());
  CHECK(p.text_relocs64.empty());
  CHECK_FALSE(p.members.count("module.core_layout.base"));
  CHECK_FALSE(p.members.count("module.core_layout.size"));
  CHECK(p.members.count("module.mkobj"));
}

TEST_CASE("kernel_profile: bzImages with LZ4 legacy, gzip and xz payloads", "[kernel_profile]") {
  const auto elf = vmlinuxOf();
  std::vector<uint8_t> payload;
  SECTION("LZ4 legacy frames") { payload = lz4Legacy(elf); }
  SECTION("gzip") { payload = gzipOf(elf); }
  SECTION("xz") { payload = xzOf(elf); }
  const auto img = bzImageOf(payload);
  auto v = extractVmlinux(img);
  REQUIRE(v);
  CHECK(*v == elf);
  const KernelProfile p = build(img);
  checkSynthetic(p);
  CHECK(p.source_sha256 == sha256(img));
}

TEST_CASE("kernel_profile: damaged images are refused, naming what is wrong", "[kernel_profile]") {
  SECTION("not a kernel") {
    const std::string text = "hello, this is not a kernel image at all";
    CHECK_THAT(refusal({text.begin(), text.end()}), Catch::Contains("not a kernel image"));
  }
  SECTION("a truncated ELF") {
    Spec s;
    s.relocs = false;
    auto elf = vmlinuxOf(s);
    elf.resize(elf.size() - 100);  // into the section headers
    CHECK_THAT(refusal(elf), Catch::Contains("truncated"));
    elf.resize(elf.size() / 2);
    CHECK_THAT(refusal(elf), Catch::Contains("truncated"));
  }
  SECTION("a relocation table without its ends") {
    Spec s;
    s.relocs = false;
    auto elf = vmlinuxOf(s);
    put32(elf, 0x81000010);
    put32(elf, 0x81000020);
    CHECK_THAT(refusal(elf), Catch::Contains("relocation table"));
  }
  SECTION("kallsyms_markers that do not fit the names") {
    Spec s;
    s.corruptMarkers = true;
    CHECK_THAT(refusal(vmlinuxOf(s)), Catch::Contains("kallsyms_markers"));
  }
  SECTION("no .BTF") {
    Spec s;
    s.btf = false;
    CHECK_THAT(refusal(vmlinuxOf(s)), Catch::Contains("no .BTF section"));
  }
  SECTION("a required symbol missing") {
    Spec s;
    s.dropSymbol = "idt_table";
    CHECK_THAT(refusal(vmlinuxOf(s)), Catch::Contains("kallsyms has no symbol idt_table"));
  }
  SECTION("a required member missing") {
    Spec s;
    s.dropMember = "task_struct.real_cred";
    CHECK_THAT(refusal(vmlinuxOf(s)), Catch::Contains("task_struct.real_cred"));
  }
  SECTION("sys_call_table too small") {
    Spec s;
    s.syscallRoom = 100;
    CHECK_THAT(refusal(vmlinuxOf(s)), Catch::Contains("sys_call_table"));
  }
  SECTION("no kallsyms at all") {
    Spec s;
    s.fillers = 0;  // one marker only: not a kallsyms this reader recognises
    auto elf = vmlinuxOf(s);
    CHECK_THAT(refusal(elf), Catch::Contains("kallsyms"));
  }
  SECTION("a bzImage compressed with bzip2, or with something unknown") {
    std::vector<uint8_t> payload = {'B', 'Z', 'h', '9', '1', 'A', 'Y', '&', 'S', 'Y', 0, 0, 0, 0, 0, 0};
    CHECK_THAT(refusal(bzImageOf(payload)), Catch::Contains("bzip2"));
    payload[0] = 'Q';
    CHECK_THAT(refusal(bzImageOf(payload)), Catch::Contains("unknown method"));
  }
  SECTION("a bzImage whose payload runs past its end") {
    auto img = bzImageOf(gzipOf(vmlinuxOf()));
    img.resize(img.size() - 200);
    CHECK_THAT(refusal(img), Catch::Contains("truncated"));
  }
  SECTION("an LZ4 payload cut short") {
    auto payload = lz4Legacy(vmlinuxOf());
    payload.resize(payload.size() - 1000);
    appendSize(payload, 12345);  // a trailer that does not match what decompresses
    CHECK_THAT(refusal(bzImageOf(payload)), Catch::Contains("damaged or truncated"));
  }
  SECTION("a damaged gzip payload") {
    auto payload = gzipOf(vmlinuxOf());
    for (size_t i = 100; i < 200; ++i) payload[i] ^= 0x5a;
    CHECK_THAT(refusal(bzImageOf(payload)), Catch::Contains("gzip"));
  }
}

TEST_CASE("kernel_profile: decompression is bounded by claims and by what comes out", "[kernel_profile]") {
  // A payload that claims 600 MiB is refused before anything is decompressed.
  auto big = gzipOf(std::vector<uint8_t>(4096, 0));
  set32(big, big.size() - 4, 600u << 20);
  CHECK_THAT(refusal(bzImageOf(big)), Catch::Contains("more than the limit"));
  // A payload that lies about its size stops at the limit: 3 MiB of zeros claiming 1000 bytes.
  for (auto make : {gzipOf, xzOf, lz4Legacy}) {
    auto bomb = make(std::vector<uint8_t>(3u << 20, 0));
    set32(bomb, bomb.size() - 4, 1000);
    auto v = extractVmlinux(bzImageOf(bomb), 1u << 20);
    REQUIRE_FALSE(v);
    CHECK_THAT(v.error().message, Catch::Contains("more than the limit of 1048576 bytes"));
  }
}

TEST_CASE("kernel_profile: JSON round trip and file name", "[kernel_profile]") {
  const KernelProfile p = build(vmlinuxOf());
  const std::string json = kernelProfileToJson(p);
  auto q = kernelProfileFromJson(json, "round.json");
  INFO((q ? std::string() : q.error().message));
  REQUIRE(q);
  CHECK(q->banner == p.banner);
  CHECK(q->release == p.release);
  CHECK(q->source == p.source);
  CHECK(q->source_sha256 == p.source_sha256);
  CHECK(q->symbols == p.symbols);
  CHECK(q->members == p.members);
  CHECK(q->sizes == p.sizes);
  CHECK(q->syscall_count == p.syscall_count);
  CHECK(q->text_relocs32 == p.text_relocs32);
  CHECK(q->text_relocs32_inverse == p.text_relocs32_inverse);
  CHECK(q->text_relocs64 == p.text_relocs64);
  CHECK(q->file_text_sha256 == p.file_text_sha256);
  CHECK(q->kallsyms_count == p.kallsyms_count);
  CHECK(kernelProfileToJson(*q) == json);
  // Addresses as hex strings (JSON readers with doubles would round them).
  CHECK_THAT(json, Catch::Contains("\"_text\": \"0xffffffff81000000\""));
  const std::string bannerHash = sha256(std::vector<uint8_t>(p.banner.begin(), p.banner.end()));
  CHECK(kernelProfileFileName(p) == "6.1.0-99-test-amd64-" + bannerHash.substr(0, 12) + ".json");
}

TEST_CASE("kernel_profile: JSON fields are checked, and the refusal names the field", "[kernel_profile]") {
  using nlohmann::json;
  const json good = json::parse(kernelProfileToJson(build(vmlinuxOf())));
  struct Case {
    const char* what;
    std::function<void(json&)> change;
    const char* says;
  };
  const std::vector<Case> cases = {
      {"a symbol as a number", [](json& j) { j["symbols"]["_text"] = 1; }, "field symbols._text: not an address"},
      {"a symbol missing", [](json& j) { j["symbols"].erase("init_task"); }, "field symbols.init_task: missing"},
      {"a member missing", [](json& j) { j["members"].erase("task_struct.pid"); },
       "field members.task_struct.pid: missing"},
      {"a member negative", [](json& j) { j["members"]["cred.uid"] = -8; },
       "field members.cred.uid: not a non-negative"},
      {"a size as a string", [](json& j) { j["sizes"]["module"] = "896"; }, "field sizes.module"},
      {"a relocation outside the text", [](json& j) { j["text_relocs64"].push_back(kTextSize); },
       "field text_relocs64[1]: offset 0x2000 is outside the text"},
      {"relocations not a list", [](json& j) { j["text_relocs32"] = json::object(); },
       "field text_relocs32: not an array"},
      {"the banner not a string", [](json& j) { j["banner"] = json::array(); }, "field banner: not a string"},
      {"a release not the banner's", [](json& j) { j["release"] = "6.1.0-1-amd64"; }, "field release"},
      {"a bad hash", [](json& j) { j["file_text_sha256"] = "abc"; }, "field file_text_sha256"},
      {"too many system calls", [](json& j) { j["syscall_count"] = 5000; }, "field syscall_count"},
      {"another format", [](json& j) { j["format"] = 1; }, "field format"},
      {"no members", [](json& j) { j.erase("members"); }, "field members: missing"},
      {"text that ends before it starts", [](json& j) { j["symbols"]["_etext"] = "0xffffffff80000000"; },
       "field symbols._etext"},
  };
  for (const auto& c : cases) {
    json j = good;
    c.change(j);
    auto r = kernelProfileFromJson(j.dump(), "profiles/x.json");
    INFO(c.what);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == goldgate::Error::Code::kParse);
    CHECK_THAT(r.error().message, Catch::StartsWith("profiles/x.json: ") && Catch::Contains(c.says));
  }
  CHECK_THAT(kernelProfileFromJson("{\"format\": 1,", "t.json").error().message, Catch::Contains("t.json: not JSON"));
  CHECK_THAT(kernelProfileFromJson("[1]", "t.json").error().message, Catch::Contains("not a JSON object"));
  CHECK_THAT(kernelProfileFromJson(std::string(10000, '[') + std::string(10000, ']'), "t.json").error().message,
             Catch::Contains("nested"));
}

TEST_CASE("kernel_profile: the profiles of a folder", "[kernel_profile]") {
  goldgate::test::TempDir dir;
  const KernelProfile p = build(vmlinuxOf());
  dir.write(kernelProfileFileName(p), kernelProfileToJson(p));
  dir.write("notes.txt", "not a profile, not read");
  auto all = loadKernelProfiles(dir.path().string());
  REQUIRE(all);
  REQUIRE(all->size() == 1);
  CHECK(all->begin()->first == p.banner);
  CHECK(all->begin()->second.symbol("_text") == kText);

  SECTION("a bad file is named") {
    dir.write("broken.json", "{\"format\": 2}");
    auto r = loadKernelProfiles(dir.path().string());
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("broken.json: field banner: missing"));
  }
  SECTION("two files with one banner are both named") {
    dir.write("copy.json", kernelProfileToJson(p));
    auto r = loadKernelProfiles(dir.path().string());
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("copy.json") && Catch::Contains(kernelProfileFileName(p)));
  }
  SECTION("a folder that is not there") {
    auto r = loadKernelProfiles((dir.path() / "missing").string());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == goldgate::Error::Code::kIo);
  }
}

TEST_CASE("kernel_profile: the guest kernel's vmlinuz (Debian 6.1 cloud)", "[kernel_profile]") {
  // e2e.kernel_profile builds the guest first and names its vmlinuz; alone, the test looks in the
  // source tree's build folder.
  const char* env = std::getenv("GOLDGATE_VMLINUZ");
  const std::string path = env && *env ? env : GOLDGATE_SOURCE_DIR "/build/guest/vmlinuz";
  if (!std::filesystem::exists(path)) {
    WARN("not run: " + path + " is not there (tests/e2e/guest/build-guest.sh builds it)");
    return;
  }
  auto p = buildKernelProfileFromFile(path);
  INFO((p ? std::string() : p.error().message));
  REQUIRE(p);
  CHECK_THAT(p->banner, Catch::StartsWith("Linux version 6.1"));
  CHECK_THAT(p->release, Catch::EndsWith("-cloud-amd64"));
  for (auto s : kProfileSymbols) CHECK(p->symbols.count(std::string(s)));
  for (auto m : kProfileMembers) CHECK(p->members.count(std::string(m)));  // 6.1 has module_layout too
  CHECK(p->symbol("_text") == 0xffffffff81000000ull);
  CHECK(p->syscall_count >= 300);
  CHECK(p->syscall_count <= 1024);
  CHECK_FALSE(p->text_relocs32.empty());
  CHECK(p->text_jump_sites.size() > 1000);  // static keys all over a distribution kernel
  CHECK(p->symbol("early_idt_handler_common") - p->symbol("early_idt_handler_array") == 32 * 9);
  CHECK(*p->member("task_struct.comm") > 1000);
  CHECK(*p->member("task_struct.comm") < p->sizes.at("task_struct"));
  CHECK(p->sizes.at("task_struct.comm") == 16);
  CHECK(p->kallsyms_count > 50000);
  auto again = kernelProfileFromJson(kernelProfileToJson(*p), "real.json");
  INFO((again ? std::string() : again.error().message));
  CHECK(again);
}
