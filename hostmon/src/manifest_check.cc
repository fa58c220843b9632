#include "manifest_check.h"

#include <fnmatch.h>

#include <algorithm>
#include <set>

#include "cross_view.h"
#include "goldgate/alerts/kinds.h"
#include "parse_util.h"

namespace goldgate::hostmon {

std::string sha256Hex(const std::string& data) {
  return sha256HexOf({reinterpret_cast<const uint8_t*>(data.data()), data.size()});
}

namespace {

std::string shortHash(const std::string& h) { return h.size() > 12 ? h.substr(0, 12) + "…" : h; }

}  // namespace

std::pair<std::string, uint32_t> splitEndpoint(const std::string& ep) {
  if (!ep.empty() && ep[0] == '[') {
    auto close = ep.find(']');
    if (close == std::string::npos) return {ep, 0};
    uint32_t port =
        close + 2 <= ep.size() ? static_cast<uint32_t>(std::strtoul(ep.c_str() + close + 2, nullptr, 10)) : 0;
    return {ep.substr(1, close - 1), port};
  }
  auto colon = ep.rfind(':');
  if (colon == std::string::npos) return {ep, 0};
  return {ep.substr(0, colon), static_cast<uint32_t>(std::strtoul(ep.c_str() + colon + 1, nullptr, 10))};
}

namespace {

bool protoMatches(const std::string& declared, const std::string& observed) {
  if (declared == "any") return true;
  std::string f = protoFamily(observed);
  if (f == "icmp6" || f == "ipv6-icmp") f = "icmp";
  return declared == f;
}

proto::AttestItem item(const std::string& category, const std::string& what, const std::string& expected,
                       const std::string& observed, const std::string& status, Trust trust) {
  proto::AttestItem i;
  i.set_category(category);
  i.set_item(what);
  i.set_expected(expected);
  i.set_observed(observed);
  i.set_status(status);
  i.set_trust(trustName(trust));
  return i;
}

struct Judge {
  const proto::Manifest& m;
  const GuestState& s;
  const PeerDirectory& peers;
  Judgement out;

  void deviate(const std::string& kind, const std::string& subject, const std::string& expected,
               const std::string& observed, const Provenance& p) {
    Deviation d;
    d.kind = kind;
    d.severity = deviationSeverity(kind);
    d.subject = subject;
    d.expected = expected;
    d.observed = observed;
    d.source = p.source;
    d.trust = p.trust;
    d.observed_ns = p.observed_ns;
    out.deviations.push_back(std::move(d));
  }

  void executables() {
    if (!s.agent || s.agent->processes_seen.observed_ns == 0) return;
    const auto& seen = s.agent->processes_seen;
    std::map<std::string, std::vector<const GuestProcess*>> byExe;
    for (const auto& p : s.agent->processes)
      if (!p.exe.empty()) byExe[p.exe].push_back(&p);
    std::set<std::string> declared;
    for (const auto& e : m.executables()) {
      declared.insert(e.path());
      std::string expected = e.sha256().empty() ? "any content" : "sha256 " + shortHash(e.sha256());
      if (e.users_size()) {
        expected += ", as ";
        for (int i = 0; i < e.users_size(); ++i) expected += (i ? "|" : "") + e.users(i);
      }
      auto it = byExe.find(e.path());
      if (it == byExe.end()) {
        out.items.push_back(item("executable", e.path(), expected, "", "not-seen", seen.trust));
        continue;
      }
      std::string observed, status = "ok";
      size_t shown = 0;
      for (const GuestProcess* p : it->second) {
        // The first few processes in full; the rest counted (a shell may run hundreds).
        if (shown++ < 3) {
          if (!observed.empty()) observed += "; ";
          observed += "pid " + std::to_string(p->pid) + (p->user.empty() ? "" : " " + p->user) +
                      (p->sha256.empty() ? " (hash unreadable)" : " sha256 " + shortHash(p->sha256));
        }
        if (!e.sha256().empty() && !p->sha256.empty() && p->sha256 != e.sha256()) {
          status = "mismatch";
          deviate("executable_hash", e.path(), "sha256 " + e.sha256(),
                  "pid " + std::to_string(p->pid) + " runs " + e.path() + " with sha256 " + p->sha256, seen);
        }
        if (e.users_size() && std::find(e.users().begin(), e.users().end(), p->user) == e.users().end()) {
          status = "mismatch";
          deviate("executable_user", e.path(), expected,
                  "pid " + std::to_string(p->pid) + " runs as " +
                      (p->user.empty() ? "uid " + std::to_string(p->uid) : p->user),
                  seen);
        }
        if (e.args_size()) {
          bool ok = false;
          for (const auto& g : e.args()) ok = ok || fnmatch(g.c_str(), p->cmdline.c_str(), 0) == 0;
          if (!ok) {
            status = "mismatch";
            deviate("executable_args", e.path(), "command line matching one of the manifest's patterns",
                    "pid " + std::to_string(p->pid) + ": " + p->cmdline, seen);
          }
        }
      }
      if (it->second.size() > 3) observed += " (+" + std::to_string(it->second.size() - 3) + " more)";
      out.items.push_back(item("executable", e.path(), expected, observed, status, seen.trust));
    }
    for (const auto& [exe, procs] : byExe) {
      if (declared.count(exe)) continue;
      const GuestProcess& p = *procs.front();
      std::string observed = "pid " + std::to_string(p.pid) + (p.user.empty() ? "" : " " + p.user) +
                             (p.sha256.empty() ? "" : " sha256 " + shortHash(p.sha256)) +
                             (p.cmdline.empty() ? "" : ": " + p.cmdline);
      if (procs.size() > 1) observed += " (+" + std::to_string(procs.size() - 1) + " more)";
      out.items.push_back(item("executable", exe, "", observed, "unexpected", seen.trust));
      deviate("unknown_executable", exe, "not in the manifest's executables",
              "pid " + std::to_string(p.pid) + " runs " + exe + (p.sha256.empty() ? "" : " (sha256 " + p.sha256 + ")") +
                  (p.user.empty() ? "" : " as " + p.user) + (p.cmdline.empty() ? "" : ": " + p.cmdline),
              seen);
    }
  }

