#include "inventory.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <optional>
#include <set>

#include "goldgate/alerts/alert_log.h"
#include "goldgate/alerts/kinds.h"

namespace goldgate::hostmon {
namespace {

using alerts::Kind;
using alerts::wireName;

std::string nicText(const Nic& n) {
  std::string s = n.mac.empty() ? "(no MAC)" : n.mac;
  s += " " + n.type;
  if (!n.source.empty()) s += " " + n.source;
  if (!n.source_mode.empty()) s += " (" + n.source_mode + ")";
  return s;
}

std::string deviceText(const Device& d) {
  std::string s = d.kind;
  if (!d.type.empty()) s += " " + d.type;
  if (!d.target.empty()) s += " " + d.target;
  if (!d.source.empty()) s += " " + d.source;
  return s;
}

bool isUp(VmState s) { return s == VmState::kRunning || s == VmState::kBlocked; }

// A NIC is the same NIC across XML versions if it has the same MAC (or, without one, the same
// source): libvirt adds alias and target dev when a VM starts, which is not a new NIC.
bool sameNic(const Nic& a, const Nic& b) {
  if (!a.mac.empty() || !b.mac.empty()) return a.mac == b.mac && a.type == b.type && a.source == b.source;
  return a.type == b.type && a.source == b.source;
}

// A channel is named by its target (org.qemu.guest_agent.0): libvirt fills in its socket path
// when the VM starts and drops it when it stops, which is not a new device.
bool sameDevice(const Device& a, const Device& b) {
  if (a.kind == "channel" && b.kind == "channel" && !a.target.empty()) return a.type == b.type && a.target == b.target;
  return a.kind == b.kind && a.type == b.type && a.target == b.target && a.source == b.source;
}

template <typename T, typename Same>
bool contains(const std::vector<T>& v, const T& x, Same same) {
  return std::any_of(v.begin(), v.end(), [&](const T& y) { return same(x, y); });
}

}  // namespace

const char* vmStateName(VmState s) {
  switch (s) {
    case VmState::kNoState: return "nostate";
    case VmState::kRunning: return "running";
    case VmState::kBlocked: return "blocked";
    case VmState::kPaused: return "paused";
    case VmState::kShutdown: return "shutdown";
    case VmState::kShutoff: return "shutoff";
    case VmState::kCrashed: return "crashed";
    case VmState::kPmSuspended: return "pmsuspended";
  }
  return "unknown";
}

Inventory::Inventory(Clock clock) : clock_(std::move(clock)) {}

int64_t Inventory::now() const {
  if (clock_) return clock_();
  return alerts::nowNs();
}

void Inventory::setObserver(Observer obs) {
  std::lock_guard<std::mutex> n(notify_mu_);
  observer_ = std::move(obs);
}

template <typename F>
std::vector<InventoryEvent> Inventory::change(F&& f) {
  std::lock_guard<std::mutex> n(notify_mu_);
  std::vector<InventoryEvent> events;
  {
    std::lock_guard<std::mutex> l(mu_);
    events = f(now());
  }
  if (observer_)
    for (const auto& e : events) observer_(e);
  return events;
}

void Inventory::stateEvents(VmRecord& r, VmState state, const std::string& reason, int64_t now,
                            std::vector<InventoryEvent>& out) {
  VmState prev = r.state;
  if (prev == state) {
    // Same state, new reason (e.g. "unknown" from a listing, "booted" from the event): keep the
    // more specific one without an event.
    if (!reason.empty() && reason != "unknown") r.reason = reason;
    return;
  }
  r.state = state;
  r.reason = reason;
  std::optional<Kind> kind;
  switch (state) {
    case VmState::kRunning:
    case VmState::kBlocked:
      if (isUp(prev)) break;  // running <-> blocked is scheduling, not a lifecycle change
      kind = prev == VmState::kPaused || prev == VmState::kPmSuspended ? Kind::kVmResumed : Kind::kVmStarted;
      break;
    case VmState::kPaused: kind = Kind::kVmPaused; break;
    case VmState::kShutdown: kind = Kind::kVmShutdown; break;
    case VmState::kShutoff: kind = Kind::kVmStopped; break;
    case VmState::kCrashed: kind = Kind::kVmCrashed; break;
    case VmState::kPmSuspended: kind = Kind::kVmSuspended; break;
    case VmState::kNoState: break;
  }
  ++r.generation;
  r.last_change_ns = now;
  if (kind) {
    std::string detail = std::string(vmStateName(prev)) + " -> " + vmStateName(state);
    if (!reason.empty()) detail += " (" + reason + ")";
    out.push_back({wireName(*kind), r.info.uuid, r.info.name, detail, now, r.generation});
  }
}

std::vector<InventoryEvent> Inventory::upsertLocked(const ObservedVm& vm, int64_t now) {
  std::vector<InventoryEvent> out;
  auto it = vms_.find(vm.info.uuid);
  if (it == vms_.end()) {
    VmRecord r;
    r.info = vm.info;
    r.state = vm.state;
    r.reason = vm.reason;
    r.parse_error = vm.parse_error;
    r.generation = 1;
    r.last_change_ns = now;
    out.push_back({wireName(Kind::kVmDefined), r.info.uuid, r.info.name,
                   std::string(vmStateName(r.state)) + ", " + std::to_string(r.info.nics.size()) + " NIC(s)", now, 1});
    // A VM first seen running (hostmon started after it) is reported as started too, so that an
    // observer needs only the started/stopped events to know which VMs run.
    if (isUp(r.state))
      out.push_back({wireName(Kind::kVmStarted), r.info.uuid, r.info.name, "running when first seen", now, 1});
    // An agent that connected before hostmon was watching sends no event: its state is in the XML.
    r.agent_connected = isUp(r.state) && r.info.agent_state == "connected";
    vms_.emplace(r.info.uuid, std::move(r));
    return out;
  }
  VmRecord& r = it->second;
  const DomainInfo& was = r.info;
  const DomainInfo& is = vm.info;
  bool changed = false;
  uint64_t gen = r.generation + 1;
  auto add = [&](Kind kind, std::string detail) {
    out.push_back({wireName(kind), is.uuid, is.name, std::move(detail), now, gen});
  };
  if (was.name != is.name) add(Kind::kVmRenamed, was.name + " -> " + is.name);
  for (const auto& n : is.nics)
    if (!contains(was.nics, n, sameNic)) add(Kind::kVmNicAdded, nicText(n));
  for (const auto& n : was.nics)
    if (!contains(is.nics, n, sameNic)) add(Kind::kVmNicRemoved, nicText(n));
  for (const auto& d : is.devices)
    if (!contains(was.devices, d, sameDevice)) add(Kind::kVmDeviceAdded, deviceText(d));
  for (const auto& d : was.devices)
    if (!contains(is.devices, d, sameDevice)) add(Kind::kVmDeviceRemoved, deviceText(d));
  if (was.labels != is.labels || was.has_labels != is.has_labels)
    add(Kind::kVmLabelsChanged,
        "app=" + is.labels.app + " segment=" + is.labels.segment + " manifest=" + is.labels.manifest);
  changed = !out.empty() || was != is || r.parse_error != vm.parse_error;
  if (changed) {
    r.info = is;
    r.parse_error = vm.parse_error;
    r.generation = gen;
    r.last_change_ns = now;
  }
  stateEvents(r, vm.state, vm.reason, now, out);
  return out;
}

std::vector<InventoryEvent> Inventory::removeLocked(const std::string& uuid, int64_t now) {
  std::vector<InventoryEvent> out;
  auto it = vms_.find(uuid);
  if (it == vms_.end()) return out;
  out.push_back({wireName(Kind::kVmUndefined), uuid, it->second.info.name, "", now, 0});
  vms_.erase(it);
  return out;
}

std::vector<InventoryEvent> Inventory::upsert(const ObservedVm& vm) {
  return change([&](int64_t now) { return upsertLocked(vm, now); });
}

std::vector<InventoryEvent> Inventory::setState(const std::string& uuid, VmState state, const std::string& reason) {
  return change([&](int64_t now) {
    std::vector<InventoryEvent> out;
    auto it = vms_.find(uuid);
    if (it != vms_.end()) stateEvents(it->second, state, reason, now, out);
    return out;
  });
}

std::vector<InventoryEvent> Inventory::remove(const std::string& uuid) {
  return change([&](int64_t now) { return removeLocked(uuid, now); });
}

std::vector<InventoryEvent> Inventory::rebooted(const std::string& uuid) {
  return change([&](int64_t now) {
    std::vector<InventoryEvent> out;
    auto it = vms_.find(uuid);
    if (it == vms_.end()) return out;
    VmRecord& r = it->second;
    ++r.generation;
    r.last_change_ns = now;
    out.push_back({wireName(Kind::kVmRebooted), uuid, r.info.name, "", now, r.generation});
    return out;
  });
}

std::vector<InventoryEvent> Inventory::setAgent(const std::string& uuid, bool connected) {
  return change([&](int64_t now) {
    std::vector<InventoryEvent> out;
    auto it = vms_.find(uuid);
    if (it == vms_.end() || it->second.agent_connected == connected) return out;
    VmRecord& r = it->second;
    r.agent_connected = connected;
    ++r.generation;
    r.last_change_ns = now;
    out.push_back({wireName(connected ? Kind::kVmAgentConnected : Kind::kVmAgentDisconnected), uuid, r.info.name, "",
                   now, r.generation});
    return out;
  });
}

std::vector<InventoryEvent> Inventory::reconcile(const std::vector<ObservedVm>& all) {
  return change([&](int64_t now) {
    std::vector<InventoryEvent> out;
    std::set<std::string> seen;
    for (const auto& vm : all) {
      seen.insert(vm.info.uuid);
      auto ev = upsertLocked(vm, now);
      out.insert(out.end(), ev.begin(), ev.end());
    }
    std::vector<std::string> gone;
    for (const auto& [uuid, r] : vms_)
      if (!seen.count(uuid)) gone.push_back(uuid);
    for (const auto& uuid : gone) {
      auto ev = removeLocked(uuid, now);
      out.insert(out.end(), ev.begin(), ev.end());
    }
    return out;
  });
}

std::vector<VmRecord> Inventory::snapshot() const {
  std::vector<VmRecord> out;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [uuid, r] : vms_) out.push_back(r);
  }
  std::sort(out.begin(), out.end(), [](const VmRecord& a, const VmRecord& b) { return a.info.name < b.info.name; });
  return out;
}

std::optional<VmRecord> Inventory::find(const std::string& nameOrUuid) const {
  std::string key;
  for (char ch : nameOrUuid) key += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  std::lock_guard<std::mutex> l(mu_);
  if (auto it = vms_.find(key); it != vms_.end()) return it->second;
  for (const auto& [uuid, r] : vms_)
    if (r.info.name == nameOrUuid) return r;
  return std::nullopt;
}

size_t Inventory::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return vms_.size();
}

}  // namespace goldgate::hostmon
