// A synthetic guest kernel in guest-virtual memory, for the kernel walker's unit tests and fuzz
// target: a profile with a made-up layout, and the structures it describes (task list with
// executables on mounts, module list and module kobjects, system-call table, IDT, text with
// relocations), placed at KASLR-slid addresses in a sparse memory. Tests break it on purpose.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "goldgate/hostmon/kernel_profile.h"
#include "kernel_walk.h"

namespace goldgate::hostmon::synthetic {

inline constexpr uint64_t kLinkText = 0xffffffff81000000ull;
inline constexpr uint64_t kTextLen = 0x10000;

struct Memory {
  std::map<uint64_t, std::vector<uint8_t>> pages;  // va page → 4 KiB
  uint64_t reads = 0;
  std::vector<uint8_t>& page(uint64_t va) {
    auto& p = pages[va & ~0xfffull];
    if (p.empty()) p.assign(4096, 0);
    return p;
  }
  void put(uint64_t va, const void* data, size_t n) {
    const auto* b = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < n;) {  // page by page
      const size_t at = (va + i) & 0xfff, len = std::min<size_t>(n - i, 4096 - at);
      std::memcpy(page(va + i).data() + at, b + i, len);
      i += len;
    }
  }
  void put64(uint64_t va, uint64_t v) { put(va, &v, 8); }
  void put32(uint64_t va, uint32_t v) { put(va, &v, 4); }
  uint64_t get64(uint64_t va) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{page(va + i)[(va + i) & 0xfff]} << (8 * i);
    return v;
  }
  VirtualReadFn reader() {
    return [this](uint64_t va, size_t n, uint8_t* out) -> Result<void> {
      ++reads;
      for (size_t i = 0; i < n;) {  // page by page
        auto it = pages.find((va + i) & ~0xfffull);
        if (it == pages.end()) return makeError(Error::Code::kNotFound, "not mapped");
        const size_t at = (va + i) & 0xfff, len = std::min<size_t>(n - i, 4096 - at);
        std::memcpy(out + i, it->second.data() + at, len);
        i += len;
      }
      return {};
    };
  }
};

// The made-up layout.
namespace off {
inline constexpr uint64_t tasks = 0x10, pid = 0x20, tgid = 0x24, comm = 0x30, real_parent = 0x40, real_cred = 0x48,
                          mm = 0x50, flags = 0x58, start_time = 0x60, exit_state = 0x68, group_leader = 0x70;
inline constexpr uint64_t cred_uid = 4, mm_exe = 0x10, f_path = 0x8, path_mnt = 0, path_dentry = 8;
inline constexpr uint64_t d_parent = 0x18, d_name = 0x20, qstr_len = 4, qstr_name = 8;
inline constexpr uint64_t mount_mnt = 0x20, mount_parent = 0x10, mount_mountpoint = 0x18;
inline constexpr uint64_t mod_state = 0, mod_list = 8, mod_name = 0x18, mod_mkobj = 0x60, mk_kobj = 0, kobj_entry = 8,
                          mk_mod = 0x40, mod_base = 0x100, mod_size = 0x108, kset_list = 0;
}  // namespace off

