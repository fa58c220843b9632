#include "kernel_walk.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "parse_util.h"

namespace goldgate::hostmon {
namespace {

std::string hex(uint64_t v) { return hexAddress(v); }

// A pointer the walker may follow: in the kernel half of the address space (4- and 5-level
// paging both put it at 0xff00… and above) and aligned as every structure the walker reads is.
bool kernelPointer(uint64_t p) { return (p >> 56) == 0xff && (p & 7) == 0; }

uint64_t le64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
uint32_t le32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint16_t le16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// A printable copy of a name read from the guest: up to the first NUL, at most `max` bytes,
// control characters and bytes past ASCII shown as '?' (names reach alerts and terminals).
std::string cleanName(const uint8_t* p, size_t max) {
  std::string s;
  for (size_t i = 0; i < max && p[i]; ++i) s += p[i] >= 0x20 && p[i] < 0x7f ? static_cast<char>(p[i]) : '?';
  return s;
}

// The layout the walker uses, resolved from the profile once per pass.
struct Layout {
  uint64_t tasks, pid, tgid, comm, comm_size, real_parent, real_cred, mm, flags, start_time, exit_state;
  uint64_t cred_uid, mm_exe, f_path, path_mnt, path_dentry, d_parent, d_name, qstr_name, qstr_len;
  uint64_t mount_mnt, mount_parent, mount_mountpoint;
  uint64_t mod_list, mod_name, mod_name_size, mod_state, mod_mkobj, mk_kobj, mk_mod, kobj_entry, kset_list;
  bool core_layout = false;
  uint64_t mod_base = 0, mod_size = 0;
};

Result<Layout> layoutOf(const KernelProfile& p) {
  Layout l{};
  std::string missing;
  auto m = [&](const char* name, uint64_t& out) {
    if (auto r = p.member(name)) out = *r;
    else missing += (missing.empty() ? "" : ", ") + std::string(name);
  };
  m("task_struct.tasks", l.tasks), m("task_struct.pid", l.pid), m("task_struct.tgid", l.tgid);
  m("task_struct.comm", l.comm), m("task_struct.real_parent", l.real_parent);
  m("task_struct.real_cred", l.real_cred), m("task_struct.mm", l.mm), m("task_struct.flags", l.flags);
  m("task_struct.start_time", l.start_time), m("task_struct.exit_state", l.exit_state), m("cred.uid", l.cred_uid);
  m("mm_struct.exe_file", l.mm_exe), m("file.f_path", l.f_path), m("path.mnt", l.path_mnt);
  m("path.dentry", l.path_dentry), m("dentry.d_parent", l.d_parent), m("dentry.d_name", l.d_name);
  m("qstr.name", l.qstr_name), m("qstr.len", l.qstr_len), m("mount.mnt", l.mount_mnt);
  m("mount.mnt_parent", l.mount_parent), m("mount.mnt_mountpoint", l.mount_mountpoint);
  m("module.list", l.mod_list), m("module.name", l.mod_name), m("module.state", l.mod_state);
  m("module.mkobj", l.mod_mkobj), m("module_kobject.kobj", l.mk_kobj), m("module_kobject.mod", l.mk_mod);
  m("kobject.entry", l.kobj_entry), m("kset.list", l.kset_list);
  if (!missing.empty()) return makeError(Error::Code::kNotFound, "the kernel profile lacks " + missing);
  auto size = [&](const char* name, uint64_t dflt) {
    auto it = p.sizes.find(name);
    return it == p.sizes.end() || it->second == 0 || it->second > 4096 ? dflt : it->second;
  };
  l.comm_size = size("task_struct.comm", 16);
  l.mod_name_size = size("module.name", 56);
  if (auto b = p.member("module.core_layout.base"), s = p.member("module.core_layout.size"); b && s) {
    l.core_layout = true;
    l.mod_base = *b;
    l.mod_size = *s;
  }
  return l;
}

// A span of one structure read at once: the fields a walker needs usually lie within a few hundred
// bytes of each other, so one read replaces one per field.
class Window {
 public:
  Window(std::initializer_list<std::pair<uint64_t, uint64_t>> fields) {  // (offset, size)
    lo_ = ~uint64_t{0};
    for (auto [off, size] : fields) {
      lo_ = std::min(lo_, off);
      hi_ = std::max(hi_, off + size);
    }
    buf_.resize(hi_ - lo_);
  }
  bool load(class Walker& w, uint64_t base);
  uint64_t u64(uint64_t off) const { return le64(buf_.data() + (off - lo_)); }
  uint32_t u32(uint64_t off) const { return le32(buf_.data() + (off - lo_)); }
  const uint8_t* at(uint64_t off) const { return buf_.data() + (off - lo_); }

