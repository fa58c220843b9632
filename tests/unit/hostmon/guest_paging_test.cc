// Unit tests of guest page-table translation (hostmon/src/guest_paging.cc) on synthetic guest
// memory images: 4-level and 5-level tables, 4 KiB, 2 MiB and 1 GiB pages, permissions, entries
// that are not present at each level, reserved bits, tables and pages past guest RAM,
// non-canonical addresses, a table that maps itself, reads across pages, the translation cache.
#include <catch2/catch.hpp>

#include <cstring>
#include <map>
#include <vector>

#include "guest_paging.h"

using namespace goldgate::hostmon;

namespace {

constexpr uint64_t P = 1, W = 2, U = 4, PS = 0x80, NX = 1ull << 63;

// Guest-physical memory as a sparse set of 4 KiB frames; a read outside guest RAM fails.
struct Image {
  uint64_t ram_top = 1ull << 32;  // 4 GiB of guest RAM
  std::map<uint64_t, std::vector<uint8_t>> frames;
  uint64_t next_table = 0x100000;  // where the next page table is placed
  uint64_t peeks = 0;

  std::vector<uint8_t>& frame(uint64_t pa) {
    auto& f = frames[pa & ~0xfffull];
    if (f.empty()) f.assign(4096, 0);
    return f;
  }
  void put64(uint64_t pa, uint64_t v) { std::memcpy(frame(pa).data() + (pa & 0xfff), &v, 8); }
  uint64_t get64(uint64_t pa) {
    uint64_t v;
    std::memcpy(&v, frame(pa).data() + (pa & 0xfff), 8);
    return v;
  }
  uint64_t newTable() {
    const uint64_t t = next_table;
    next_table += 4096;
    frame(t);
    return t;
  }
  MemoryPeekFn peek() {
    return [this](uint64_t a, size_t n, uint8_t* out) -> goldgate::Result<void> {
      ++peeks;
      if (a + n > ram_top) return goldgate::makeError(goldgate::Error::Code::kIo, "outside guest RAM");
      for (size_t i = 0; i < n; ++i) {
        auto it = frames.find((a + i) & ~0xfffull);
        out[i] = it == frames.end() ? 0 : it->second[(a + i) & 0xfff];
      }
      return {};
    };
  }
  // Maps `va` to `pa` with a page of `size` under the tables at `root` (`levels` deep), making the
  // tables on the way; `leafFlags` on the last entry, P|W|U on the others.
  void map(uint64_t root, int levels, uint64_t va, uint64_t pa, uint64_t size, uint64_t leafFlags) {
    uint64_t table = root;
    const int leafLevel = size == (1ull << 30) ? 3 : size == (2ull << 20) ? 2 : 1;
    for (int level = levels; level > leafLevel; --level) {
      const uint64_t slot = table + ((va >> (12 + 9 * (level - 1))) & 0x1ff) * 8;
      uint64_t e = get64(slot);
      if (!(e & P)) {
        e = newTable() | P | W | U;
        put64(slot, e);
      }
      table = e & 0x000ffffffffff000ull;
    }
    const uint64_t slot = table + ((va >> (12 + 9 * (leafLevel - 1))) & 0x1ff) * 8;
    put64(slot, pa | leafFlags | (leafLevel > 1 ? PS : 0));
  }
};

}  // namespace

