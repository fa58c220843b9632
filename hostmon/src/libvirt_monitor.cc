#include "libvirt_monitor.h"

#include <libvirt/virterror.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

namespace goldgate::hostmon {
namespace {

std::string lastLibvirtError() {
  const char* m = virGetLastErrorMessage();
  return m ? m : "unknown libvirt error";
}

// libvirt prints every error to stderr unless told otherwise; the monitor reports them itself.
void quietErrors(void*, virErrorPtr) {}

VmState toState(int s) {
  switch (s) {
    case VIR_DOMAIN_RUNNING: return VmState::kRunning;
    case VIR_DOMAIN_BLOCKED: return VmState::kBlocked;
    case VIR_DOMAIN_PAUSED: return VmState::kPaused;
    case VIR_DOMAIN_SHUTDOWN: return VmState::kShutdown;
    case VIR_DOMAIN_SHUTOFF: return VmState::kShutoff;
    case VIR_DOMAIN_CRASHED: return VmState::kCrashed;
    case VIR_DOMAIN_PMSUSPENDED: return VmState::kPmSuspended;
    default: return VmState::kNoState;
  }
}

const char* pick(std::initializer_list<const char*> names, int i) {
  if (i < 0 || static_cast<size_t>(i) >= names.size()) return "unknown";
  return names.begin()[i];
}

// virDomainGetState's reason, in words (the enums of libvirt-domain.h, in order).
std::string stateReason(int state, int reason) {
  switch (state) {
    case VIR_DOMAIN_RUNNING:
      return pick({"unknown", "booted", "migrated", "restored", "from snapshot", "unpaused", "migration canceled",
                   "save canceled", "wakeup", "crashed", "postcopy", "postcopy failed"},
                  reason);
    case VIR_DOMAIN_PAUSED:
      return pick({"unknown", "user", "migration", "save", "dump", "I/O error", "watchdog", "from snapshot",
                   "shutting down", "snapshot", "crashed", "starting up", "postcopy", "postcopy failed", "API error"},
                  reason);
    case VIR_DOMAIN_SHUTOFF:
      return pick(
          {"unknown", "shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from snapshot", "daemon"},
          reason);
    case VIR_DOMAIN_SHUTDOWN: return pick({"unknown", "user"}, reason);
    case VIR_DOMAIN_CRASHED: return pick({"unknown", "panicked"}, reason);
    default: return "unknown";
  }
}

// A lifecycle event's state and reason (virDomainEventType and its detail enums).
bool eventState(int event, int detail, VmState& state, std::string& reason) {
  switch (event) {
    case VIR_DOMAIN_EVENT_STARTED:
      state = VmState::kRunning;
      reason = pick({"booted", "migrated", "restored", "from snapshot", "wakeup"}, detail);
      return true;
    case VIR_DOMAIN_EVENT_SUSPENDED:
      state = VmState::kPaused;
      reason = pick({"user", "migration", "I/O error", "watchdog", "restored", "from snapshot", "API error", "postcopy",
                     "postcopy failed"},
                    detail);
      return true;
    case VIR_DOMAIN_EVENT_RESUMED:
      state = VmState::kRunning;
      reason = pick({"unpaused", "migrated", "from snapshot", "postcopy"}, detail);
      return true;
    case VIR_DOMAIN_EVENT_STOPPED:
      state = VmState::kShutoff;
      reason = pick({"shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from snapshot"}, detail);
      return true;
    case VIR_DOMAIN_EVENT_PMSUSPENDED:
      state = VmState::kPmSuspended;
      reason = pick({"memory", "disk"}, detail);
      return true;
    case VIR_DOMAIN_EVENT_CRASHED:
      state = VmState::kCrashed;
      reason = pick({"panicked", "crashloaded"}, detail);
      return true;
    default: return false;  // defined, undefined, shutdown: the refresh that follows tells the state
  }
}

std::string uuidOf(virDomainPtr dom) {
  char buf[VIR_UUID_STRING_BUFLEN] = {};
  if (virDomainGetUUIDString(dom, buf) != 0) return {};
  return buf;
}

// The domain as it is now: its XML (live XML if it runs) and state.
ObservedVm observe(virDomainPtr dom) {
  ObservedVm vm;
  int state = VIR_DOMAIN_NOSTATE, reason = 0;
  if (virDomainGetState(dom, &state, &reason, 0) == 0) {
    vm.state = toState(state);
    vm.reason = stateReason(state, reason);
  }
  char* xml = virDomainGetXMLDesc(dom, 0);
  if (xml) {
    auto info = parseDomainXml(xml);
    std::free(xml);
    if (info) {
      vm.info = std::move(*info);
      return vm;
    }
    vm.parse_error = info.error().message;
  } else {
    vm.parse_error = "cannot read the domain XML: " + lastLibvirtError();
  }
  // Keep the VM in the inventory with what libvirt says directly.
  const char* name = virDomainGetName(dom);
  vm.info.name = name ? name : "";
  vm.info.uuid = uuidOf(dom);
  return vm;
}

}  // namespace

LibvirtMonitor::LibvirtMonitor(MonitorOptions opts, Inventory& inventory) : opts_(std::move(opts)), inv_(inventory) {
  status_.uri = opts_.uri;
}

LibvirtMonitor::~LibvirtMonitor() { stop(); }

Result<void> LibvirtMonitor::start(int waitMs) {
  static std::once_flag once;
  static int registered = -1;
  std::call_once(once, [] {
    virSetErrorFunc(nullptr, quietErrors);
    // Must precede the first connection, or that connection never delivers events.
    registered = virEventRegisterDefaultImpl();
  });
  if (registered != 0)
    return makeError(Error::Code::kInternal, "cannot register libvirt's event loop: " + lastLibvirtError());
  if (loop_thread_.joinable()) return makeError(Error::Code::kInternal, "the monitor is already running");
  stop_ = false;
  // A disabled timer whose only job is to wake the event loop when the monitor stops.
  wake_timer_ = virEventAddTimeout(-1, &LibvirtMonitor::onWake, this, nullptr);
  if (wake_timer_ < 0)
    return makeError(Error::Code::kInternal, "cannot add a libvirt event timer: " + lastLibvirtError());
  loop_thread_ = std::thread([this] { eventLoop(); });
  monitor_thread_ = std::thread([this] { monitorLoop(); });
  std::unique_lock<std::mutex> l(mu_);
  if (waitMs < 0) cv_.wait(l, [&] { return first_done_; });
  else if (!cv_.wait_for(l, std::chrono::milliseconds(waitMs), [&] { return first_done_; }))
    return makeError(Error::Code::kIo,
                     "still connecting to libvirt at " + opts_.uri + " after " + std::to_string(waitMs) + " ms");
  return first_result_;
}

bool LibvirtMonitor::stop(int timeoutMs) {
  if (!loop_thread_.joinable()) return true;
  {
    std::unique_lock<std::mutex> l(mu_);
    stop_ = true;
    cv_.notify_all();
    auto done = [&] { return monitor_done_; };
    if (timeoutMs < 0) cv_.wait(l, done);
    else if (!cv_.wait_for(l, std::chrono::milliseconds(timeoutMs), done)) return false;
  }
  monitor_thread_.join();
  virEventUpdateTimeout(wake_timer_, 0);
  loop_thread_.join();
  virEventRemoveTimeout(wake_timer_);
  wake_timer_ = -1;
  return true;
}

void LibvirtMonitor::onWake(int, void*) {}

void LibvirtMonitor::eventLoop() {
  while (!stop_.load()) {
    if (virEventRunDefaultImpl() < 0) {
      // Nothing sensible to do but not spin.
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

void LibvirtMonitor::monitorLoop() {
  uint32_t backoff = std::max<uint32_t>(opts_.reconnect_min_ms, 1);
  bool connected = false;
  while (!stop_.load()) {
    if (!connected) {
      auto r = connect();
      connected = r.has_value();
      {
        std::lock_guard<std::mutex> l(mu_);
        if (!first_done_) {
          first_done_ = true;
          first_result_ = r;
        }
        if (!r) status_.last_error = r.error().message;
      }
      cv_.notify_all();
      if (connected) {
        backoff = std::max<uint32_t>(opts_.reconnect_min_ms, 1);
        continue;
      }
      if (opts_.log) opts_.log(r.error().message + "; retrying in " + std::to_string(backoff) + " ms");
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait_for(l, std::chrono::milliseconds(backoff), [&] { return stop_.load(); });
      backoff = static_cast<uint32_t>(
          std::min<uint64_t>(uint64_t{backoff} * 2, std::max(opts_.reconnect_max_ms, opts_.reconnect_min_ms)));
      continue;
    }
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return stop_.load() || lost_ || !queue_.empty(); });
    if (stop_.load()) break;
    if (lost_) {
      std::string why = status_.last_error;
      l.unlock();
      disconnect(why);
      connected = false;
      if (opts_.log) opts_.log("lost the connection to " + opts_.uri + " (" + why + "); reconnecting");
      // The first attempt is immediate; back-off applies if it fails.
      continue;
    }
    Work w = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    l.unlock();
    process(w);
    l.lock();
    busy_ = false;
    l.unlock();
    cv_.notify_all();
  }
  if (connected) disconnect("stopping");
  std::lock_guard<std::mutex> l(mu_);
  monitor_done_ = true;
  cv_.notify_all();
}

Result<void> LibvirtMonitor::connect() {
  virConnectPtr c = opts_.readonly ? virConnectOpenReadOnly(opts_.uri.c_str()) : virConnectOpen(opts_.uri.c_str());
  if (!c) return makeError(Error::Code::kIo, "cannot connect to libvirt at " + opts_.uri + ": " + lastLibvirtError());
  // Keepalive detects a libvirtd that hangs or vanishes without closing the socket. Local
  // drivers (test:///, a daemon-less qemu:///embed) have no keepalive: that is not an error.
  if (virConnectSetKeepAlive(c, opts_.keepalive_interval_s, opts_.keepalive_count) < 0 && opts_.log)
    opts_.log("no keepalive on " + opts_.uri + ": " + lastLibvirtError());
  virConnectRegisterCloseCallback(c, &LibvirtMonitor::onClose, this, nullptr);
  {
    std::lock_guard<std::mutex> l(mu_);
    queue_.clear();  // work from an earlier connection is covered by the resync below
    lost_ = false;
    conn_ = c;
  }
  struct Reg {
    int id;
    virConnectDomainEventGenericCallback cb;
  };
  const Reg regs[] = {
      {VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(&LibvirtMonitor::onLifecycle)},
      {VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, VIR_DOMAIN_EVENT_CALLBACK(&LibvirtMonitor::onDeviceAdded)},
      {VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, VIR_DOMAIN_EVENT_CALLBACK(&LibvirtMonitor::onDeviceRemoved)},
      {VIR_DOMAIN_EVENT_ID_REBOOT, VIR_DOMAIN_EVENT_CALLBACK(&LibvirtMonitor::onReboot)},
      {VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(&LibvirtMonitor::onAgent)},
  };
  std::vector<int> ids;
  for (const auto& r : regs) {
    int id = virConnectDomainEventRegisterAny(c, nullptr, r.id, r.cb, this, nullptr);
    if (id < 0) {
      std::string why = "cannot subscribe to domain events on " + opts_.uri + ": " + lastLibvirtError();
      {
        std::lock_guard<std::mutex> l(mu_);
        callback_ids_ = ids;
      }
      disconnect(why);
      return makeError(Error::Code::kIo, why);
    }
    ids.push_back(id);
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    callback_ids_ = ids;
  }
  // Subscribed first, listed second: a change during the listing is both listed and queued, and
  // applying it twice is harmless; the other order could miss it.
  if (auto r = resync(); !r) {
    disconnect(r.error().message);
    return r;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    ++status_.connects;
    status_.connected = true;
    status_.last_error.clear();
  }
  if (opts_.log) opts_.log("connected to " + opts_.uri + ", " + std::to_string(inv_.size()) + " VM(s)");
  return {};
}

void LibvirtMonitor::disconnect(const std::string& why) {
  virConnectPtr c;
  std::vector<int> ids;
  {
    std::lock_guard<std::mutex> l(mu_);
    c = conn_;
    conn_ = nullptr;
    ids.swap(callback_ids_);
    lost_ = false;
    if (status_.connected) ++status_.disconnects;
    status_.connected = false;
    if (why != "stopping") status_.last_error = why;
  }
  if (!c) return;
  for (int id : ids) virConnectDomainEventDeregisterAny(c, id);
  virConnectUnregisterCloseCallback(c, &LibvirtMonitor::onClose);
  virConnectClose(c);
}

Result<void> LibvirtMonitor::resync() {
  virConnectPtr c;
  {
    std::lock_guard<std::mutex> l(mu_);
    c = conn_;
  }
  virDomainPtr* doms = nullptr;
  int n = virConnectListAllDomains(c, &doms, 0);
  if (n < 0) return makeError(Error::Code::kIo, "cannot list the domains on " + opts_.uri + ": " + lastLibvirtError());
  std::vector<ObservedVm> all;
  all.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    all.push_back(observe(doms[i]));
    virDomainFree(doms[i]);
  }
  std::free(doms);
  // Drop domains whose identity could not be read at all rather than inventing a record.
  all.erase(std::remove_if(all.begin(), all.end(), [](const ObservedVm& v) { return v.info.uuid.empty(); }), all.end());
  inv_.reconcile(all);
  return {};
}

void LibvirtMonitor::refresh(const std::string& uuid) {
  virConnectPtr c;
  {
    std::lock_guard<std::mutex> l(mu_);
    c = conn_;
  }
  if (!c) return;
  virDomainPtr dom = virDomainLookupByUUIDString(c, uuid.c_str());
  if (!dom) {
    // Gone (undefined, or a transient domain that stopped). Any other failure (the connection)
    // changes nothing: the resync after the reconnect settles it.
    const virError* e = virGetLastError();
    if (e && e->code == VIR_ERR_NO_DOMAIN) inv_.remove(uuid);
    return;
  }
  ObservedVm vm = observe(dom);
  virDomainFree(dom);
  if (!vm.info.uuid.empty()) inv_.upsert(vm);
}

void LibvirtMonitor::process(const Work& w) {
  switch (w.kind) {
    case Work::kLifecycle: {
      VmState state;
      std::string reason;
      // The event says what happened even if the domain is gone by now (a transient domain that
      // stopped), so apply it before looking the domain up.
      if (eventState(w.event, w.detail, state, reason)) inv_.setState(w.uuid, state, reason);
      refresh(w.uuid);
      break;
    }
    case Work::kReboot: inv_.rebooted(w.uuid); break;
    case Work::kAgent:
      if (w.event == VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_CONNECTED) inv_.setAgent(w.uuid, true);
      else if (w.event == VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_DISCONNECTED) inv_.setAgent(w.uuid, false);
      break;
    case Work::kRefresh: refresh(w.uuid); break;
  }
}

void LibvirtMonitor::enqueue(Work w) {
  if (w.uuid.empty()) return;
  {
    std::lock_guard<std::mutex> l(mu_);
    ++status_.events;
    queue_.push_back(std::move(w));
  }
  cv_.notify_all();
}

void LibvirtMonitor::onLifecycle(virConnectPtr, virDomainPtr dom, int event, int detail, void* opaque) {
  static_cast<LibvirtMonitor*>(opaque)->enqueue({Work::kLifecycle, uuidOf(dom), event, detail});
}

void LibvirtMonitor::onDeviceAdded(virConnectPtr, virDomainPtr dom, const char*, void* opaque) {
  static_cast<LibvirtMonitor*>(opaque)->enqueue({Work::kRefresh, uuidOf(dom)});
}

void LibvirtMonitor::onDeviceRemoved(virConnectPtr, virDomainPtr dom, const char*, void* opaque) {
  static_cast<LibvirtMonitor*>(opaque)->enqueue({Work::kRefresh, uuidOf(dom)});
}

void LibvirtMonitor::onReboot(virConnectPtr, virDomainPtr dom, void* opaque) {
  static_cast<LibvirtMonitor*>(opaque)->enqueue({Work::kReboot, uuidOf(dom)});
}

void LibvirtMonitor::onAgent(virConnectPtr, virDomainPtr dom, int state, int reason, void* opaque) {
  static_cast<LibvirtMonitor*>(opaque)->enqueue({Work::kAgent, uuidOf(dom), state, reason});
}

void LibvirtMonitor::onClose(virConnectPtr, int reason, void* opaque) {
  auto* self = static_cast<LibvirtMonitor*>(opaque);
  const char* why = reason == VIR_CONNECT_CLOSE_REASON_EOF         ? "libvirtd closed the connection"
                    : reason == VIR_CONNECT_CLOSE_REASON_KEEPALIVE ? "keepalive timed out"
                    : reason == VIR_CONNECT_CLOSE_REASON_ERROR     ? "connection error"
                                                                   : "connection closed";
  {
    std::lock_guard<std::mutex> l(self->mu_);
    self->lost_ = true;
    self->status_.last_error = why;
  }
  self->cv_.notify_all();
}

void LibvirtMonitor::forceReconnect() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!conn_) return;
    lost_ = true;
    status_.last_error = "reconnect requested";
  }
  cv_.notify_all();
}

bool LibvirtMonitor::waitIdle(int timeoutMs) {
  std::unique_lock<std::mutex> l(mu_);
  return cv_.wait_for(l, std::chrono::milliseconds(timeoutMs),
                      [&] { return status_.connected && !lost_ && queue_.empty() && !busy_; });
}

virConnectPtr LibvirtMonitor::connection() {
  std::lock_guard<std::mutex> l(mu_);
  if (conn_) virConnectRef(conn_);
  return conn_;
}

MonitorStatus LibvirtMonitor::status() const {
  std::lock_guard<std::mutex> l(mu_);
  return status_;
}

}  // namespace goldgate::hostmon