 private:
  uint64_t lo_ = 0, hi_ = 0;
  std::vector<uint8_t> buf_;
};

class Walker {
 public:
  Walker(const VirtualReadFn& read, const KernelProfile& p, const Layout& l, const WalkLimits& lim, KernelWalk& out)
      : read_(read), p_(p), l_(l), lim_(lim), out_(out) {}

  bool read(uint64_t va, size_t n, uint8_t* buf) {
    ++out_.reads;
    out_.bytes += n;
    return static_cast<bool>(read_(va, n, buf));
  }
  std::optional<uint64_t> ptr(uint64_t va) {
    uint8_t b[8];
    if (!read(va, 8, b)) return std::nullopt;
    return le64(b);
  }
  uint64_t sym(const char* name) const { return p_.symbol(name) + out_.slide; }
  bool outOfTime() const { return lim_.out_of_time && lim_.out_of_time(); }

  // The task list, from init_task. Returns false when the list changed under the walk (a next
  // pointer whose prev does not point back, an unreadable or non-kernel pointer, a loop that does
  // not close at the head): the caller restarts it.
  enum class Pass { kDone, kTorn, kBounded, kTime };
  Pass walkTasks(std::vector<KernelProcess>& procs, std::string& why) {
    procs.clear();
    const uint64_t head = sym("init_task") + l_.tasks;
    Window w({{l_.tasks, 16},
              {l_.pid, 4},
              {l_.tgid, 4},
              {l_.comm, l_.comm_size},
              {l_.real_parent, 8},
              {l_.real_cred, 8},
              {l_.mm, 8},
              {l_.flags, 4},
              {l_.start_time, 8},
              {l_.exit_state, 4}});
    auto first = ptr(head);
    if (!first || !kernelPointer(*first)) {
      why = "the task list head at " + hex(head) + " cannot be read";
      return Pass::kTorn;
    }
    std::unordered_set<uint64_t> seen;
    std::unordered_map<uint64_t, int32_t> tgidOf;  // task → tgid, for the parents
    std::vector<uint64_t> parents;
    uint64_t prev = head, node = *first;
    while (node != head) {
      if (outOfTime()) return Pass::kTime;
      if (procs.size() >= lim_.max_tasks) {
        why = "more than " + std::to_string(lim_.max_tasks) + " tasks";
        return Pass::kBounded;
      }
      if (!kernelPointer(node) || !seen.insert(node).second) {
        why = "task list pointer " + hex(node) +
              (kernelPointer(node) ? " seen twice (a loop)" : " is not a kernel address");
        return Pass::kTorn;
      }
      const uint64_t task = node - l_.tasks;
      if (!w.load(*this, task)) {
        why = "task at " + hex(task) + " cannot be read";
        return Pass::kTorn;
      }
      if (w.u64(l_.tasks + 8) != prev) {
        why = "task list changed during the walk (at " + hex(task) + ")";
        return Pass::kTorn;
      }
      KernelProcess k;
      k.task = task;
      k.pid = static_cast<int32_t>(w.u32(l_.tgid));
      k.comm = cleanName(w.at(l_.comm), l_.comm_size);
      k.start_time_ns = w.u64(l_.start_time);
      k.kernel_thread = (w.u32(l_.flags) & 0x00200000u) != 0;  // PF_KTHREAD
      tgidOf[task] = k.pid;
      parents.push_back(w.u64(l_.real_parent));
      if (const uint64_t cred = w.u64(l_.real_cred); kernelPointer(cred)) {
        uint8_t b[4];
        if (read(cred + l_.cred_uid, 4, b)) k.uid = le32(b);
      }
      const uint64_t mm = w.u64(l_.mm);
      if (!k.kernel_thread && mm) k.exe = exePath(mm);
      procs.push_back(std::move(k));
      prev = node;
      node = w.u64(l_.tasks);
    }
    // Parents: most are in the list already; the rest are read.
    for (size_t i = 0; i < procs.size(); ++i) {
      const uint64_t parent = parents[i];
      if (auto it = tgidOf.find(parent); it != tgidOf.end()) {
        procs[i].ppid = it->second;
      } else if (parent == sym("init_task")) {
        procs[i].ppid = 0;
      } else if ((parent >> 56) == 0xff) {
        uint8_t b[4];
        procs[i].ppid = read(parent + l_.tgid, 4, b) ? static_cast<int32_t>(le32(b)) : -1;
      } else {
        procs[i].ppid = -1;
      }
    }
    return Pass::kDone;
  }

