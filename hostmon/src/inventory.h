// The host's VMs as goldgate-hostmon last saw them, keyed by UUID, with a timestamped state per
// VM. Every change becomes an InventoryEvent handed to one observer.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "domain_xml.h"
#include "goldgate/alerts/kinds.h"

namespace goldgate::hostmon {

/// A domain's state, as libvirt's virDomainState.
enum class VmState { kNoState, kRunning, kBlocked, kPaused, kShutdown, kShutoff, kCrashed, kPmSuspended };

/// "running", "shutoff", … (stable names: the control API and events carry them).
const char* vmStateName(VmState s);

/// One VM.
struct VmRecord {
  DomainInfo info;
  VmState state = VmState::kNoState;
  std::string reason;          // why it entered `state` ("booted", "destroyed", … or "" if unknown)
  int64_t last_change_ns = 0;  // wall clock (Unix epoch ns) of the last change to this record
  uint64_t generation = 0;     // bumped on every change to this record
  bool agent_connected = false;
  std::string parse_error;  // set if the domain's XML could not be read (identity from libvirt only)
};

/// A change to the inventory. `kind` is the name of one of the event catalog's inventory rows
/// (alerts::Channel::kInventory in goldgate/alerts/kinds.h: vm.defined, vm.started, …).
struct InventoryEvent {
  std::string kind;
  std::string uuid;
  std::string name;
  std::string detail;       // e.g. the NIC's MAC and source, the device, the state reason
  int64_t time_ns = 0;      // wall clock (Unix epoch ns)
  uint64_t generation = 0;  // the record's generation after the change (0 for vm.undefined)

  /// Whether this is an event of kind `k`.
  bool is(alerts::Kind k) const { return kind == alerts::info(k).name; }
};

/// What a full resync found for one domain.
struct ObservedVm {
  DomainInfo info;
  VmState state = VmState::kNoState;
  std::string reason;
  std::string parse_error;
};

/// Thread-safe: every method may be called from any thread. The observer runs on the thread that
/// made the change, after the record lock is released (it may call snapshot() and find(), not the
/// methods that change the inventory), and sees the events in the order the changes were made.
class Inventory {
 public:
  using Observer = std::function<void(const InventoryEvent&)>;
  using Clock = std::function<int64_t()>;  // wall clock in ns; tests pass a fake

  explicit Inventory(Clock clock = {});

  /// Sets the single observer (replacing any earlier one). Set it before changes start.
  void setObserver(Observer obs);

  /// Adds or updates one VM from its current XML and state. Returns the events it caused (also
  /// given to the observer); an unchanged VM causes none.
  std::vector<InventoryEvent> upsert(const ObservedVm& vm);

  /// Records a state change reported by an event. Unknown UUID: nothing happens (the refresh
  /// that follows will add the VM). Returns the events.
  std::vector<InventoryEvent> setState(const std::string& uuid, VmState state, const std::string& reason);

  /// Removes a VM (vm.undefined). Unknown UUID: no event.
  std::vector<InventoryEvent> remove(const std::string& uuid);

  /// Records a guest reboot (the state does not change).
  std::vector<InventoryEvent> rebooted(const std::string& uuid);

  /// Records the guest agent connecting or disconnecting.
  std::vector<InventoryEvent> setAgent(const std::string& uuid, bool connected);

  /// Makes the inventory equal to a full listing: upserts every VM in `all`, removes those not in
  /// it. VMs that did not change cause no events.
  std::vector<InventoryEvent> reconcile(const std::vector<ObservedVm>& all);

  /// A copy of every record, ordered by name.
  std::vector<VmRecord> snapshot() const;

  /// The VM with this name or UUID (UUID compared case-insensitively), if any.
  std::optional<VmRecord> find(const std::string& nameOrUuid) const;

  size_t size() const;

 private:
  template <typename F>
  std::vector<InventoryEvent> change(F&& f);
  std::vector<InventoryEvent> upsertLocked(const ObservedVm& vm, int64_t now);
  std::vector<InventoryEvent> removeLocked(const std::string& uuid, int64_t now);
  static void stateEvents(VmRecord& r, VmState state, const std::string& reason, int64_t now,
                          std::vector<InventoryEvent>& out);
  int64_t now() const;

  Clock clock_;
  mutable std::mutex mu_;
  std::map<std::string, VmRecord> vms_;  // by UUID
  // Held across a change and its observer calls (taken before mu_), so that events reach the
  // observer in the order of the changes.
  std::mutex notify_mu_;
  Observer observer_;
};

}  // namespace goldgate::hostmon
