// Unit tests of the kernel walker (hostmon/src/kernel_walk.cc) and cross-view
// (hostmon/src/cross_view.cc) on a synthetic guest kernel (synthetic_kernel.h): processes with
// their executables across mounts, modules on the list and in sysfs, hooks in the system-call
// table and the IDT, a text hash KASLR does not change; and hostile memory: cyclic, torn and
// oversized lists, pointers out of the kernel, names without an end, a pass out of time.
#include <catch2/catch.hpp>

#include "cross_view.h"
#include "synthetic_kernel.h"

using namespace goldgate::hostmon;
using namespace goldgate::hostmon::synthetic;

namespace {

const KernelProcess* byPid(const KernelWalk& w, int32_t pid) {
  for (const auto& p : w.processes)
    if (p.pid == pid) return &p;
  return nullptr;
}

const KernelModule* byName(const KernelWalk& w, const std::string& name) {
  for (const auto& m : w.modules)
    if (m.name == name) return &m;
  return nullptr;
}

}  // namespace

TEST_CASE("kernel walk: processes, parents, users and executables", "[kernel_walk]") {
  Kernel k;
  const uint64_t init = k.addTask(1, "init", "/sbin/init");
  k.addTask(2, "kthreadd", "");
  const uint64_t sh = k.addTask(40, "sh", "/bin/busybox", init, 0);
  k.addTask(41, "app-listen", "/usr/local/bin/app-listen", sh, 1000);
  // A process on another mount: /mnt/data mounted at /mnt, running /mnt/data/tool.
  const uint64_t mnt = k.path("/mnt");
  const uint64_t mount = k.alloc(0x100), mroot = k.dentry("", 0);
  k.mem.put64(mount + off::mount_parent, k.root_mount);
  k.mem.put64(mount + off::mount_mountpoint, mnt);
  const uint64_t t = k.addTask(42, "tool", "", init);
  const uint64_t mm = k.alloc(0x40), file = k.alloc(0x40);
  k.mem.put32(t + off::flags, 0);
  k.mem.put64(t + off::mm, mm);
  k.mem.put64(mm + off::mm_exe, file);
  k.mem.put64(file + off::f_path + off::path_mnt, mount + off::mount_mnt);
  k.mem.put64(file + off::f_path + off::path_dentry, k.dentry("tool", k.dentry("data", mroot)));

  auto w = walkKernel(k.mem.reader(), k.target());
  REQUIRE(w);
  CHECK_FALSE(w->partial);
  CHECK(w->slide == k.slide);
  REQUIRE(w->processes.size() == 5);
  CHECK(byPid(*w, 0) == nullptr);  // the idle task is the list's head, not a process
  CHECK(byPid(*w, 1)->exe == "/sbin/init");
  CHECK(byPid(*w, 1)->ppid == 0);
  CHECK(byPid(*w, 2)->kernel_thread);
  CHECK(byPid(*w, 2)->exe.empty());
  CHECK(byPid(*w, 40)->ppid == 1);
  CHECK(byPid(*w, 41)->ppid == 40);
  CHECK(byPid(*w, 41)->uid == 1000);
  CHECK(byPid(*w, 41)->comm == "app-listen");
  CHECK(byPid(*w, 41)->exe == "/usr/local/bin/app-listen");
  CHECK(byPid(*w, 42)->exe == "/mnt/data/tool");
}

TEST_CASE("kernel walk: modules from the list and from sysfs, an unlinked one still found", "[kernel_walk]") {
  Kernel k;
  k.addTask(1, "init", "/sbin/init");
  k.addModule("virtio_net");
  k.addModule("hider", /*inList=*/false, /*inSysfs=*/true);
  auto w = walkKernel(k.mem.reader(), k.target());
  REQUIRE(w);
  REQUIRE(w->modules.size() == 2);
  CHECK(byName(*w, "virtio_net")->in_list);
  CHECK(byName(*w, "virtio_net")->in_sysfs);
  CHECK_FALSE(byName(*w, "hider")->in_list);
  CHECK(byName(*w, "hider")->in_sysfs);
  CHECK(byName(*w, "hider")->size == 0x8000);
}

