// What goldgate-hostmon's collectors observed inside each running VM: the guest agent's report
// (kernel, modules, processes, listening sockets, interface addresses) and the hypervisor's own
// reading of guest memory (kernel banner, kernel-text hash), each group tagged with its source and
// trust level, plus the recent notable observations (deviations, disagreements, a silent agent).
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kernel_walk.h"

namespace goldgate::hostmon {

/// How far an observation can be believed. The guest agent runs inside the guest and reports what
/// the guest says (a compromised guest can lie); memory read by the hypervisor cannot be forged
/// from inside the guest.
enum class Trust { kGuestReported, kHypervisorObserved };

/// "guest-reported", "hypervisor-observed" (stable names: the control API and alerts carry them).
const char* trustName(Trust t);

/// Where one group of facts came from, and when.
struct Provenance {
  std::string source;  // "qemu-agent", "memory-peek"
  Trust trust = Trust::kGuestReported;
  int64_t observed_ns = 0;  // wall clock (Unix epoch ns); 0: never observed
};

struct GuestKernel {
  Provenance seen;
  std::string release;  // "6.1.0-28-cloud-amd64" (guest-get-osinfo kernel-release)
  std::string version;  // "#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)"
  std::string machine;  // "x86_64"
  std::string os_id;    // "debian"
  std::string os_name;  // pretty name
  std::string cmdline;  // /proc/cmdline
};

/// One line of /proc/modules.
struct GuestModule {
  std::string name;
  uint64_t size = 0;
  uint32_t refcount = 0;
  std::string state;  // Live, Loading, Unloading
  std::string taint;  // "(OE)" flags, "" if none

  bool operator==(const GuestModule&) const = default;
};

struct GuestProcess {
  int32_t pid = 0;
  int32_t ppid = -1;    // -1: unknown
  int64_t uid = -1;     // real uid; -1: unknown
  std::string user;     // from the guest's /etc/passwd, "" if it has none for this uid
  std::string name;     // the kernel's task name (Name: in /proc/PID/status)
  std::string exe;      // /proc/PID/exe link target ("" for kernel threads)
  std::string sha256;   // of the executable, lower-case hex ("" if it could not be read)
  std::string cmdline;  // arguments joined by spaces, cut to the script's per-process limit

  bool operator==(const GuestProcess&) const = default;
};

/// A listening TCP socket or a bound, unconnected UDP socket.
struct GuestListener {
  std::string proto;  // tcp, tcp6, udp, udp6
  std::string addr;   // 0.0.0.0, ::, 127.0.0.1, …
  uint16_t port = 0;
  uint64_t inode = 0;
  int32_t pid = -1;  // owning process; -1 if no process's fd table names the socket

  bool operator==(const GuestListener&) const = default;
};

struct GuestInterface {
  std::string name;
  std::string mac;                     // lower case, "" if none
  std::vector<std::string> addresses;  // "10.0.0.5/24", "fe80::1/64"

  bool operator==(const GuestInterface&) const = default;
};

/// Everything one agent poll brings back (each group carries the time it was seen).
struct AgentView {
  GuestKernel kernel;
  Provenance modules_seen, processes_seen, listeners_seen, interfaces_seen;
  std::vector<GuestModule> modules;
  std::vector<GuestProcess> processes;
  std::vector<GuestListener> listeners;
  std::vector<GuestListener> sockets;  // connected sockets (local side): ports the guest has open besides listeners
  std::vector<GuestInterface> interfaces;
  bool truncated = false;  // a bound was hit (output size, process count): the lists are partial
};

/// The hypervisor's reading of guest memory.
struct MemoryView {
  Provenance seen;
  // "introspection": the kernel's own structures read through a kernel profile (kernel_walk.h);
  // "physical-range": only the banner and a configured physical range (collect.kernel_text).
  std::string mode;
  std::string profile;     // the kernel profile used ("" none: see memory.unsupported_kernel)
  std::string access;      // process_vm_readv, virDomainMemoryPeek
  uint64_t text_virt = 0;  // running address of _text
  uint64_t kaslr_slide = 0;
  std::vector<KernelProcess> processes;
  std::vector<KernelModule> modules;
  uint32_t syscalls = 0, idt_gates = 0;  // entries checked
  std::vector<TableEntry> syscall_hooks, idt_hooks;
  bool partial = false;
  std::vector<std::string> problems;
  uint64_t reads = 0, bytes = 0;  // what the pass read
  std::string banner;             // the "Linux version …" string found in memory
  uint64_t banner_addr = 0;       // its guest-physical address
  uint64_t text_start = 0, text_length = 0;
  std::string text_sha256;  // SHA-256 of the kernel-text region, lower-case hex
  std::string gold_sha256;  // what it should be
  std::string gold_source;  // "config:vm", "config:manifest", "learned", "" (none yet)
  bool match = false;       // text_sha256 == gold_sha256
};

/// A notable observation: deviations (kernel.text_changed), disagreements between the views
/// (disagreement.kernel_release), collector trouble (agent.silent, agent.error, agent.malformed,
/// memory.error). Repeats of the same kind and detail are counted in place.
struct Observation {
  std::string kind;
  std::string detail;
  std::string source;
  Trust trust = Trust::kGuestReported;
  int64_t first_ns = 0, last_ns = 0;
  uint64_t count = 1;
};

/// One connection of the VM as goldgate-switch tracks it, seen from the VM's side.
struct SwitchFlow {
  std::string protocol;       // tcp, udp, icmp, …
  std::string local, remote;  // "ip:port" (IPv6 in brackets)
  uint16_t local_port = 0;
  bool inbound = false;  // the remote side opened it (the VM answers)
  std::string state;     // the switch's connection state
  uint64_t packets_from_vm = 0;
  std::vector<std::string> classes;  // data classes the switch found in it
  uint64_t age_ms = 0;