TEST_CASE("paging: 4 KiB, 2 MiB and 1 GiB pages through four levels", "[paging]") {
  Image img;
  const uint64_t root = img.newTable();
  img.map(root, 4, 0xffffffff81000000ull, 0x2000000, 2 << 20, P);               // kernel text: 2 MiB, read-only
  img.map(root, 4, 0xffff888000000000ull, 0x40000000, 1ull << 30, P | W | NX);  // direct map: 1 GiB
  img.map(root, 4, 0x00007f0000001000ull, 0x345000, 4096, P | W | U);           // a user page
  auto k = translate(img.peek(), root, 0xffffffff81012345ull, PagingLevels::k4, img.ram_top);
  REQUIRE(k);
  CHECK(k->phys == 0x2012345);
  CHECK(k->page_size == (2u << 20));
  CHECK_FALSE(k->writable);
  CHECK_FALSE(k->user);
  CHECK_FALSE(k->no_execute);
  auto d = translate(img.peek(), root, 0xffff888000000000ull + 0x1234567, PagingLevels::k4, img.ram_top);
  REQUIRE(d);
  CHECK(d->phys == 0x41234567);
  CHECK(d->page_size == (1u << 30));
  CHECK(d->writable);
  CHECK(d->no_execute);
  auto u = translate(img.peek(), root, 0x00007f0000001abcull, PagingLevels::k4, img.ram_top);
  REQUIRE(u);
  CHECK(u->phys == 0x345abc);
  CHECK(u->page_size == 4096);
  CHECK(u->user);
  // CR3's low bits (PCID, flags) are not part of the table's address.
  CHECK(translate(img.peek(), root | 0x7, 0x00007f0000001abcull, PagingLevels::k4, img.ram_top)->phys == 0x345abc);
}

TEST_CASE("paging: five levels (LA57)", "[paging]") {
  Image img;
  const uint64_t root = img.newTable();
  const uint64_t va = 0xff11000000000000ull | 0x123456789000ull;  // canonical in 57 bits, not in 48
  img.map(root, 5, va, 0x789000, 4096, P | W);
  auto t = translate(img.peek(), root, va + 0x10, PagingLevels::k5, img.ram_top);
  REQUIRE(t);
  CHECK(t->phys == 0x789010);
  auto four = translate(img.peek(), root, va, PagingLevels::k4, img.ram_top);
  REQUIRE_FALSE(four);
  CHECK(four.error().message.find("not canonical") != std::string::npos);
}

TEST_CASE("paging: what the guest's tables may hold that is not a mapping", "[paging]") {
  Image img;
  const uint64_t root = img.newTable();
  img.map(root, 4, 0xffffffff81000000ull, 0x2000000, 4096, P);
  auto expect = [&](uint64_t va, goldgate::Error::Code code, const char* says) {
    auto t = translate(img.peek(), root, va, PagingLevels::k4, img.ram_top);
    INFO(std::hex << va);
    REQUIRE_FALSE(t);
    CHECK(t.error().code == code);
    INFO(t.error().message);
    CHECK(t.error().message.find(says) != std::string::npos);
  };
  // Not present at each level.
  expect(0x0000000000400000ull, goldgate::Error::Code::kNotFound, "PML4 entry 0 not present");
  expect(0xffffffff80000000ull, goldgate::Error::Code::kNotFound, "PD entry 0 not present");
  expect(0xffffffff81001000ull, goldgate::Error::Code::kNotFound, "PT entry 1 not present");
  expect(0x0000800000000000ull, goldgate::Error::Code::kInvalidArgument, "not canonical");
  // A large page where none may be: the PML4 entry with the page-size bit.
  img.put64(root + 1 * 8, 0x40000000 | P | PS);
  expect(0x0000008000000000ull, goldgate::Error::Code::kInvalidArgument, "page-size bit");
  // A table past guest RAM, and a page past it.
  img.put64(root + 2 * 8, (img.ram_top + 0x1000) | P);
  expect(0x0000010000000000ull, goldgate::Error::Code::kInvalidArgument, "past guest RAM");
  img.map(root, 4, 0x0000018000000000ull, 0, 4096, P);
  const uint64_t pdpt = img.get64(root + 3 * 8) & 0x000ffffffffff000ull;
  const uint64_t pd = img.get64(pdpt) & 0x000ffffffffff000ull;
  const uint64_t pt = img.get64(pd) & 0x000ffffffffff000ull;
  img.put64(pt, (img.ram_top + 0x5000) | P);
  expect(0x0000018000000000ull, goldgate::Error::Code::kInvalidArgument, "past guest RAM");
  // An unaligned 2 MiB frame.
  img.put64(pd + 8, 0x2001000 | 0x100000 | P | PS);
  expect(0x0000018000200000ull, goldgate::Error::Code::kInvalidArgument, "unaligned");
}

