// Tells goldgate-switch which VM is behind which port: for every VM that is running (or paused),
// each vhost-user NIC becomes a PortIdentity (socket, VM name and UUID, MAC, addresses, labels,
// segment). The whole set is pushed (SetIdentities, replace) at once when the inventory changes
// and again every interval, so a restarted switch, whose hostmon ports start closed, is bound
// again within one interval, and a VM that stopped is unbound (its port closes, its connections
// are cleared).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "control.pb.h"
#include "goldgate/common/result.h"
#include "guest_state.h"
#include "hostmon.pb.h"
#include "inventory.h"

namespace goldgate::hostmon {

/// The VM's addresses on the NIC with this MAC (e.g. reported by the guest agent); may be empty.
using AddressSource = std::function<std::vector<std::string>(const VmRecord& vm, const std::string& mac)>;

struct SwitchSyncOptions {
  std::string socket = "/run/goldgate/switch.sock";  // the switch's control socket
  uint32_t interval_ms = 1000;                       // push the whole set this often, and at once on a change
  int timeout_ms = 2000;                             // one push
  std::string source = "goldgate-hostmon";
  std::function<void(const std::string&)> log;  // news: reachable / unreachable, refused bindings
  AddressSource addresses;                      // may be empty: no addresses, MAC only
  // After each push, the switch's connections of every bound VM (its ports' flows), as the
  // hypervisor-side view of what the VM does on the network. Empty: not asked.
  std::function<void(const std::string& uuid, const std::string& name, FlowsView view)> flows;
  uint32_t flow_limit = 1000;  // flows asked per port
};

/// The switch's flow entries of `port`, from the VM's side (pure; tests call it directly).
FlowsView flowsFromSwitch(const proto::FlowsResponse& resp, const std::string& port, int64_t nowNs);

/// Whether a VM's vhost-user NICs are bound on the switch: while its QEMU process exists.
bool boundState(VmState s);

/// The request for the inventory `vms` (pure; tests call it directly).
/// `segments` (may be null) overrides the segment of a VM by UUID (hardening moves a VM into
/// its manifest's APP.hardened segment).
proto::SetIdentitiesRequest desiredIdentities(const std::vector<VmRecord>& vms, const AddressSource& addresses,
                                              const std::string& source,
                                              const std::map<std::string, std::string>* segments = nullptr);

/// One pusher thread. Public methods may be called from any thread.
class SwitchSync {
 public:
  SwitchSync(SwitchSyncOptions opts, const Inventory& inv);
  ~SwitchSync();
  SwitchSync(const SwitchSync&) = delete;
  SwitchSync& operator=(const SwitchSync&) = delete;

  /// Sets where the VMs' addresses come from. Before start().
  void setAddressSource(AddressSource a) { opts_.addresses = std::move(a); }
  /// Sets the receiver of the VMs' flows (SwitchSyncOptions::flows). Before start().
  void setFlowSink(decltype(SwitchSyncOptions::flows) f) { opts_.flows = std::move(f); }
  void start();
  void stop();
  /// Puts the VM (by UUID) into `segment` instead of its own ("" ends the override), pushes at
  /// once and waits for the switch's answer (one push's timeout). The override is kept for later
  /// pushes even when this one fails. Errors: the switch refused the binding or could not be reached.
  Result<void> overrideSegment(const std::string& uuid, const std::string& segment);
  /// Pushes as soon as possible (the inventory changed).
  void wake();
  /// One push now, on the caller's thread (tests); updates the status like the thread does.
  Result<proto::SetIdentitiesResponse> pushOnce();

  /// Adds the switch's view to a hostmon answer: the push status and, per vhost-user NIC, the port
  /// and segment the switch gave it.
  void decorate(proto::HostmonResponse& resp) const;

 private:
  void loop();
  Result<proto::SetIdentitiesResponse> push(bool withFlows);
  void fetchFlows(const proto::SetIdentitiesRequest& sent, const proto::SetIdentitiesResponse& ans);

  SwitchSyncOptions opts_;
  const Inventory& inv_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
  // Status, under mu_.
  bool reachable_ = false;
  bool ever_answered_ = false;
  uint64_t pushes_ = 0, changes_ = 0, policy_version_ = 0;
  std::string last_error_;
  std::map<std::string, proto::IdentityResult> by_socket_;  // the last answer, by NIC socket
  std::map<std::string, std::string> logged_;
  std::map<std::string, std::string> segment_override_;  // uuid → segment
  std::mutex push_mu_;  // one push at a time (loop, overrideSegment)                // socket -> refusal already logged
};

}  // namespace goldgate::hostmon
