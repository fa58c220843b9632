#include "guest_collection.h"
#include <algorithm>

#include "agent_collector.h"
#include "libvirt_guest_access.h"
#include "memory_collector.h"

namespace goldgate::hostmon {

Result<std::unique_ptr<GuestCollection>> GuestCollection::create(const HostmonConfig& cfg, LibvirtMonitor& monitor,
                                                                 const Inventory& inv,
                                                                 std::function<void(const std::string&)> log) {
  std::unique_ptr<GuestCollection> g(new GuestCollection());
  if (!cfg.alerts_file.empty()) {
    auto a = HostmonAlerts::open(cfg.alerts_file, cfg.alerts_window_ms, cfg.alerts_sinks);
    if (!a) return makeError(a.error().code, cfg.source_file + ": " + a.error().message);
    g->alerts_ = std::move(*a);
  }
  // Each poll takes its own reference to the monitor's connection: while libvirtd is away there
  // is none and the poll is skipped; after a reconnect the new connection is used.
  auto open = [&monitor](const std::string& uuid) -> Result<GuestAccess> {
    virConnectPtr c = monitor.connection();
    if (!c) return makeError(Error::Code::kIo, "not connected to libvirt");
    auto a = libvirtGuestAccess(c, uuid);
    virConnectClose(c);
    return a;
  };
  HostmonAlerts* alerts = g->alerts_.get();
  auto alert = [alerts, log](const CollectTarget& vm, const Observation& o) {
    if (log) log(o.kind + " " + vm.name + " (" + vm.uuid + ", " + trustName(o.trust) + "): " + o.detail);
    if (alerts) alerts->raise(vm, o, CollectScheduler::alertSeverity(o.kind));
  };
  g->scheduler_ =
      std::make_unique<CollectScheduler>(cfg.collect, inv, g->store_, std::make_unique<QemuAgentCollector>(cfg.agent),
                                         std::make_unique<MemoryPeekCollector>(cfg.memory), open, alert);
  g->inv_ = &inv;
  g->alert_ = alert;
  return g;
}

GuestCollection::~GuestCollection() { stop(); }

void GuestCollection::start() { scheduler_->start(); }

bool GuestCollection::stop(int timeoutMs) {
  bool stopped = !scheduler_ || scheduler_->stop(timeoutMs);
  if (alerts_) alerts_->flush();
  return stopped;
}

void GuestCollection::recordFlows(const std::string& uuid, const std::string& name, FlowsView view) {
  CollectTarget vm{uuid, name, "", ""};
  if (inv_)
    if (auto r = inv_->find(uuid))
      vm = {r->info.uuid, r->info.name, r->info.labels.manifest, r->info.labels.segment, boundAddresses(r->info)};
  std::vector<Observation> toAlert;
  const int64_t now = view.seen.observed_ns;
  store_.update(uuid, name, [&](GuestState& s) {
    s.flows = std::move(view);
    std::vector<std::string> standing;
    for (const auto& o : flowDisagreements(*s.flows, s.agent ? &*s.agent : nullptr, now)) {
      std::string key = o.kind + "|" + o.detail;
      s.record(o);
      if (std::find(s.standing_flows.begin(), s.standing_flows.end(), key) == s.standing_flows.end())
        toAlert.push_back(o);
      standing.push_back(std::move(key));
    }
    s.standing_flows.swap(standing);
  });
  if (alert_)
    for (const auto& o : toAlert) alert_(vm, o);
  if (observer_) observer_(uuid);
}

void GuestCollection::setObserver(std::function<void(const std::string&)> f) {
  observer_ = f;
  scheduler_->setAfterApply(std::move(f));
}

void GuestCollection::raise(const proto::AlertEvent& ev, const std::string& key) {
  if (alerts_) alerts_->raiseEvent(ev, key);
}

void GuestCollection::tick() {
  if (alerts_) alerts_->tick();
}

}  // namespace goldgate::hostmon