TEST_CASE("paging: a table that maps itself is walked in five reads at most, like any other", "[paging]") {
  // The recursive mapping some kernels use: PML4 entry 510 points at the PML4 itself, so the
  // tables appear as pages. A walk has a fixed number of levels; it ends whatever the entries say.
  Image img;
  const uint64_t root = img.newTable();
  img.put64(root + 510 * 8, root | P | W);
  const uint64_t va = 0xffffff7fbfdfe000ull;  // 510,510,510,510: the PML4 as a 4 KiB page
  img.peeks = 0;
  auto t = translate(img.peek(), root, va, PagingLevels::k4, img.ram_top);
  REQUIRE(t);
  CHECK(t->phys == root);
  CHECK(img.peeks == 4);
}

TEST_CASE("paging: reads across pages, through the translation cache", "[paging]") {
  Image img;
  const uint64_t root = img.newTable();
  // Two virtual pages side by side on frames far apart.
  img.map(root, 4, 0xffffc90000000000ull, 0x900000, 4096, P | W);
  img.map(root, 4, 0xffffc90000001000ull, 0x500000, 4096, P | W);
  const char msg[] = "a string that crosses a page boundary";
  std::memcpy(img.frame(0x900000).data() + 4096 - 10, msg, 10);
  std::memcpy(img.frame(0x500000).data(), msg + 10, sizeof msg - 10);
  GuestVirtualMemory mem(img.peek(), root, PagingLevels::k4, img.ram_top);
  char got[sizeof msg] = {};
  REQUIRE(mem.read(0xffffc90000000000ull + 4096 - 10, sizeof msg, reinterpret_cast<uint8_t*>(got)));
  CHECK(std::string(got) == msg);
  CHECK(mem.walks() == 2);
  // The same pages again: no walk.
  REQUIRE(mem.read(0xffffc90000000000ull + 4096 - 10, sizeof msg, reinterpret_cast<uint8_t*>(got)));
  CHECK(mem.walks() == 2);
  img.put64(0x500000 + 8, 0x1122334455667788ull);
  auto v = mem.read64(0xffffc90000001008ull);
  REQUIRE(v);
  CHECK(*v == 0x1122334455667788ull);
  // After the guest changes its tables, a flush makes the next read walk them again.
  img.map(root, 4, 0xffffc90000001000ull, 0x600000, 4096, P | W);
  mem.flush();
  img.put64(0x600000 + 8, 42);
  CHECK(*mem.read64(0xffffc90000001008ull) == 42);
  // An unmapped page in the middle of a read: the error, nothing past it.
  auto bad = mem.read(0xffffc90000001ff0ull, 32, reinterpret_cast<uint8_t*>(got));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == goldgate::Error::Code::kNotFound);
}