inline KernelProfile profile() {
  KernelProfile p;
  p.banner = "Linux version 6.1.0-99-synthetic (test) #1 SMP";
  p.release = "6.1.0-99-synthetic";
  p.symbols = {{"_text", kLinkText},
               {"_stext", kLinkText + 0x1000},
               {"_etext", kLinkText + kTextLen},
               {"__start_rodata", 0xffffffff82000000ull},
               {"__end_rodata", 0xffffffff82100000ull},
               {"linux_banner", 0xffffffff82000100ull},
               {"sys_call_table", 0xffffffff82001000ull},
               {"idt_table", 0xffffffff82a00000ull},
               {"init_task", 0xffffffff82a10000ull},
               {"modules", 0xffffffff82a20000ull},
               {"module_kset", 0xffffffff82a20100ull},
               {"__start___jump_table", 0xffffffff82a30000ull},
               {"__stop___jump_table", 0xffffffff82a30000ull},
               {"early_idt_handler_array", 0xffffffff83000000ull},
               {"early_idt_handler_common", 0xffffffff83000120ull}};
  using namespace off;
  p.members = {{"list_head.next", 0},
               {"list_head.prev", 8},
               {"task_struct.tasks", tasks},
               {"task_struct.pid", pid},
               {"task_struct.tgid", tgid},
               {"task_struct.comm", comm},
               {"task_struct.real_parent", real_parent},
               {"task_struct.real_cred", real_cred},
               {"task_struct.mm", mm},
               {"task_struct.flags", flags},
               {"task_struct.start_time", start_time},
               {"task_struct.exit_state", exit_state},
               {"task_struct.group_leader", group_leader},
               {"cred.uid", cred_uid},
               {"mm_struct.exe_file", mm_exe},
               {"file.f_path", f_path},
               {"path.mnt", path_mnt},
               {"path.dentry", path_dentry},
               {"dentry.d_parent", d_parent},
               {"dentry.d_name", d_name},
               {"qstr.name", qstr_name},
               {"qstr.len", qstr_len},
               {"mount.mnt", mount_mnt},
               {"mount.mnt_parent", mount_parent},
               {"mount.mnt_mountpoint", mount_mountpoint},
               {"vfsmount.mnt_root", 0},
               {"module.list", mod_list},
               {"module.name", mod_name},
               {"module.state", mod_state},
               {"module.mkobj", mod_mkobj},
               {"module_kobject.kobj", mk_kobj},
               {"module_kobject.mod", mk_mod},
               {"kobject.entry", kobj_entry},
               {"kset.list", kset_list},
               {"module.core_layout.base", mod_base},
               {"module.core_layout.size", mod_size}};
  p.sizes = {{"task_struct", 0x400}, {"module", 0x200}, {"task_struct.comm", 16}, {"module.name", 56}};
  p.syscall_count = 16;
  p.text_relocs32 = {0x2000};
  p.text_relocs32_inverse = {0x3000};
  p.text_relocs64 = {0x4000};
  p.text_jump_sites = {0x6000, 0x80000000u | 0x6100};
  return p;
}

// A running kernel: the profile's structures at link address + slide, objects on a heap.
struct Kernel {
  KernelProfile prof = profile();
  uint64_t slide = 0x1e000000;
  Memory mem;
  uint64_t heap = 0xffff888000100000ull;
  std::vector<uint64_t> tasks;    // task_struct addresses in list order (init_task first)
  std::vector<uint64_t> modules;  // struct module addresses on the list
  std::vector<uint64_t> kobjs;    // kobject entries on the kset list
  uint64_t root_mount = 0, root_dentry = 0;

  uint64_t sym(const char* s) const { return prof.symbol(s) + slide; }
  uint64_t alloc(uint64_t n) {
    const uint64_t a = heap;
    heap += (n + 0xff) & ~0xffull;
    mem.page(a);
    for (uint64_t p = a; p < a + n; p += 4096) mem.page(p);
    mem.page(a + n - 1);
    return a;
  }

  Kernel() {
    // Text: mapped, with a value at each relocation as the loader left it.
    std::vector<uint8_t> text(kTextLen, 0x90);
    mem.put(sym("_text"), text.data(), text.size());
    mem.put32(sym("_text") + 0x2000, static_cast<uint32_t>(0x81001234u + slide));
    mem.put32(sym("_text") + 0x3000, static_cast<uint32_t>(0x00005678u - slide));
    mem.put64(sym("_text") + 0x4000, kLinkText + 0x1234 + slide);
    mem.put(sym("linux_banner"), prof.banner.data(), prof.banner.size());
    // System-call table and IDT pointing into text.
    for (uint32_t i = 0; i < prof.syscall_count; ++i)
      mem.put64(sym("sys_call_table") + 8 * i, sym("_stext") + 0x10 * i);
    for (uint32_t i = 0; i < 256; ++i) setGate(i, sym("_stext") + 0x100 + i);
    // The root filesystem: one mount whose parent is itself, a root dentry whose parent is itself.
    root_mount = alloc(0x100);
    mem.put64(root_mount + off::mount_parent, root_mount);
    root_dentry = dentry("", 0);
    // init_task (pid 0) heads an empty task list; modules and the kset start empty.
    const uint64_t init = sym("init_task");
    mem.put64(init + off::tasks, init + off::tasks);
    mem.put64(init + off::tasks + 8, init + off::tasks);
    tasks.push_back(init);
    mem.put64(sym("modules"), sym("modules"));
    mem.put64(sym("modules") + 8, sym("modules"));
    const uint64_t kset = alloc(0x100);
    mem.put64(sym("module_kset"), kset);
    mem.put64(kset + off::kset_list, kset + off::kset_list);
    mem.put64(kset + off::kset_list + 8, kset + off::kset_list);
  }