  // The executable of an address space: mm->exe_file->f_path, walked up its dentries and across
  // its mounts to the root. "?" when any step cannot be read.
  std::string exePath(uint64_t mm) {
    if (!kernelPointer(mm)) return "?";
    auto file = ptr(mm + l_.mm_exe);
    if (!file || !*file) return file ? "" : "?";
    if (!kernelPointer(*file)) return "?";
    uint8_t pathBuf[16];
    if (!read(*file + l_.f_path + std::min(l_.path_mnt, l_.path_dentry), 16, pathBuf)) return "?";
    const uint64_t base = std::min(l_.path_mnt, l_.path_dentry);
    uint64_t vfsmnt = le64(pathBuf + (l_.path_mnt - base));
    uint64_t dentry = le64(pathBuf + (l_.path_dentry - base));
    if (!kernelPointer(vfsmnt) || !kernelPointer(dentry)) return "?";
    uint64_t mount = vfsmnt - l_.mount_mnt;
    std::vector<std::string> parts;
    size_t bytes = 0;
    Window dw({{l_.d_parent, 8}, {l_.d_name + l_.qstr_len, 4}, {l_.d_name + l_.qstr_name, 8}});
    Window mw({{l_.mount_parent, 8}, {l_.mount_mountpoint, 8}});
    for (size_t step = 0; step < 2 * lim_.max_path_components; ++step) {
      if (!dw.load(*this, dentry)) return "?";
      const uint64_t parent = dw.u64(l_.d_parent);
      if (parent == dentry) {  // the root of this mount: continue from where it is mounted
        if (!mw.load(*this, mount)) return "?";
        const uint64_t up = mw.u64(l_.mount_parent);
        if (up == mount) break;  // the root of the namespace
        dentry = mw.u64(l_.mount_mountpoint);
        mount = up;
        if (!kernelPointer(dentry) || !kernelPointer(mount)) return "?";
        continue;
      }
      if (parts.size() >= lim_.max_path_components) return "?";
      const uint32_t len = dw.u32(l_.d_name + l_.qstr_len);
      const uint64_t name = dw.u64(l_.d_name + l_.qstr_name);
      if (len == 0 || len > lim_.max_name_bytes || (name >> 56) != 0xff) return "?";
      std::vector<uint8_t> nb(len + 1, 0);
      if (!read(name, len, nb.data())) return "?";
      parts.push_back(cleanName(nb.data(), len));
      bytes += len + 1;
      if (bytes > lim_.max_path_bytes) return "?";
      if (!kernelPointer(parent)) return "?";
      dentry = parent;
    }
    std::string path;
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) path += "/" + *it;
    return path.empty() ? "/" : path;
  }

