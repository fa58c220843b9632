// Cross-view: the guest agent's process and module lists against the hypervisor's reading of guest
// memory. A process in memory that the agent does not list is hidden from the guest's own tools
// (or the agent lies); one the agent lists that memory does not have is a phantom (the agent lies
// or is stale). Both lists change all the time, so a verdict needs proof that the two views looked
// at the same moment: a process is hidden only when two memory passes found it alive and an agent
// listing taken wholly between them lacks it; a phantom only when two agent listings had it and a
// memory pass taken wholly between them did not. A torn or partial pass is never evidence.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "guest_state.h"

namespace goldgate::hostmon {

/// One view's lists at one time. [start_ns, end_ns]: when the listing may have been taken.
struct ViewSnapshot {
  int64_t start_ns = 0, end_ns = 0;
  struct Proc {
    std::string name, exe;
    uint64_t start_time = 0;  // memory only: tells a reused pid apart
  };
  std::map<int32_t, Proc> processes;
  std::set<std::string> modules;
  std::map<std::string, std::string> module_notes;  // memory: "not on the module list" and the like
};

/// What cross-view remembers of one VM between passes (the last few snapshots of each view, and
/// the verdicts already given, so that each is given once).
struct CrossViewHistory {
  std::deque<ViewSnapshot> memory, agent;
  std::set<std::string> reported;
  static constexpr size_t kKeep = 4;
};

/// Whether `p` runs under the guest agent: an ancestor within 8 generations, in `byPid` (a memory
/// view's processes by pid), is named qemu-ga. The agent's own probe runs there, and the agent
/// leaves it out of its listing.
bool underGuestAgent(const std::map<int32_t, const KernelProcess*>& byPid, const KernelProcess& p);

/// The snapshot of a memory pass taken over [startNs, endNs].
ViewSnapshot memorySnapshot(const MemoryView& v, int64_t startNs, int64_t endNs);
/// The snapshot of an agent view; `durationMs`: how long the poll that produced it took (its
/// listing happened between observed_ns - duration and observed_ns).
ViewSnapshot agentSnapshot(const AgentView& a, uint32_t durationMs);

/// Adds the newest snapshots (either may be null: nothing new) and returns the verdicts they make
/// possible: disagreement.hidden_process, disagreement.hidden_module, disagreement.phantom (trust
/// hypervisor-observed, source "memory-introspection+qemu-agent"). Each verdict once per pid
/// (with its start time) or module name. `nowNs` stamps them.
std::vector<Observation> crossView(CrossViewHistory& h, const ViewSnapshot* memory, const ViewSnapshot* agent,
                                   int64_t nowNs);

}  // namespace goldgate::hostmon
