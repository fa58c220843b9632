// The guest-state collectors as goldgate-hostmon runs them, built from its configuration: the
// agent and memory collectors over the monitor's libvirt connection, their scheduler, the
// per-VM state the control API serves, and the alert file.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "collect_scheduler.h"
#include "config.h"
#include "goldgate/common/result.h"
#include "guest_state.h"
#include "hostmon_alerts.h"
#include "inventory.h"
#include "libvirt_monitor.h"

namespace goldgate::hostmon {

class GuestCollection {
 public:
  /// Builds everything (nothing runs yet). `log` receives one line per alert-worthy observation.
  /// Errors: the alert file cannot be opened.
  static Result<std::unique_ptr<GuestCollection>> create(const HostmonConfig& cfg, LibvirtMonitor& monitor,
                                                         const Inventory& inv,
                                                         std::function<void(const std::string&)> log);
  ~GuestCollection();

  /// Starts the collector threads (nothing if collect.enabled is false).
  void start();
  /// Stops them (waiting up to `timeoutMs`, negative: no limit) and writes pending alerts. Returns
  /// false if a collector is still blocked in libvirt (see CollectScheduler::stop).
  bool stop(int timeoutMs = -1);
  /// Feeds an inventory event (Inventory observer, monitor thread).
  void onEvent(const InventoryEvent& e) { scheduler_->onEvent(e); }
  /// Writes aggregated alerts whose window closed. Main thread, periodically.
  void tick();
  const GuestStateStore& store() const { return store_; }
  /// The switch's connections of a VM (SwitchSync's flow sink, its thread): stored as the VM's
  /// flows view, compared with its agent's sockets; a new disagreement is an observation and an alert.
  void recordFlows(const std::string& uuid, const std::string& name, FlowsView view);
  /// Called with the VM's UUID after every new observation (agent, memory, flows), on the thread
  /// that made it. Set before start().
  void setObserver(std::function<void(const std::string& uuid)> f);
  /// Raises an attestation alert event (red flags, responses) in the same alert file. Any thread.
  void raise(const proto::AlertEvent& ev, const std::string& key);

 private:
  GuestCollection() = default;
  GuestStateStore store_;
  std::unique_ptr<HostmonAlerts> alerts_;
  std::unique_ptr<CollectScheduler> scheduler_;
  const Inventory* inv_ = nullptr;
  std::function<void(const CollectTarget&, const Observation&)> alert_;
  std::function<void(const std::string&)> observer_;
};

}  // namespace goldgate::hostmon