  // The module list and the module kobjects (sysfs), merged by struct address.
  Pass walkModules(std::vector<KernelModule>& mods, std::string& why) {
    mods.clear();
    std::map<uint64_t, size_t> byAddr;
    auto module = [&](uint64_t mod, bool inList) -> bool {
      if (auto it = byAddr.find(mod); it != byAddr.end()) {
        (inList ? mods[it->second].in_list : mods[it->second].in_sysfs) = true;
        return true;
      }
      if (mods.size() >= lim_.max_modules) return false;
      KernelModule m;
      m.address = mod;
      std::vector<uint8_t> name(l_.mod_name_size + 1, 0);
      uint8_t st[4];
      if (!read(mod + l_.mod_name, l_.mod_name_size, name.data()) || !read(mod + l_.mod_state, 4, st)) return false;
      m.name = cleanName(name.data(), l_.mod_name_size);
      m.state = static_cast<int32_t>(le32(st));
      if (l_.core_layout) {
        uint8_t b[8];
        if (read(mod + l_.mod_base, 8, b)) m.base = le64(b);
        if (read(mod + l_.mod_size, 4, b)) m.size = le32(b);
      }
      (inList ? m.in_list : m.in_sysfs) = true;
      byAddr[mod] = mods.size();
      mods.push_back(std::move(m));
      return true;
    };
    // The list /proc/modules shows.
    const uint64_t head = sym("modules");
    auto next = ptr(head);
    if (!next) {
      why = "the module list head at " + hex(head) + " cannot be read";
      return Pass::kTorn;
    }
    std::unordered_set<uint64_t> seen;
    uint64_t prev = head, node = *next;
    while (node != head) {
      if (outOfTime()) return Pass::kTime;
      if (!kernelPointer(node) || !seen.insert(node).second) {
        why = "module list pointer " + hex(node) +
              (kernelPointer(node) ? " seen twice (a loop)" : " is not a kernel address");
        return Pass::kTorn;
      }
      uint8_t links[16];
      if (!read(node, 16, links)) {
        why = "module list entry at " + hex(node) + " cannot be read";
        return Pass::kTorn;
      }
      if (le64(links + 8) != prev) {
        why = "module list changed during the walk (at " + hex(node) + ")";
        return Pass::kTorn;
      }
      if (!module(node - l_.mod_list, true)) {
        why = "module at " + hex(node - l_.mod_list) + " cannot be read, or more than " +
              std::to_string(lim_.max_modules) + " modules";
        return Pass::kBounded;
      }
      prev = node;
      node = le64(links);
    }
    // The module kset's kobjects (/sys/module): a module that took itself off the list keeps its
    // kobject, unless it went further. Built-in modules have kobjects with no module behind them.
    auto kset = ptr(sym("module_kset"));
    if (!kset || !kernelPointer(*kset)) {
      why = "module_kset cannot be read";
      return Pass::kTorn;
    }
    const uint64_t khead = *kset + l_.kset_list;
    next = ptr(khead);
    if (!next) {
      why = "the module kset's list cannot be read";
      return Pass::kTorn;
    }
    seen.clear();
    prev = khead, node = *next;
    size_t entries = 0;
    while (node != khead) {
      if (outOfTime()) return Pass::kTime;
      if (!kernelPointer(node) || !seen.insert(node).second || ++entries > 4 * lim_.max_modules) {
        why = "module kobject list pointer " + hex(node) + " is not a kernel address, loops, or the list is too long";
        return Pass::kTorn;
      }
      uint8_t links[16];
      if (!read(node, 16, links) || le64(links + 8) != prev) {
        why = "module kobject list changed during the walk (at " + hex(node) + ")";
        return Pass::kTorn;
      }
      const uint64_t mk = node - l_.kobj_entry - l_.mk_kobj;
      auto mod = ptr(mk + l_.mk_mod);
      // A loaded module's kobject is embedded in it: the back pointer must say so, or this is not
      // a module (a built-in one has none; a forged one points elsewhere).
      if (mod && *mod && kernelPointer(*mod) && *mod + l_.mod_mkobj == mk && !module(*mod, false)) {
        why = "more than " + std::to_string(lim_.max_modules) + " modules";
        return Pass::kBounded;
      }
      prev = node;
      node = le64(links);
    }
    return Pass::kDone;
  }

  std::string whereIs(uint64_t target, const std::vector<KernelModule>& mods) const {
    for (const auto& m : mods)
      if (m.size && target >= m.base && target - m.base < m.size)
        return "module " + m.name + "+" + hex(target - m.base);
    return "outside kernel text and modules";
  }

  void checkTables(const WalkTarget& t, const std::vector<KernelModule>& mods) {
    KernelIntegrity& in = out_.integrity;
    const uint64_t lo = sym("_stext"), hi = sym("_etext");
    auto inText = [&](uint64_t a) { return a >= lo && a < hi; };
    // The system-call table.
    const uint32_t n = std::min<uint32_t>(p_.syscall_count, 1024);
    std::vector<uint8_t> table(size_t{n} * 8);
    if (n && read(sym("sys_call_table"), table.size(), table.data())) {
      in.syscalls = n;
      for (uint32_t i = 0; i < n; ++i)
        if (const uint64_t e = le64(&table[size_t{i} * 8]); !inText(e))
          in.syscall_hooks.push_back({i, e, whereIs(e, mods)});
    } else {
      out_.partial = true;
      out_.problems.push_back("the system-call table at " + hex(sym("sys_call_table")) + " cannot be read");
    }
    // The IDT: where the CPU has it (IDTR), else the kernel's idt_table.
    in.idt_base = t.idt_base.value_or(sym("idt_table"));
    const uint32_t gates = std::min<uint32_t>((t.idt_limit + 1) / 16, 256);
    std::vector<uint8_t> idt(size_t{gates} * 16);
    if (gates && read(in.idt_base, idt.size(), idt.data())) {
      for (uint32_t i = 0; i < gates; ++i) {
        const uint8_t* g = &idt[size_t{i} * 16];
        if (!(g[5] & 0x80)) continue;  // not present
        ++in.idt_gates;
        const uint64_t target = le16(g) | uint64_t{le16(g + 6)} << 16 | uint64_t{le32(g + 8)} << 32;
        // A vector below 32 the kernel gave no handler of its own still points at its early
        // handler (in init text, kept mapped): that is the kernel's doing, not a hook.
        const bool early =
            i < 32 && target >= sym("early_idt_handler_array") && target < sym("early_idt_handler_common");
        if (!inText(target) && !early) in.idt_hooks.push_back({i, target, whereIs(target, mods)});
      }
    } else {
      out_.partial = true;
      out_.problems.push_back("the interrupt descriptor table at " + hex(in.idt_base) + " cannot be read");
    }
  }