TEST_CASE("paging: the root and mode from QEMU's info registers", "[paging]") {
  // QEMU 7.2's HMP output for a vCPU at reset (real mode), as printed here.
  const std::string reset =
      "CPU#0\n"
      "EAX=00000000 EBX=00000000 ECX=00000000 EDX=00060fb1\n"
      "ESI=00000000 EDI=00000000 EBP=00000000 ESP=00000000\n"
      "EIP=0000fff0 EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0\n"
      "GDT=     00000000 0000ffff\n"
      "CR0=60000010 CR2=00000000 CR3=00000000 CR4=00000000\n"
      "DR0=0000000000000000 DR1=0000000000000000 DR2=0000000000000000 DR3=0000000000000000 \n"
      "DR6=00000000ffff0ff0 DR7=0000000000000400\n"
      "EFER=0000000000000000\n";
  auto r = parseInfoRegisters(reset);
  REQUIRE(r);
  CHECK(r->cr0 == 0x60000010);
  CHECK_FALSE(r->longMode());
  // The same layout for a vCPU in a 64-bit kernel (its 64-bit registers printed in full), two
  // vCPUs: the first one's registers are read.
  const std::string running =
      "CPU#0\n"
      "RAX=0000000000000000 RBX=ffffffff82613940 RCX=0000000000000001 RDX=0000000000000000\n"
      "CR0=80050033 CR2=00007f3a1c0c1000 CR3=000000000a4e7000 CR4=003506f0\n"
      "DR0=0000000000000000 DR1=0000000000000000 DR2=0000000000000000 DR3=0000000000000000 \n"
      "EFER=0000000000000d01\n"
      "CPU#1\n"
      "CR0=80050033 CR2=0000000000000000 CR3=0000000002a0e000 CR4=003516f0\n"
      "EFER=0000000000000d01\n";
  r = parseInfoRegisters(running);
  REQUIRE(r);
  CHECK(r->cr3 == 0xa4e7000);
  CHECK(r->longMode());
  CHECK(r->levels() == PagingLevels::k4);
  // Page-table isolation: the user half of the pair is CR3's page; the kernel's is the one before.
  CHECK(kernelRootCandidates(r->cr3) == std::array<uint64_t, 2>{0xa4e7000, 0xa4e6000});
  // CPU#1 has LA57 (CR4 bit 12) in this sample.
  r = parseInfoRegisters(running.substr(running.find("CPU#1")));
  REQUIRE(r);
  CHECK(r->levels() == PagingLevels::k5);
  // Missing and malformed registers.
  auto bad = parseInfoRegisters("CR0=80050033 CR4=003506f0\nEFER=0d01\n");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message == "info registers: no CR3");
  bad = parseInfoRegisters("CR0=80050033 CR3=zz CR4=0 EFER=0\n");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("CR3 is not") != std::string::npos);
}

TEST_CASE("paging: the kernel image found from the page tables, wherever KASLR put it", "[paging]") {
  // A kernel at a randomised 2 MiB step of the kernel-image region: three pages of text (read-only,
  // executable), then read-only data with the banner in its second page, then writable data; the
  // region outside the image unmapped, as the kernel leaves it.
  for (uint64_t slot : {uint64_t{1}, uint64_t{7}, uint64_t{300}}) {
    Image img;
    const uint64_t root = img.newTable();
    const uint64_t text = kKernelMapStart + slot * (2ull << 20);
    const uint64_t phys = 0x20000000 + slot * (2ull << 20);
    for (int i = 0; i < 3; ++i) img.map(root, 4, text + i * (2ull << 20), phys + i * (2ull << 20), 2 << 20, P);
    for (int i = 3; i < 5; ++i) img.map(root, 4, text + i * (2ull << 20), phys + i * (2ull << 20), 2 << 20, P | NX);
    img.map(root, 4, text + 5 * (2ull << 20), phys + 5 * (2ull << 20), 2 << 20, P | W | NX);
    const std::string banner = "Linux version 6.1.0-28-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP\n";
    const uint64_t bannerPhys = phys + 4 * (2ull << 20) + 0x1ff0;  // across a 4 KiB boundary
    for (size_t i = 0; i < banner.size(); ++i) img.frame(bannerPhys + i)[(bannerPhys + i) & 0xfff] = banner[i];
    GuestVirtualMemory mem(img.peek(), root, PagingLevels::k4, img.ram_top);
    auto k = locateKernel(mem);
    INFO("slot " << slot);
    REQUIRE(k);
    CHECK(k->text == text);
    CHECK(k->text_phys == phys);
    CHECK(k->text_end == text + 3 * (2ull << 20));
    CHECK(k->banner == text + 4 * (2ull << 20) + 0x1ff0);
    CHECK(k->banner_text == "Linux version 6.1.0-28-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP");
  }
  // A root that maps nothing there (a user-only table): said so.
  Image empty;
  const uint64_t root = empty.newTable();
  empty.map(root, 4, 0x400000, 0x400000, 4096, P | U);
  GuestVirtualMemory mem(empty.peek(), root, PagingLevels::k4, empty.ram_top);
  auto none = locateKernel(mem);
  REQUIRE_FALSE(none);
  CHECK(none.error().code == goldgate::Error::Code::kNotFound);
}