  bool operator==(const SwitchFlow&) const = default;
};

/// The switch's connection table for the VM's ports: what the VM does on the network, seen where
/// the guest cannot interfere.
struct FlowsView {
  Provenance seen;                 // source "goldgate-switch", hypervisor-observed
  std::vector<std::string> ports;  // the switch ports asked
  std::vector<SwitchFlow> flows;
  bool truncated = false;  // more flows than asked for
};

/// Where the switch's view and the guest agent's disagree: an inbound TCP connection the switch
/// carries (past its handshake) or an inbound UDP flow the VM answered, on a local port where the
/// agent reports no socket — a socket hidden from the guest's own tools, or a stale agent. Only
/// judged when the agent's view is newer than the flow. Observations: disagreement.flow_without_socket.
std::vector<Observation> flowDisagreements(const FlowsView& flows, const AgentView* agent, int64_t nowNs);

/// Where the guest agent's interface addresses and the host's binding (boundAddresses: NIC MAC ->
/// the addresses its domain declares) disagree: an address the agent reports on a bound NIC that
/// the domain does not bind (link-local addresses aside). The binding is what the switch enforces;
/// the difference means a changed or forged address in the guest, or a binding to correct.
/// Observations: disagreement.address (trust guest-reported: it is the agent's claim).
std::vector<Observation> addressDisagreements(const std::map<std::string, std::vector<std::string>>& bound,
                                              const AgentView& agent);

/// What polling one VM costs, for the benchmark "hostmon CPU per VM per poll".
struct PollCost {
  uint64_t polls = 0;
  uint64_t failures = 0;
  uint32_t last_duration_ms = 0;  // wall time of the last poll
  uint64_t last_cpu_us = 0;       // hostmon CPU (user + system of the polling thread) in the last poll
  uint64_t total_cpu_us = 0;
  // Every poll's wall time, for the metrics' histogram: counts per bucket of kPollBucketsMs (the
  // last one past all of them), and the sum.
  static constexpr uint32_t kPollBucketsMs[] = {10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000};
  std::array<uint64_t, std::size(kPollBucketsMs) + 1> duration_counts{};
  uint64_t duration_sum_ms = 0;
  void addDuration(uint32_t ms) {
    size_t i = 0;
    while (i < std::size(kPollBucketsMs) && ms > kPollBucketsMs[i]) ++i;
    ++duration_counts[i];
    duration_sum_ms += ms;
  }
};

/// The latest picture of one VM.
struct GuestState {
  std::string uuid, name;
  std::optional<AgentView> agent;    // the last good agent poll
  std::string agent_status;          // "ok", or why the last poll failed
  std::optional<MemoryView> memory;  // the last good memory reading
  std::string memory_status;
  std::optional<FlowsView> flows;  // the switch's connections of the VM (when it is on a switch port)
  std::deque<Observation> recent;  // newest last, at most kMaxRecent
  PollCost agent_cost, memory_cost;
  // "kind|detail" of what the last agent / memory poll observed: a condition that persists
  // from one poll to the next is alerted once, when it appears.
  std::vector<std::string> standing_agent, standing_memory, standing_flows;
  // Consecutive agent polls that found the agent silent: it is alerted on the second, so that an
  // agent caught between its VM being destroyed and libvirt saying so is no alarm.
  uint32_t silent_streak = 0;
  // The last memory pass saw a process the agent's latest listing lacks (new, or hidden): the next
  // agent poll is brought forward, so that a listing falls between two passes sooner.
  bool agent_soon = false;

  static constexpr size_t kMaxRecent = 32;
  /// Adds `o`, or counts it into the entry of the same kind and detail (which moves to the end).
  void record(const Observation& o);
};

/// The latest GuestState of every VM. Thread-safe: any thread.
class GuestStateStore {
 public:
  /// Applies `f` to the VM's state (created on first use) under the lock. `f` must not call back.
  template <typename F>
  void update(const std::string& uuid, const std::string& name, F&& f) {
    std::lock_guard<std::mutex> l(mu_);
    GuestState& s = states_[uuid];
    s.uuid = uuid;
    if (!name.empty()) s.name = name;
    f(s);
  }
  /// A copy of one VM's state, if any was recorded.
  std::optional<GuestState> find(const std::string& uuid) const;
  /// Forgets a VM (it was undefined).
  void erase(const std::string& uuid);

 private:
  mutable std::mutex mu_;
  std::map<std::string, GuestState> states_;
};

}  // namespace goldgate::hostmon