  // The memory view judged on its own: what the kernel's task list runs and its module lists hold,
  // read by the hypervisor. It keeps judging when the agent is silent, stopped or lying; what the
  // agent's view already flagged is not flagged twice.
  bool introspected() const {
    return s.memory && s.memory->mode == "introspection" && !s.memory->profile.empty() && s.memory->seen.observed_ns;
  }

  void memoryExecutables(const std::set<std::string>& declared) {
    if (!introspected()) return;
    std::set<std::string> flagged;
    for (const auto& d : out.deviations)
      if (d.kind == "unknown_executable") flagged.insert(d.subject);
    // The guest agent's own probe (sh, ls, grep, head, awk, sha256sum under qemu-ga) runs while
    // memory may be read; the agent leaves it out of its listing, and so does this judgement.
    // Anything else under the agent, and these tools anywhere else, are judged.
    std::map<int32_t, const KernelProcess*> byPid;
    for (const auto& p : s.memory->processes) byPid[p.pid] = &p;
    auto probeTool = [&](const KernelProcess& p) {
      static const std::set<std::string> kTools = {"sh",   "dash", "bash", "busybox", "ls",        "grep",
                                                   "head", "awk",  "mawk", "gawk",    "sha256sum", "cat"};
      const std::string base = p.exe.substr(p.exe.rfind('/') + 1);
      return kTools.count(base) && underGuestAgent(byPid, p);
    };
    std::map<std::string, std::vector<const KernelProcess*>> byExe;
    for (const auto& p : s.memory->processes)
      if (!p.kernel_thread && !p.exe.empty() && p.exe != "?" && !probeTool(p)) byExe[p.exe].push_back(&p);
    for (const auto& [exe, procs] : byExe) {
      if (declared.count(exe) || flagged.count(exe)) continue;
      const KernelProcess& p = *procs.front();
      std::string observed = "pid " + std::to_string(p.pid) + " (" + p.comm + ") uid " + std::to_string(p.uid);
      if (procs.size() > 1) observed += " (+" + std::to_string(procs.size() - 1) + " more)";
      out.items.push_back(
          item("executable", exe, "", observed + ", in guest memory", "unexpected", s.memory->seen.trust));
      deviate("unknown_executable", exe, "not in the manifest's executables",
              "pid " + std::to_string(p.pid) + " (" + p.comm + ") runs " + exe + " as uid " + std::to_string(p.uid) +
                  " (read from guest memory)",
              s.memory->seen);
    }
  }

  void memoryModules() {
    if (!introspected() || m.kernel().any_module()) return;
    std::set<std::string> declared, flagged;
    for (const auto& mod : m.kernel().modules()) declared.insert(mod.name());
    for (const auto& d : out.deviations)
      if (d.kind == "unexpected_module") flagged.insert(d.subject);
    for (const auto& mod : s.memory->modules) {
      if (declared.count(mod.name) || flagged.count(mod.name)) continue;
      std::string where = mod.in_list ? "loaded" : "loaded, hidden from the module list";
      out.items.push_back(
          item("module", mod.name, "", where + ", in guest memory", "unexpected", s.memory->seen.trust));
      deviate("unexpected_module", mod.name, "not in the manifest's modules",
              "module " + mod.name + " is " + where + " (read from guest memory)", s.memory->seen);
    }
  }

