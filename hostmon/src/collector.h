// The guest-state collector interface: one VM, one poll, one result. Each collector reaches the
// VM only through GuestAccess, whose functions wrap libvirt in production
// (libvirt_guest_access.h) and are replaced by fakes in tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "goldgate/common/result.h"
#include "guest_state.h"

namespace goldgate::hostmon {

/// Sends one JSON command to the VM's guest agent, waiting at most `timeoutSeconds`, and returns
/// the reply text. Errors: kIo when the agent did not answer (not connected, timed out,
/// unresponsive: a silent agent); any other code when it answered with an error or the call was
/// refused (the message says why).
using AgentCommandFn = std::function<Result<std::string>(const std::string& request, int timeoutSeconds)>;

/// Reads `size` (≤ 64 KiB) bytes of guest-physical memory at `start` into `buf`. Errors: the
/// read failed (address outside guest RAM, no permission, connection lost).
using MemoryPeekFn = std::function<Result<void>(uint64_t start, size_t size, uint8_t* buf)>;

/// Sends one human-monitor (HMP) command to the VM's QEMU ("info registers", "gpa2hva 0x0") and
/// returns its text. Errors: the monitor refused or the domain is not running.
using MonitorCommandFn = std::function<Result<std::string>(const std::string& command)>;

/// What a collector may do to one VM. Any function may be empty (not available).
struct GuestAccess {
  AgentCommandFn agent;
  MemoryPeekFn peek;  // guest-physical memory: the fast path when there is one, else virDomainMemoryPeek
  MonitorCommandFn monitor;
  uint64_t ram_top = 0;  // the first guest-physical address past guest RAM (0: unknown)
  // How `peek` reads: "process_vm_readv" (guest RAM read straight from the QEMU process) or
  // "virDomainMemoryPeek" (one libvirt call per read), and why the fast path is not in use.
  std::string peek_method, peek_note;
  MemoryPeekFn slow_peek;  // virDomainMemoryPeek itself (the benchmark compares the two)
};

/// The VM being polled, as the inventory knows it.
struct CollectTarget {
  std::string uuid, name, manifest, segment;
  std::map<std::string, std::vector<std::string>> addresses;  // boundAddresses() of its domain
};

/// One poll's outcome, applied to the VM's GuestState by the scheduler.
/// The message guest access gives when a call failed because the domain was not running after all
/// (it stopped, or a restarted libvirtd has not taken its QEMU process back yet).
inline constexpr const char* kDomainNotRunning = "domain is not running";

struct CollectResult {
  std::optional<AgentView> agent;    // set: replaces the VM's agent view
  std::optional<MemoryView> memory;  // set: replaces the VM's memory view
  std::string status;                // "ok", or why the poll failed (partly)
  bool failed = false;               // nothing new was learnt
  bool skipped = false;              // the domain was not running after all: nothing to record
  bool agent_soon = false;           // memory saw a process the agent's listing lacks: ask the agent sooner
  std::vector<Observation> observations;
};

/// A guest-state collector. collect() runs on the scheduler's thread for this collector only
/// (one call at a time); it may block for as long as its own timeouts allow.
class Collector {
 public:
  virtual ~Collector() = default;
  /// "qemu-agent", "memory-peek".
  virtual const char* source() const = 0;
  virtual Trust trust() const = 0;
  /// Polls `vm` once. `latest` is the VM's state before this poll (a copy). Never throws; every
  /// failure is a result with `failed` set and an observation saying why.
  virtual CollectResult collect(const CollectTarget& vm, const GuestAccess& access, const GuestState& latest) = 0;
  /// Drops what the collector remembers of a VM (it restarted, rebooted or went away).
  virtual void forget(const std::string& uuid) { (void)uuid; }
  /// Asks a poll in progress to give up soon (shutdown). Any thread.
  virtual void cancel() {}
};

}  // namespace goldgate::hostmon