  void hashText(const WalkTarget& t) {
    const uint64_t len = p_.symbol("_etext") - p_.symbol("_text");
    if (len == 0 || len > (256ull << 20)) {
      out_.problems.push_back("the profile's text range is empty or too large");
      out_.partial = true;
      return;
    }
    std::vector<uint8_t> text(len);
    constexpr size_t kPiece = 1u << 20;
    for (uint64_t off = 0; off < len; off += kPiece) {
      if (outOfTime()) {
        out_.problems.push_back("kernel text not hashed: out of time");
        out_.partial = true;
        return;
      }
      if (!read(t.text + off, std::min<uint64_t>(kPiece, len - off), text.data() + off)) {
        out_.problems.push_back("kernel text at " + hex(t.text + off) + " cannot be read");
        out_.partial = true;
        return;
      }
    }
    out_.integrity.text_bytes = len;
    out_.integrity.text_sha256 = relocatedTextHash(std::move(text), p_, out_.slide);
  }

 private:
  const VirtualReadFn& read_;
  const KernelProfile& p_;
  const Layout& l_;
  const WalkLimits& lim_;
  KernelWalk& out_;
};

bool Window::load(Walker& w, uint64_t base) { return w.read(base + lo_, buf_.size(), buf_.data()); }

}  // namespace

std::string relocatedTextHash(std::vector<uint8_t> text, const KernelProfile& p, uint64_t slide) {
  const size_t n = text.size();
  for (uint32_t off : p.text_relocs32)
    if (size_t{off} + 4 <= n) {
      uint32_t v = le32(&text[off]) - static_cast<uint32_t>(slide);
      std::memcpy(&text[off], &v, 4);
    }
  for (uint32_t off : p.text_relocs32_inverse)
    if (size_t{off} + 4 <= n) {
      uint32_t v = le32(&text[off]) + static_cast<uint32_t>(slide);
      std::memcpy(&text[off], &v, 4);
    }
  for (uint32_t off : p.text_relocs64)
    if (size_t{off} + 8 <= n) {
      uint64_t v = le64(&text[off]) - slide;
      std::memcpy(&text[off], &v, 8);
    }
  // Jump-label sites: the kernel flips them between jmp and nop as static keys change.
  for (uint32_t site : p.text_jump_sites) {
    const size_t off = site & 0x7fffffffu, len = site & 0x80000000u ? 5 : 2;
    if (off + len <= n) std::memset(&text[off], 0, len);
  }
  return sha256HexOf(text);
}

Result<KernelWalk> walkKernel(const VirtualReadFn& read, const WalkTarget& target, const WalkLimits& limits) {
  if (!target.profile) return makeError(Error::Code::kInvalidArgument, "no kernel profile");
  const KernelProfile& p = *target.profile;
  auto layout = layoutOf(p);
  if (!layout) return layout.error();
  KernelWalk out;
  out.slide = target.text - p.symbol("_text");
  Walker w(read, p, *layout, limits, out);
  // The task list's head is in the kernel's data: unreadable, the profile or the slide is wrong.
  if (!w.ptr(w.sym("init_task") + layout->tasks))
    return makeError(Error::Code::kNotFound, "init_task at " + hex(w.sym("init_task")) +
                                                 " cannot be read: the profile does not fit this kernel");
  // Each list is walked again when the guest changed it under the walk, then given up as partial.
  auto run = [&](const char* what, auto&& pass) {
    std::string why;
    for (uint32_t attempt = 0;; ++attempt) {
      const auto r = pass(why);
      if (r == Walker::Pass::kDone) return true;
      if (r == Walker::Pass::kTorn && attempt < limits.torn_retries) {
        ++out.torn_retries;
        continue;
      }
      out.partial = true;
      out.problems.push_back(std::string(what) + ": " + (r == Walker::Pass::kTime ? "out of time" : why));
      return false;
    }
  };
  run("processes", [&](std::string& why) { return w.walkTasks(out.processes, why); });
  run("modules", [&](std::string& why) { return w.walkModules(out.modules, why); });
  w.checkTables(target, out.modules);
  if (limits.hash_text) w.hashText(target);
  return out;
}

}  // namespace goldgate::hostmon