TEST_CASE("kernel walk: system-call table and IDT entries outside kernel text are hooks", "[kernel_walk]") {
  Kernel k;
  k.addTask(1, "init", "/sbin/init");
  const uint64_t mod = k.addModule("rootkit");
  const uint64_t base = k.mem.get64(mod + off::mod_base);
  k.mem.put64(k.sym("sys_call_table") + 8 * 3, base + 0x40);  // into the module
  k.setGate(14, 0xffff888012345678ull);                       // into the heap
  k.setGate(200, 0xffff888000000000ull, /*present=*/false);   // not present: ignored
  auto w = walkKernel(k.mem.reader(), k.target());
  REQUIRE(w);
  CHECK(w->integrity.syscalls == 16);
  REQUIRE(w->integrity.syscall_hooks.size() == 1);
  CHECK(w->integrity.syscall_hooks[0].index == 3);
  CHECK(w->integrity.syscall_hooks[0].where == "module rootkit+0x40");
  CHECK(w->integrity.idt_gates == 255);
  REQUIRE(w->integrity.idt_hooks.size() == 1);
  CHECK(w->integrity.idt_hooks[0].index == 14);
  CHECK(w->integrity.idt_hooks[0].where == "outside kernel text and modules");
}

TEST_CASE("kernel walk: the text hash is the same under any KASLR slide, and changes with the text", "[kernel_walk]") {
  Kernel a;
  Kernel c;
  auto wa = walkKernel(a.mem.reader(), a.target());
  REQUIRE(wa);
  CHECK(wa->integrity.text_bytes == kTextLen);
  // The same text loaded at another slide: relocated values differ in memory, the hash does not.
  KernelProfile p = profile();
  std::vector<uint8_t> text(kTextLen, 0x90), text2(kTextLen, 0x90);
  auto put32 = [](std::vector<uint8_t>& t, size_t off, uint32_t v) { std::memcpy(&t[off], &v, 4); };
  auto put64 = [](std::vector<uint8_t>& t, size_t off, uint64_t v) { std::memcpy(&t[off], &v, 8); };
  for (auto [t, slide] : {std::pair{&text, uint64_t{0x1e000000}}, {&text2, uint64_t{0x3c400000}}}) {
    put32(*t, 0x2000, static_cast<uint32_t>(0x81001234u + slide));
    put32(*t, 0x3000, static_cast<uint32_t>(0x00005678u - slide));
    put64(*t, 0x4000, kLinkText + 0x1234 + slide);
  }
  CHECK(text != text2);
  CHECK(relocatedTextHash(text, p, 0x1e000000) == relocatedTextHash(text2, p, 0x3c400000));
  CHECK(relocatedTextHash(text, p, 0x1e000000) == wa->integrity.text_sha256);
  // One byte of text patched (an inline hook): another hash.
  text2[0x5000] = 0xcc;
  CHECK(relocatedTextHash(text, p, 0x1e000000) != relocatedTextHash(text2, p, 0x3c400000));
  c.mem.put(c.sym("_text") + 0x5000, "\xcc", 1);
  auto wc = walkKernel(c.mem.reader(), c.target());
  REQUIRE(wc);
  CHECK(wc->integrity.text_sha256 != wa->integrity.text_sha256);
}