  void modules() {
    if (!s.agent || s.agent->modules_seen.observed_ns == 0) return;
    const auto& seen = s.agent->modules_seen;
    const auto& k = m.kernel();
    std::set<std::string> loaded;
    for (const auto& mod : s.agent->modules) loaded.insert(mod.name);
    if (k.any_module()) {
      out.items.push_back(
          item("module", "(any)", "any module", std::to_string(loaded.size()) + " loaded", "ok", seen.trust));
      return;
    }
    std::set<std::string> declared;
    for (const auto& mod : k.modules()) {
      declared.insert(mod.name());
      std::string expected =
          mod.sha256().empty() ? "allowed" : "allowed, sha256 " + shortHash(mod.sha256()) + " (not collected)";
      out.items.push_back(item("module", mod.name(), expected, loaded.count(mod.name()) ? "loaded" : "",
                               loaded.count(mod.name()) ? "ok" : "not-seen", seen.trust));
    }
    for (const auto& name : loaded) {
      if (declared.count(name)) continue;
      out.items.push_back(item("module", name, "", "loaded", "unexpected", seen.trust));
      deviate("unexpected_module", name, "not in the manifest's modules", "module " + name + " is loaded", seen);
    }
  }

  void kernel() {
    const auto& k = m.kernel();
    if (s.agent && s.agent->kernel.seen.observed_ns) {
      const auto& g = s.agent->kernel;
      if (!k.release().empty()) {
        bool ok = g.release == k.release();
        out.items.push_back(item("kernel", "release", k.release(), g.release, ok ? "ok" : "mismatch", g.seen.trust));
        if (!ok) deviate("kernel_release", "release", k.release(), "the guest runs " + g.release, g.seen);
      }
      if (!k.cmdline_sha256().empty() && !g.cmdline.empty()) {
        std::string h = sha256Hex(g.cmdline);
        bool ok = h == k.cmdline_sha256();
        out.items.push_back(item("kernel", "command line", "sha256 " + shortHash(k.cmdline_sha256()),
                                 "sha256 " + shortHash(h) + ": " + g.cmdline, ok ? "ok" : "mismatch", g.seen.trust));
        if (!ok)
          deviate("kernel_cmdline", "command line", "sha256 " + k.cmdline_sha256(), "sha256 " + h + ": " + g.cmdline,
                  g.seen);
      }
    }
    if (k.memory_view_required()) {
      // The hypervisor's own view is demanded: a VM whose kernel has no profile, or whose memory
      // cannot be read, is a red flag, not a quiet gap. Judged once memory has been tried; a
      // partial pass of a kernel that is understood is not a failure of the view.
      const bool tried = s.memory.has_value() || !s.memory_status.empty();
      const bool ok = introspected();
      const std::string observed = ok ? "introspected, profile " + s.memory->profile
                                   : s.memory && !s.memory->problems.empty() ? s.memory->problems.front()
                                   : s.memory_status.empty()                 ? "not read yet"
                                                                             : s.memory_status;
      if (tried) {
        out.items.push_back(
            item("kernel", "memory view", "required", observed, ok ? "ok" : "mismatch", Trust::kHypervisorObserved));
        if (!ok)
          deviate("memory_view", "memory view", "the VM's kernel is introspected from guest memory", observed,
                  s.memory ? s.memory->seen : Provenance{"memory-peek", Trust::kHypervisorObserved, 0});
      }
    }
    if (!k.text_sha256().empty() && s.memory && !s.memory->text_sha256.empty()) {
      const auto& mem = *s.memory;
      bool ok = mem.text_sha256 == k.text_sha256();
      out.items.push_back(item("kernel", "kernel text", "sha256 " + shortHash(k.text_sha256()),
                               "sha256 " + shortHash(mem.text_sha256), ok ? "ok" : "mismatch", mem.seen.trust));
      if (!ok)
        deviate("kernel_text", "kernel text", "sha256 " + k.text_sha256(), "guest memory hashes to " + mem.text_sha256,
                mem.seen);
    }
  }

