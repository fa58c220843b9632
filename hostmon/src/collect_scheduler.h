// Runs the guest-state collectors: one thread per collector polls every running VM on its own
// interval (the agent collector only VMs with an agent channel), applies each result to the
// GuestStateStore, records disagreements between the views, and hands alert-worthy observations
// to a callback.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "collector.h"
#include "guest_state.h"
#include "inventory.h"

namespace goldgate::hostmon {

struct CollectOptions {
  bool enabled = true;
  uint32_t agent_interval_ms = 2000;
  uint32_t memory_interval_ms = 2000;
  uint32_t agent_backoff_max_ms = 60000;
  // A VM that just started has no agent yet: its agent is not polled (and so not reported
  // silent) until it first connects or this long after the start.
  uint32_t agent_boot_grace_s = 60;  // a silent agent is retried after 2×, 4×, … the interval, up to this
};

/// Which collector a poll is for.
enum class CollectKind { kAgent, kMemory };

class CollectScheduler {
 public:
  /// Opens access to a VM by UUID for one poll. Errors: not connected to libvirt, no such domain
  /// (the poll is skipped, not counted as a failure).
  using AccessOpener = std::function<Result<GuestAccess>(const std::string& uuid)>;
  /// Called (on a collector thread) with every observation that should raise an alert.
  using AlertFn = std::function<void(const CollectTarget&, const Observation&)>;

  /// `agent` or `memory` may be null (that collector does not run).
  CollectScheduler(CollectOptions opts, const Inventory& inv, GuestStateStore& store, std::unique_ptr<Collector> agent,
                   std::unique_ptr<Collector> memory, AccessOpener open, AlertFn alert);
  ~CollectScheduler();
  CollectScheduler(const CollectScheduler&) = delete;
  CollectScheduler& operator=(const CollectScheduler&) = delete;

  /// Starts one thread per collector. Call once.
  void start();
  /// Stops the threads, waiting up to `timeoutMs` (negative: no limit) for a poll in progress.
  /// Returns false if a thread is still in a libvirt call (a hung libvirtd): the threads keep
  /// running and the caller should end the process rather than destroy the scheduler. Idempotent.
  bool stop(int timeoutMs = -1);

  /// Feeds an inventory event (from the Inventory observer, on the monitor thread): an agent that
  /// connected is polled at once; a VM that started or rebooted is polled at once and its learned
  /// state forgotten; a VM that went away is dropped.
  void onEvent(const InventoryEvent& e);

  /// Polls one VM with one collector on the calling thread and applies the result. Returns false
  /// if the poll was skipped (unknown VM, collector absent, no access). The threads use it; tests
  /// call it directly.
  bool pollNow(const std::string& uuid, CollectKind kind);

  /// Called (on the collector thread) after every applied poll with the VM's UUID: the
  /// attestation service judges the new state. Set before start().
  void setAfterApply(std::function<void(const std::string& uuid)> f) { after_apply_ = std::move(f); }

  /// Which kinds of observation raise an alert, and how severe (0: none).
  static uint32_t alertSeverity(const std::string& kind);

 private:
  struct Due {
    std::chrono::steady_clock::time_point at{};
    uint32_t silent = 0;  // consecutive silent-agent polls (back-off)
  };
  std::function<void(const std::string&)> after_apply_;
  void loop(CollectKind kind);
  void apply(const CollectTarget& vm, CollectKind kind, CollectResult&& r, uint32_t durationMs, uint64_t cpuUs);
  Collector* collector(CollectKind k) const { return k == CollectKind::kAgent ? agent_.get() : memory_.get(); }
  uint32_t interval(CollectKind k) const {
    return k == CollectKind::kAgent ? opts_.agent_interval_ms : opts_.memory_interval_ms;
  }

  CollectOptions opts_;
  const Inventory& inv_;
  GuestStateStore& store_;
  std::unique_ptr<Collector> agent_, memory_;
  AccessOpener open_;
  AlertFn alert_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::map<std::string, Due> due_[2];  // by UUID, per CollectKind
  struct Boot {
    std::chrono::steady_clock::time_point started{};
    bool agent_seen = false;  // the agent connected since the start
  };
  std::map<std::string, Boot> boots_;  // by UUID, under mu_
  bool agentDue(const VmRecord& r, std::chrono::steady_clock::time_point now);
  std::thread threads_[2];
  int running_ = 0;  // threads that have not left their loop
};

}  // namespace goldgate::hostmon
