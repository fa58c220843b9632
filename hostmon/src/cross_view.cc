#include "cross_view.h"

namespace goldgate::hostmon {

namespace {

constexpr const char* kSource = "memory-introspection+qemu-agent";

// A snapshot taken wholly inside the interval (a.end, b.start).
bool between(const ViewSnapshot& s, const ViewSnapshot& a, const ViewSnapshot& b) {
  return a.end_ns < s.start_ns && s.end_ns < b.start_ns;
}

}  // namespace

bool underGuestAgent(const std::map<int32_t, const KernelProcess*>& byPid, const KernelProcess& p) {
  const KernelProcess* q = &p;
  for (int depth = 0; depth < 8; ++depth) {
    auto up = byPid.find(q->ppid);
    if (up == byPid.end() || up->second == q) return false;
    q = up->second;
    if (q->comm == "qemu-ga") return true;
  }
  return false;
}

ViewSnapshot memorySnapshot(const MemoryView& v, int64_t startNs, int64_t endNs) {
  ViewSnapshot s;
  s.start_ns = startNs;
  s.end_ns = endNs;
  for (const auto& p : v.processes) s.processes[p.pid] = {p.comm, p.exe, p.start_time_ns};
  for (const auto& m : v.modules) {
    s.modules.insert(m.name);
    if (!m.in_list) s.module_notes[m.name] = "not on the kernel's module list (found through /sys/module's kobjects)";
  }
  return s;
}

ViewSnapshot agentSnapshot(const AgentView& a, uint32_t durationMs) {
  ViewSnapshot s;
  s.end_ns = a.processes_seen.observed_ns;
  // The listing ran at some point of the poll (its duration is counted in whole milliseconds).
  s.start_ns = s.end_ns - (int64_t{durationMs} + 1) * 1000000;
  for (const auto& p : a.processes) s.processes[p.pid] = {p.name, p.exe, 0};
  for (const auto& m : a.modules) s.modules.insert(m.name);
  return s;
}

std::vector<Observation> crossView(CrossViewHistory& h, const ViewSnapshot* memory, const ViewSnapshot* agent,
                                   int64_t nowNs) {
  auto push = [](std::deque<ViewSnapshot>& q, const ViewSnapshot* s) {
    if (!s || (!q.empty() && q.back().end_ns >= s->end_ns)) return;
    q.push_back(*s);
    while (q.size() > CrossViewHistory::kKeep) q.pop_front();
  };
  if (h.reported.size() > 100000) h.reported.clear();  // a guest that churns pids cannot grow it without end
  push(h.memory, memory);
  push(h.agent, agent);
  std::vector<Observation> out;
  auto say = [&](const std::string& key, const std::string& kind, const std::string& detail) {
    if (!h.reported.insert(key).second) return;
    out.push_back({kind, detail, kSource, Trust::kHypervisorObserved, nowNs, nowNs, 1});
  };
  // Hidden: alive in two memory passes (the same pid and start time: it lived all along between
  // them), absent from an agent listing between them.
  for (size_t j = 1; j < h.memory.size(); ++j)
    for (size_t i = 0; i < j; ++i) {
      const auto &m1 = h.memory[i], &m2 = h.memory[j];
      for (const auto& a : h.agent) {
        if (!between(a, m1, m2)) continue;
        for (const auto& [pid, p] : m2.processes) {
          auto was = m1.processes.find(pid);
          if (was == m1.processes.end() || was->second.start_time != p.start_time || a.processes.count(pid)) continue;
          say("hidden_process|" + std::to_string(pid) + "|" + std::to_string(p.start_time),
              "disagreement.hidden_process",
              "pid " + std::to_string(pid) + " (" + p.name + ")" + (p.exe.empty() ? "" : " running " + p.exe) +
                  " is in guest memory but not in the guest agent's process list");
        }
        for (const auto& name : m2.modules) {
          if (!m1.modules.count(name) || a.modules.count(name)) continue;
          auto note = m2.module_notes.find(name);
          say("hidden_module|" + name, "disagreement.hidden_module",
              "module " + name + " is loaded in guest memory but not in the guest agent's module list" +
                  (note == m2.module_notes.end() ? "" : "; " + note->second));
        }
      }
    }
  // Phantom: in two agent listings (the same pid and name), absent from a memory pass between them.
  for (size_t j = 1; j < h.agent.size(); ++j)
    for (size_t i = 0; i < j; ++i) {
      const auto &a1 = h.agent[i], &a2 = h.agent[j];
      for (const auto& m : h.memory) {
        if (!between(m, a1, a2)) continue;
        for (const auto& [pid, p] : a2.processes) {
          auto was = a1.processes.find(pid);
          if (was == a1.processes.end() || was->second.name != p.name || m.processes.count(pid)) continue;
          say("phantom|process|" + std::to_string(pid) + "|" + p.name, "disagreement.phantom",
              "the guest agent lists pid " + std::to_string(pid) + " (" + p.name + ")" +
                  (p.exe.empty() ? "" : " running " + p.exe) + ", which guest memory does not have");
        }
        for (const auto& name : a2.modules) {
          if (!a1.modules.count(name) || m.modules.count(name)) continue;
          say("phantom|module|" + name, "disagreement.phantom",
              "the guest agent lists module " + name + ", which guest memory does not have");
        }
      }
    }
  return out;
}

}  // namespace goldgate::hostmon