TEST_CASE("kernel walk: hostile lists end, bounded, and say why", "[kernel_walk]") {
  SECTION("a task list that loops back into itself (not through the head)") {
    Kernel k;
    k.addTask(1, "init", "/sbin/init");
    const uint64_t t2 = k.addTask(2, "a", "/bin/a");
    k.addTask(3, "b", "/bin/b");
    // b's next points back to a: the walk never sees the head again.
    k.mem.put64(k.tasks[3] + off::tasks, t2 + off::tasks);
    auto w = walkKernel(k.mem.reader(), k.target());
    REQUIRE(w);
    CHECK(w->partial);
    CHECK(w->torn_retries == 2);
    REQUIRE_FALSE(w->problems.empty());
    CHECK_THAT(w->problems[0], Catch::Contains("processes"));
  }
  SECTION("a pointer out of the kernel half") {
    Kernel k;
    k.addTask(1, "init", "/sbin/init");
    k.mem.put64(k.tasks[1] + off::tasks, 0x00007f0000001000ull);
    auto w = walkKernel(k.mem.reader(), k.target());
    REQUIRE(w);
    CHECK(w->partial);
    CHECK_THAT(w->problems[0], Catch::Contains("not a kernel address"));
  }
  SECTION("more tasks than the bound") {
    Kernel k;
    for (int i = 1; i <= 40; ++i) k.addTask(i, "t", "");
    WalkLimits lim;
    lim.max_tasks = 16;
    auto w = walkKernel(k.mem.reader(), k.target(), lim);
    REQUIRE(w);
    CHECK(w->partial);
    CHECK(w->processes.size() == 16);
    CHECK_THAT(w->problems[0], Catch::Contains("more than 16 tasks"));
  }
  SECTION("a list changed under the walk: retried, then whole") {
    Kernel k;
    k.addTask(1, "init", "/sbin/init");
    k.addTask(2, "x", "/bin/x");
    // The first read of task 2's links sees a stale prev (as if the guest were mid-insert).
    const uint64_t prevSlot = k.tasks[2] + off::tasks + 8;
    const uint64_t good = k.mem.get64(prevSlot);
    k.mem.put64(prevSlot, 0xffff888000abc000ull);
    int torn = 1;
    auto inner = k.mem.reader();
    VirtualReadFn read = [&](uint64_t va, size_t n, uint8_t* out) {
      auto r = inner(va, n, out);
      if (torn && va <= prevSlot && prevSlot < va + n) {
        --torn;
        k.mem.put64(prevSlot, good);  // the guest finished its change
      }
      return r;
    };
    auto w = walkKernel(read, k.target());
    REQUIRE(w);
    CHECK_FALSE(w->partial);
    CHECK(w->torn_retries == 1);
    CHECK(w->processes.size() == 2);
  }
  SECTION("names without an end and paths that loop are cut, not followed forever") {
    Kernel k;
    const uint64_t t = k.addTask(1, "init", "/sbin/init");
    k.mem.put(t + off::comm, "AAAAAAAAAAAAAAAAAAAAAAAA", 24);  // no NUL in comm's 16 bytes
    // The executable's dentry is its own grandparent's child in a loop: d → p → d …
    const uint64_t d = k.dentry("x", 0), p = k.dentry("y", d);
    k.mem.put64(d + off::d_parent, p);
    const uint64_t file = k.mem.get64(k.mem.get64(t + off::mm) + off::mm_exe);
    k.mem.put64(file + off::f_path + off::path_dentry, d);
    auto w = walkKernel(k.mem.reader(), k.target());
    REQUIRE(w);
    CHECK(byPid(*w, 1)->comm == "AAAAAAAAAAAAAAAA");
    CHECK(byPid(*w, 1)->exe == "?");
  }
  SECTION("a module list that is a loop; a kset entry forging a module") {
    Kernel k;
    k.addTask(1, "init", "/sbin/init");
    const uint64_t m1 = k.addModule("a");
    k.mem.put64(m1 + off::mod_list, m1 + off::mod_list);  // a → a
    auto w = walkKernel(k.mem.reader(), k.target());
    REQUIRE(w);
    CHECK(w->partial);
    bool named = false;
    for (const auto& pr : w->problems) named = named || pr.find("modules") != std::string::npos;
    CHECK(named);
  }
  SECTION("out of time: partial, says so") {
    Kernel k;
    for (int i = 1; i <= 10; ++i) k.addTask(i, "t", "/bin/t");
    WalkLimits lim;
    lim.out_of_time = [] { return true; };
    auto w = walkKernel(k.mem.reader(), k.target(), lim);
    REQUIRE(w);
    CHECK(w->partial);
    CHECK_THAT(w->problems[0], Catch::Contains("out of time"));
  }
  SECTION("the wrong profile (nothing where init_task should be) is an error, not a view") {
    Kernel k;
    WalkTarget t = k.target();
    t.text += 0x40000000;  // a slide that maps nothing
    auto w = walkKernel(k.mem.reader(), t);
    REQUIRE_FALSE(w);
    CHECK_THAT(w.error().message, Catch::Contains("does not fit"));
  }
}