  void setGate(uint32_t i, uint64_t target, bool present = true) {
    uint8_t g[16] = {};
    const uint16_t lo = target & 0xffff, mid = (target >> 16) & 0xffff;
    const uint32_t hi = static_cast<uint32_t>(target >> 32);
    std::memcpy(g, &lo, 2);
    g[2] = 0x10;
    g[5] = present ? 0x8e : 0x0e;
    std::memcpy(g + 6, &mid, 2);
    std::memcpy(g + 8, &hi, 4);
    mem.put(sym("idt_table") + 16 * i, g, 16);
  }

  uint64_t dentry(const std::string& name, uint64_t parent) {
    const uint64_t d = alloc(0x100);
    mem.put64(d + off::d_parent, parent ? parent : d);
    const uint64_t n = alloc(name.size() + 1);
    mem.put(n, name.c_str(), name.size() + 1);
    mem.put32(d + off::d_name + off::qstr_len, static_cast<uint32_t>(name.size()));
    mem.put64(d + off::d_name + off::qstr_name, n);
    return d;
  }

  // A dentry for an absolute path on the root mount.
  uint64_t path(const std::string& p) {
    uint64_t d = root_dentry;
    size_t at = 1;
    while (at < p.size()) {
      size_t slash = p.find('/', at);
      if (slash == std::string::npos) slash = p.size();
      d = dentry(p.substr(at, slash - at), d);
      at = slash + 1;
    }
    return d;
  }

  // Appends a list entry `node` before `head` (list_add_tail).
  void linkTail(uint64_t head, uint64_t node) {
    const uint64_t last = mem.get64(head + 8);
    mem.put64(node, head);
    mem.put64(node + 8, last);
    mem.put64(last, node);
    mem.put64(head + 8, node);
  }

  // A process (or kernel thread with exe ""), appended to the task list.
  uint64_t addTask(int32_t pid, const std::string& comm, const std::string& exe, uint64_t parent = 0, uint32_t uid = 0,
                   uint64_t mount = 0) {
    const uint64_t t = alloc(0x400);
    mem.put32(t + off::pid, static_cast<uint32_t>(pid));
    mem.put32(t + off::tgid, static_cast<uint32_t>(pid));
    char c[16] = {};
    std::strncpy(c, comm.c_str(), 15);
    mem.put(t + off::comm, c, 16);
    mem.put64(t + off::real_parent, parent ? parent : sym("init_task"));
    const uint64_t cred = alloc(0x40);
    mem.put32(cred + off::cred_uid, uid);
    mem.put64(t + off::real_cred, cred);
    mem.put64(t + off::start_time, 1000000ull * static_cast<uint64_t>(pid));
    if (exe.empty()) {
      mem.put32(t + off::flags, 0x00200000);  // PF_KTHREAD
    } else {
      const uint64_t mm = alloc(0x40), file = alloc(0x40);
      mem.put64(t + off::mm, mm);
      mem.put64(mm + off::mm_exe, file);
      mem.put64(file + off::f_path + off::path_mnt, (mount ? mount : root_mount) + off::mount_mnt);
      mem.put64(file + off::f_path + off::path_dentry, path(exe));
    }
    linkTail(sym("init_task") + off::tasks, t + off::tasks);
    tasks.push_back(t);
    return t;
  }

  // A module: on the list, in the kset, or both.
  uint64_t addModule(const std::string& name, bool inList = true, bool inSysfs = true) {
    const uint64_t m = alloc(0x200);
    char n[56] = {};
    std::strncpy(n, name.c_str(), 55);
    mem.put(m + off::mod_name, n, 56);
    mem.put64(m + off::mod_base, 0xffffffffc0000000ull + 0x10000 * modules.size());
    mem.put32(m + off::mod_size, 0x8000);
    if (inList) {
      linkTail(sym("modules"), m + off::mod_list);
      modules.push_back(m);
    }
    const uint64_t mk = m + off::mod_mkobj;
    mem.put64(mk + off::mk_mod, m);
    if (inSysfs) {
      const uint64_t kset = mem.get64(sym("module_kset"));
      linkTail(kset + off::kset_list, mk + off::mk_kobj + off::kobj_entry);
      kobjs.push_back(mk + off::mk_kobj + off::kobj_entry);
    }
    return m;
  }

  WalkTarget target() const {
    WalkTarget t;
    t.profile = &prof;
    t.text = prof.symbol("_text") + slide;
    return t;
  }
};

}  // namespace goldgate::hostmon::synthetic