  void listeners() {
    if (!s.agent || s.agent->listeners_seen.observed_ns == 0) return;
    const auto& seen = s.agent->listeners_seen;
    std::map<int32_t, std::string> exeOf;
    for (const auto& p : s.agent->processes) exeOf[p.pid] = p.exe;
    std::set<std::string> matched, reported;
    for (const auto& l : s.agent->listeners) {
      std::string fam = protoFamily(l.proto);
      std::string key = fam + "/" + std::to_string(l.port);
      std::string exe = l.pid >= 0 && exeOf.count(l.pid) ? exeOf[l.pid] : "";
      bool ok = false;
      for (const auto& d : m.listeners())
        if (d.proto() == fam && d.port() == l.port && (d.process().empty() || d.process() == exe)) {
          ok = true;
          matched.insert(key);
        }
      if (ok || reported.count(key)) continue;
      reported.insert(key);
      std::string observed = l.addr + ":" + std::to_string(l.port) + (exe.empty() ? "" : " by " + exe);
      out.items.push_back(item("listener", key, "", observed, "unexpected", seen.trust));
      deviate("unexpected_listener", key, "not in the manifest's listeners", fam + " listener on " + observed, seen);
    }
    for (const auto& d : m.listeners()) {
      std::string key = d.proto() + "/" + std::to_string(d.port());
      out.items.push_back(item("listener", key, d.process().empty() ? "listening" : "listening, by " + d.process(),
                               matched.count(key) ? "listening" : "", matched.count(key) ? "ok" : "not-seen",
                               seen.trust));
    }
  }

  // The manifest connection that allows the flow, or null.
  const proto::ManifestConnection* allowing(const SwitchFlow& f) const {
    auto [ip, port] = splitEndpoint(f.remote);
    const auto& list = f.inbound ? m.inbound() : m.outbound();
    uint32_t servicePort = f.inbound ? f.local_port : port;
    for (const auto& c : list) {
      if (!protoMatches(c.proto(), f.protocol)) continue;
      if ((f.protocol == "tcp" || f.protocol == "udp") && !portsCover(c.ports(), servicePort)) continue;
      if (!peers.covers(c.peer(), ip)) continue;
      return &c;
    }
    return nullptr;
  }

  void connections() {
    if (!s.flows) return;
    const auto& seen = s.flows->seen;
    std::set<const proto::ManifestConnection*> used;
    std::set<std::string> reported;
    for (const auto& f : s.flows->flows) {
      auto [ip, port] = splitEndpoint(f.remote);
      if (const auto* c = allowing(f)) {
        used.insert(c);
      } else {
        std::string subject = f.inbound
                                  ? "inbound " + f.protocol + " from " + ip + " to port " + std::to_string(f.local_port)
                                  : "outbound " + f.protocol + " to " + f.remote;
        if (!reported.insert(subject).second) continue;
        out.items.push_back(item("connection", subject, "", f.state + (f.classes.empty() ? "" : ", carrying data"),
                                 "unexpected", seen.trust));
        deviate("unexpected_connection", subject, "not among the manifest's declared connections",
                f.protocol + " " + (f.inbound ? f.remote + " → " + f.local : f.local + " → " + f.remote) + " (" +
                    f.state + ")",
                seen);
      }
      dataClasses(f, ip, seen);
    }
    for (int dir = 0; dir < 2; ++dir)
      for (const auto& c : dir ? m.outbound() : m.inbound())
        out.items.push_back(item("connection", describeConnection(c, dir == 0), "declared",
                                 used.count(&c) ? "seen" : "", used.count(&c) ? "ok" : "not-seen", seen.trust));
  }

  void dataClasses(const SwitchFlow& f, const std::string& ip, const Provenance& seen) {
    for (const auto& cls : f.classes) {
      const proto::ManifestDataClass* decl = nullptr;
      for (const auto& d : m.data_classes())
        if (d.class_name() == cls) decl = &d;
      std::string subject = cls + " to " + ip;
      if (!decl) {
        out.items.push_back(item("data_class", subject, "", "in " + f.protocol + " " + f.local + " ↔ " + f.remote,
                                 "unexpected", seen.trust));
        deviate("data_class", subject, "class " + cls + " is not declared",
                cls + " seen in " + f.protocol + " " + f.local + " ↔ " + f.remote, seen);
        continue;
      }
      bool ok = false;
      if (decl->to_size() == 0) {
        auto it = peers.by_ip.find(ip);
        ok = it != peers.by_ip.end() && it->second.app == m.app();
      }
      for (const auto& p : decl->to()) ok = ok || peers.covers(p, ip);
      std::string expected = "to ";
      if (decl->to_size() == 0) expected += "app " + m.app() + " only";
      for (int i = 0; i < decl->to_size(); ++i) expected += (i ? ", " : "") + describePeer(decl->to(i));
      out.items.push_back(item("data_class", subject, expected, "in " + f.protocol + " " + f.local + " ↔ " + f.remote,
                               ok ? "ok" : "mismatch", seen.trust));
      if (!ok)
        deviate("data_class", subject, cls + " may go " + expected,
                cls + " seen in " + f.protocol + " " + f.local + " ↔ " + f.remote, seen);
    }
  }