TEST_CASE("cross-view: hidden processes, hidden modules and phantoms need views that bracket each other",
          "[kernel_walk][cross_view]") {
  auto mem = [](int64_t t, std::map<int32_t, std::string> procs, std::set<std::string> mods = {}) {
    ViewSnapshot s;
    s.start_ns = t;
    s.end_ns = t + 10;
    for (auto& [pid, name] : procs) s.processes[pid] = {name, "/bin/" + name, static_cast<uint64_t>(pid) * 7};
    s.modules = std::move(mods);
    return s;
  };
  auto agent = [](int64_t t, std::map<int32_t, std::string> procs, std::set<std::string> mods = {}) {
    ViewSnapshot s;
    s.start_ns = t;
    s.end_ns = t + 100;
    for (auto& [pid, name] : procs) s.processes[pid] = {name, "/bin/" + name, 0};
    s.modules = std::move(mods);
    return s;
  };
  CrossViewHistory h;
  // Memory at 0 and 1000 has pid 7; the agent's listing at 500 (wholly between) does not.
  auto m1 = mem(0, {{1, "init"}, {7, "miner"}}, {"virtio_net", "hider"});
  auto a1 = agent(500, {{1, "init"}}, {"virtio_net"});
  auto m2 = mem(1000, {{1, "init"}, {7, "miner"}}, {"virtio_net", "hider"});
  CHECK(crossView(h, &m1, nullptr, 1).empty());
  CHECK(crossView(h, nullptr, &a1, 2).empty());  // one memory pass proves nothing yet
  auto out = crossView(h, &m2, nullptr, 3);
  REQUIRE(out.size() == 2);
  CHECK(out[0].kind == "disagreement.hidden_process");
  CHECK_THAT(out[0].detail, Catch::Contains("pid 7 (miner)"));
  CHECK(out[0].trust == Trust::kHypervisorObserved);
  CHECK(out[1].kind == "disagreement.hidden_module");
  CHECK_THAT(out[1].detail, Catch::Contains("hider"));
  // Said once.
  auto m3 = mem(2000, {{1, "init"}, {7, "miner"}}, {"virtio_net", "hider"});
  CHECK(crossView(h, &m3, nullptr, 4).empty());

  SECTION("a process born after the agent's listing is not hidden") {
    CrossViewHistory g;
    auto x1 = mem(0, {{1, "init"}});
    auto y = agent(500, {{1, "init"}});
    auto x2 = mem(1000, {{1, "init"}, {9, "new"}});
    auto x3 = mem(2000, {{1, "init"}, {9, "new"}});
    crossView(g, &x1, &y, 1);
    CHECK(crossView(g, &x2, nullptr, 2).empty());
    CHECK(crossView(g, &x3, nullptr, 3).empty());  // no agent listing between x2 and x3
  }
  SECTION("a listing that overlaps a memory pass brackets nothing") {
    CrossViewHistory g;
    auto x1 = mem(0, {{1, "init"}, {7, "m"}});
    auto y = agent(-50, {{1, "init"}});  // started before x1 ended
    auto x2 = mem(1000, {{1, "init"}, {7, "m"}});
    crossView(g, &x1, &y, 1);
    CHECK(crossView(g, &x2, nullptr, 2).empty());
  }
  SECTION("a reused pid (another start time) is not the same process") {
    CrossViewHistory g;
    auto x1 = mem(0, {{1, "init"}, {7, "m"}});
    auto y = agent(500, {{1, "init"}});
    auto x2 = mem(1000, {{1, "init"}, {7, "m"}});
    x2.processes[7].start_time = 12345;
    crossView(g, &x1, &y, 1);
    CHECK(crossView(g, &x2, nullptr, 2).empty());
  }
  SECTION("phantom: listed twice by the agent, absent from memory between") {
    CrossViewHistory g;
    auto y1 = agent(0, {{1, "init"}, {66, "ghost"}}, {"fake_mod"});
    auto x = mem(500, {{1, "init"}});
    auto y2 = agent(1000, {{1, "init"}, {66, "ghost"}}, {"fake_mod"});
    crossView(g, nullptr, &y1, 1);
    crossView(g, &x, nullptr, 2);
    auto o = crossView(g, nullptr, &y2, 3);
    REQUIRE(o.size() == 2);
    CHECK(o[0].kind == "disagreement.phantom");
    CHECK_THAT(o[0].detail, Catch::Contains("pid 66 (ghost)"));
    CHECK_THAT(o[1].detail, Catch::Contains("module fake_mod"));
  }
}
