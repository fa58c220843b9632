#include "format_guest.h"

#include <cstdio>
#include <map>
#include <sstream>

#include "format.h"
#include "text_table.h"

namespace goldgate::cli {
namespace {

template <typename G>
std::string heading(const char* title, const G& g) {
  std::string s = title;
  if (g.observed_unix_ns() == 0) return s + ": not observed\n";
  return s + " (" + g.source() + ", " + g.trust() + ", " + utcTime(g.observed_unix_ns()) + ")\n";
}

std::string orDash(const std::string& s) { return s.empty() ? "-" : s; }

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

std::string shortHash(const std::string& h) { return h.size() > 16 ? h.substr(0, 16) + "…" : orDash(h); }

std::string cost(const char* name, const std::string& status, const proto::PollCost& c) {
  if (c.polls() == 0) return std::string(name) + ": not polled\n";
  char b[160];
  std::snprintf(b, sizeof b, "%s: %llu poll(s), %llu failed; last %u ms, %.1f ms hostmon CPU; ", name,
                static_cast<unsigned long long>(c.polls()), static_cast<unsigned long long>(c.failures()),
                c.last_duration_ms(), c.last_cpu_us() / 1000.0);
  return b + status + "\n";
}

}  // namespace

std::string formatMemoryView(const proto::GuestState& g, bool all) {
  std::ostringstream o;
  const auto& m = g.memory();
  o << "\n" << heading("guest memory", m);
  if (m.observed_unix_ns()) {
    if (m.mode() == "introspection") {
      o << "  mode:         introspection, " << (m.profile().empty() ? "no kernel profile" : "profile " + m.profile())
        << ", " << orDash(m.access()) << " (" << m.reads() << " reads, " << m.bytes() / 1024 << " KiB)\n";
      o << "  kernel:       _text at " << hex(m.text_virt()) << ", KASLR slide " << hex(m.kaslr_slide()) << "\n";
    }
    o << "  banner:       " << orDash(m.banner()) << " (at " << hex(m.banner_addr()) << ")\n";
    o << "  kernel text:  " << hex(m.text_start()) << " + " << m.text_length() << " bytes, sha256 " << m.text_sha256()
      << "\n";
    if (m.gold_source() == "learning")
      o << "  gold:         learning (taken when two readings agree; nothing compared yet)\n";
    else
      o << "  gold:         " << m.gold_sha256() << " (" << m.gold_source() << ")  "
        << (m.match() ? "MATCH" : "MISMATCH") << "\n";
    if (m.mode() == "introspection" && !m.profile().empty()) {
      o << "  tables:       " << m.syscalls() << " system calls, " << m.idt_gates() << " IDT gates checked: "
        << (m.hooks_size() ? std::to_string(m.hooks_size()) + " HOOKED" : std::string("all point into kernel text"))
        << "\n";
      for (const auto& h : m.hooks())
        o << "    " << h.table() << "[" << h.index() << "] -> " << hex(h.target()) << " (" << h.where() << ")\n";
    }
    if (m.partial())
      for (const auto& p : m.problems()) o << "  PARTIAL:      " << p << "\n";
  }
  if (m.processes_size()) {
    // The memory view next to the agent's: a process the agent does not list is marked.
    std::map<int32_t, bool> listed;
    for (const auto& p : g.processes().processes()) listed[p.pid()] = true;
    const bool agent = g.processes().observed_unix_ns() != 0;
    size_t kthreads = 0;
    for (const auto& p : m.processes()) kthreads += p.kernel_thread();
    o << "\n"
      << "processes in guest memory (" << m.trust() << "): " << m.processes_size() << ", of them " << kthreads
      << " kernel threads" << (all ? "" : " (not shown; --all shows them)") << "\n";
    Table t({"  PID", "PPID", "UID", "NAME", "EXECUTABLE", "AGENT"});
    for (const auto& p : m.processes()) {
      if (p.kernel_thread() && !all) continue;
      t.add({"  " + std::to_string(p.pid()), std::to_string(p.ppid()), p.uid() < 0 ? "-" : std::to_string(p.uid()),
             p.comm(), p.kernel_thread() ? "[kernel thread]" : orDash(p.exe()),
             !agent                  ? "-"
             : listed.count(p.pid()) ? "listed"
                                     : "NOT LISTED"});
    }
    o << t.str();
  }
  if (m.modules_size()) {
    std::map<std::string, bool> listed;
    for (const auto& x : g.modules().modules()) listed[x.name()] = true;
    const bool agent = g.modules().observed_unix_ns() != 0;
    o << "\nmodules in guest memory (" << m.trust() << "): " << m.modules_size() << "\n";
    Table t({"  NAME", "ADDRESS", "SIZE", "MODULE LIST", "SYSFS", "AGENT"});
    for (const auto& x : m.modules())
      t.add({"  " + x.name(), hex(x.base()), std::to_string(x.size()), x.in_list() ? "yes" : "NO",
             x.in_sysfs() ? "yes" : "no",
             !agent                   ? "-"
             : listed.count(x.name()) ? "listed"
                                      : "NOT LISTED"});
    o << t.str();
  }
  return o.str();
}

std::string formatGuest(const proto::GuestState& g, bool all) {
  std::ostringstream o;
  const auto& k = g.kernel();
  o << "\n" << heading("guest kernel", k);
  if (k.observed_unix_ns()) {
    o << "  release:  " << orDash(k.release()) << "\n";
    o << "  version:  " << orDash(k.version()) << "\n";
    o << "  os:       " << orDash(k.os_name()) << (k.machine().empty() ? "" : " (" + k.machine() + ")") << "\n";
    o << "  cmdline:  " << orDash(k.cmdline()) << "\n";
  }
  o << formatMemoryView(g, all);
  o << "\n" << heading("interfaces", g.interfaces());
  if (g.interfaces().interfaces_size()) {
    Table t({"  NAME", "MAC", "ADDRESSES"});
    for (const auto& i : g.interfaces().interfaces()) {
      std::string a;
      for (const auto& x : i.addresses()) a += (a.empty() ? "" : " ") + x;
      t.add({"  " + i.name(), orDash(i.mac()), orDash(a)});
    }
    o << t.str();
  }
  std::map<int32_t, std::string> names;
  for (const auto& p : g.processes().processes()) names[p.pid()] = p.name();
  o << "\n" << heading("listening sockets", g.listeners());
  if (g.listeners().listeners_size()) {
    Table t({"  PROTO", "ADDRESS", "PORT", "PID", "PROCESS"});
    for (const auto& l : g.listeners().listeners())
      t.add({"  " + l.proto(), l.addr(), std::to_string(l.port()), l.pid() < 0 ? "-" : std::to_string(l.pid()),
             l.pid() < 0 ? "-" : orDash(names[l.pid()])});
    o << t.str();
  }
  if (g.has_flows()) {
    const auto& fl = g.flows();
    o << "\n" << heading("connections on the switch", fl);
    std::string ports;
    for (const auto& p : fl.ports()) ports += (ports.empty() ? "" : ", ") + p;
    o << "  " << fl.flows_size() << " connection(s) on port " << orDash(ports)
      << (fl.truncated() ? " (more: goldgatectl flows)" : "") << "\n";
    if (fl.flows_size()) {
      Table t({"  PROTO", "DIRECTION", "LOCAL", "REMOTE", "STATE", "CLASSES"});
      int shown = 0;
      for (const auto& f : fl.flows()) {
        if (!all && ++shown > 20) break;
        std::string cls;
        for (const auto& c : f.classes()) cls += (cls.empty() ? "" : ",") + c;
        t.add({"  " + f.protocol(), f.direction(), f.local(), f.remote(), f.state(), orDash(cls)});
      }
      o << t.str();
    }
  }
  const auto& ps = g.processes();
  o << "\n" << heading("processes", ps);
  if (ps.observed_unix_ns()) {
    o << "  " << ps.processes_size() << " process(es)" << (ps.truncated() ? " (list cut at a bound)" : "") << "\n";
    Table t({"  PID", "PPID", "USER", "EXE", "SHA256", "CMDLINE"});
    int shown = 0;
    for (const auto& p : ps.processes()) {
      // Without --processes, only those with an executable (kernel threads have none).
      if (p.exe().empty() && !all) continue;
      if (!all && ++shown > 20) break;
      std::string user = p.user().empty() ? (p.uid() < 0 ? "-" : std::to_string(p.uid())) : p.user();
      std::string cmd = p.cmdline().size() > 60 && !all ? p.cmdline().substr(0, 60) + "…" : p.cmdline();
      t.add({"  " + std::to_string(p.pid()), std::to_string(p.ppid()), user, orDash(p.exe()),
             all ? orDash(p.sha256()) : shortHash(p.sha256()), orDash(cmd)});
    }
    o << t.str();
    if (!all) o << "  (--processes lists all of them, with full hashes and command lines, and every module)\n";
  }
  const auto& mods = g.modules();
  o << "\n" << heading("kernel modules", mods);
  if (mods.observed_unix_ns()) {
    std::string list;
    int n = 0;
    for (const auto& x : mods.modules()) {
      if (!all && ++n > 12) {
        list += ", …";
        break;
      }
      list += (list.empty() ? "" : ", ") + x.name() + (x.taint().empty() ? "" : " " + x.taint());
    }
    o << "  " << mods.modules_size() << " module(s)" << (list.empty() ? "" : ": " + list) << "\n";
  }
  o << "\nobservations\n";
  if (g.observations_size() == 0) o << "  none\n";
  else {
    Table t({"  LAST", "KIND", "COUNT", "TRUST", "DETAIL"});
    for (const auto& x : g.observations())
      t.add({"  " + utcTime(x.last_unix_ns()), x.kind(), std::to_string(x.count()), x.trust(), x.detail()});
    o << t.str();
  }
  o << "\n" << cost("agent collector", g.agent_status(), g.agent_cost());
  o << cost("memory collector", g.memory_status(), g.memory_cost());
  return o.str();
}

}  // namespace goldgate::cli