  void guestObservations() {
    for (const auto& o : s.recent) {
      if (o.kind.rfind("disagreement.", 0) == 0) {
        Provenance p{o.source, o.trust, o.last_ns};
        deviate("disagreement", o.kind + ": " + o.detail, "the guest's and the hypervisor's views agree", o.detail, p);
      } else if (o.kind == "kernel.hook") {
        Provenance p{o.source, o.trust, o.last_ns};
        deviate("kernel_hook", o.detail, "every system-call table and IDT entry points into kernel text", o.detail, p);
      }
    }
    if (s.silent_streak >= 2) {
      Provenance p{"qemu-agent", Trust::kHypervisorObserved, 0};
      for (const auto& o : s.recent)
        if (o.kind == "agent.silent") p.observed_ns = o.last_ns;
      deviate("agent_silent", "qemu-agent", "the guest agent answers every poll",
              "no answer for " + std::to_string(s.silent_streak) + " polls", p);
    }
  }
};

}  // namespace

std::string protoFamily(const std::string& proto) {
  if (proto == "tcp6") return "tcp";
  if (proto == "udp6") return "udp";
  return proto;
}

bool portsCover(const google::protobuf::RepeatedPtrField<proto::PortRange>& ports, uint32_t port) {
  if (ports.empty()) return true;
  for (const auto& r : ports)
    if (port >= r.first() && port <= std::max(r.first(), r.last())) return true;
  return false;
}

std::string describePeer(const proto::ManifestPeer& p) {
  if (!p.segment().empty()) return "segment " + p.segment();
  if (!p.app().empty()) return "app " + p.app();
  if (!p.zone().empty()) return "zone " + p.zone();
  if (!p.cidr().empty()) return p.cidr();
  return "any";
}

std::string describeConnection(const proto::ManifestConnection& c, bool inbound) {
  std::string ports;
  for (const auto& r : c.ports()) {
    if (!ports.empty()) ports += ",";
    ports += std::to_string(r.first()) + (r.last() > r.first() ? "-" + std::to_string(r.last()) : "");
  }
  return std::string(inbound ? "inbound " : "outbound ") + c.proto() + (ports.empty() ? "" : " " + ports) +
         (inbound ? " from " : " to ") + describePeer(c.peer());
}

bool PeerDirectory::covers(const proto::ManifestPeer& peer, const std::string& ip) const {
  if (peer.any()) return true;
  auto addr = IpAddr::parse(ip);
  if (!peer.cidr().empty()) {
    auto c = Cidr::parse(peer.cidr());
    return c && addr && c->contains(*addr);
  }
  auto owner = by_ip.find(ip);
  if (!peer.app().empty()) return owner != by_ip.end() && owner->second.app == peer.app();
  if (!peer.segment().empty()) return owner != by_ip.end() && owner->second.segment == peer.segment();
  if (!peer.zone().empty()) {
    bool inZone = false;
    for (const auto& z : zones)
      for (const auto& c : z.cidrs)
        if (addr && c.contains(*addr)) {
          if (z.name == peer.zone()) return true;
          inZone = true;
        }
    return peer.zone() == "external" && owner == by_ip.end() && !inZone;
  }
  return false;
}

Judgement judge(const proto::Manifest& m, const GuestState& state, const PeerDirectory& peers) {
  Judge j{m, state, peers, {}};
  j.executables();
  std::set<std::string> declaredExes;
  for (const auto& e : m.executables()) declaredExes.insert(e.path());
  j.memoryExecutables(declaredExes);
  j.modules();
  j.memoryModules();
  j.kernel();
  j.listeners();
  j.connections();
  j.guestObservations();
  return std::move(j.out);
}

uint32_t deviationSeverity(const std::string& kind) {
  // A red flag is raised as attest.<kind>: its severity is that row's in the event catalog (the
  // attest family's default for a kind without a row).
  const alerts::KindInfo* row = alerts::findKind(alerts::wireName(alerts::Kind::kAttest, kind));
  return (row ? *row : alerts::info(alerts::Kind::kAttest)).severity;
}

const char* severityName(uint32_t s) {
  if (s >= 9) return "critical";
  if (s >= 7) return "high";
  if (s >= 4) return "medium";
  return "low";
}

}  // namespace goldgate::hostmon
