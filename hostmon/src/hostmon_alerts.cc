#include "hostmon_alerts.h"

#include "goldgate/alerts/kinds.h"

namespace goldgate::hostmon {

proto::AlertEvent alertEventFor(const CollectTarget& vm, const Observation& o, uint32_t severity) {
  proto::AlertEvent ev;
  alerts::setKind(ev, alerts::Kind::kAttest, o.kind);
  ev.set_severity(severity);
  ev.set_vm(vm.name);
  ev.set_segment(vm.segment);
  ev.set_action("observe");
  ev.set_message(vm.name + ": " + o.kind + " (" + trustName(o.trust) + ", " + o.source + "): " + o.detail);
  if (ev.kind() == alerts::info(alerts::Kind::kAttestKernelTextChanged).name) {
    auto* m = ev.mutable_manifest();
    m->set_name(vm.manifest);
    m->set_expectation("kernel text unchanged since the gold hash");
    m->set_evidence(o.detail);
  }
  return ev;
}

Result<std::unique_ptr<HostmonAlerts>> HostmonAlerts::open(const std::string& path, uint32_t windowMs,
                                                           const std::vector<alerts::SinkConfig>& sinks) {
  auto log = alerts::AlertLog::open(path, windowMs, "goldgate-hostmon");
  if (!log) return log.error();
  auto a = std::make_unique<HostmonAlerts>();
  a->log_ = std::move(*log);
  for (const auto& sc : sinks) {
    auto sink = alerts::Sink::create(sc);
    if (!sink) return makeError(sink.error().code, "alerts.sinks: " + sink.error().message);
    a->log_->addSink(std::move(*sink));
  }
  return a;
}

void HostmonAlerts::raise(const CollectTarget& vm, const Observation& o, uint32_t severity) {
  std::lock_guard<std::mutex> l(mu_);
  log_->raise(alertEventFor(vm, o, severity), o.kind + "|" + vm.uuid + "|" + o.detail, alerts::nowNs());
}

void HostmonAlerts::raiseEvent(const proto::AlertEvent& ev, const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  log_->raise(ev, key, alerts::nowNs());
}

void HostmonAlerts::tick() {
  std::lock_guard<std::mutex> l(mu_);
  log_->tick(alerts::nowNs());
}

void HostmonAlerts::flush() {
  std::lock_guard<std::mutex> l(mu_);
  log_->flushAll();
}

}  // namespace goldgate::hostmon
