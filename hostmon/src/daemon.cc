#include "daemon.h"

#include <unistd.h>

#include <vector>

#include "goldgate/alerts/alert_log.h"
#include "goldgate/attest/manifest.h"

namespace goldgate::hostmon {

HostmonDaemon::HostmonDaemon(const HostmonConfig& cfg, Log log) : cfg_(cfg), log_(std::move(log)) {}

HostmonDaemon::~HostmonDaemon() = default;

Result<std::unique_ptr<HostmonDaemon>> HostmonDaemon::create(const HostmonConfig& cfg, const std::string& configPath,
                                                             Log log) {
  std::unique_ptr<HostmonDaemon> d(new HostmonDaemon(cfg, std::move(log)));
  if (auto r = d->wire(configPath); !r) return r.error();
  return d;
}

Result<void> HostmonDaemon::wire(const std::string& configPath) {
  if (cfg_.switch_push) {
    SwitchSyncOptions so;
    so.socket = cfg_.switch_socket;
    so.interval_ms = cfg_.switch_interval_ms;
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    so.source = std::string("goldgate-hostmon on ") + host;
    so.log = log_;
    sync_ = std::make_unique<SwitchSync>(so, inv_);
  }
  inv_.setObserver([this](const InventoryEvent& e) {
    log_(e.kind + " " + e.name + " (" + e.uuid + ")" + (e.detail.empty() ? "" : ": " + e.detail));
    if (collection_) collection_->onEvent(e);
    if (sync_) sync_->wake();
  });
  MonitorOptions opts = cfg_.libvirt;
  opts.log = log_;
  monitor_ = std::make_unique<LibvirtMonitor>(opts, inv_);
  server_ = std::make_unique<ControlServer>(cfg_.control_socket, cfg_.control_group, inv_,
                                            [this] { return monitor_->status(); });
  if (auto r = server_->open(); !r) return r.error();
  if (sync_) server_->addDecorator([this](proto::HostmonResponse& resp) { sync_->decorate(resp); });
  auto guests = GuestCollection::create(cfg_, *monitor_, inv_, log_);
  if (!guests) return guests.error();
  collection_ = std::move(*guests);
  server_->setGuestStates(&collection_->store());
  if (sync_) {
    // The VM's addresses on a NIC, as its domain's Goldgate metadata binds them (host truth, out
    // of the guest's reach): the switch passes only those (anti-spoofing). The guest agent's
    // report is only a cross-check (disagreement.address). A NIC without any has no address.
    sync_->setAddressSource([](const VmRecord& vm, const std::string& mac) {
      auto it = vm.info.labels.addresses.find(mac);
      return it == vm.info.labels.addresses.end() ? std::vector<std::string>{} : it->second;
    });
    // The switch's connections of each VM: the hypervisor's view of its network activity.
    sync_->setFlowSink([this](const std::string& uuid, const std::string& name, FlowsView view) {
      collection_->recordFlows(uuid, name, std::move(view));
    });
  }
  // Attestation: every observation is judged against the VM's manifest (if one applies); learning
  // works without any manifest.
  responses_ = std::make_unique<LiveResponses>(*monitor_, sync_.get(), cfg_.switch_socket);
  attest_ = std::make_unique<AttestService>(
      inv_, collection_->store(), responses_.get(),
      [this](const proto::AlertEvent& ev, const std::string& key) { collection_->raise(ev, key); }, log_);
  attest_->setYamlWriter([](const proto::Manifest& m) { return attest::manifestToYaml(m); });
  std::vector<PeerDirectory::Zone> zones;
  for (const auto& z : cfg_.attest.zones) {
    PeerDirectory::Zone pz{z.name, {}};
    for (const auto& c : z.cidrs) pz.cidrs.push_back(*Cidr::parse(c));  // checked by the config loader
    zones.push_back(std::move(pz));
  }
  attest_->setZones(std::move(zones));
  if (!cfg_.attest.manifests.empty()) {
    auto l = ManifestLoader::create(cfg_.attest);
    if (!l) return makeError(l.error().code, configPath + ": " + l.error().message);
    loader_ = std::move(*l);
  }
  reloadManifests();
  collection_->setObserver([this](const std::string& uuid) { attest_->check(uuid); });
  server_->addDecorator([this](proto::HostmonResponse& resp) {
    if (resp.has_vm()) *resp.mutable_vm()->mutable_attestation() = attest_->attestation(resp.vm().uuid());
  });
  server_->setHandler(
      [this](const proto::HostmonRequest& req, std::shared_ptr<Responder> r) { return handle(req, r); });
  if (!cfg_.metrics_listen.empty()) {
    auto collectable = std::make_shared<HostmonMetrics>(
        inv_, collection_->store(), [this](const std::string& uuid) { return attest_->attestation(uuid); });
    auto m = metrics::MetricsServer::start(cfg_.metrics_listen, std::move(collectable));
    if (!m) return makeError(m.error().code, configPath + ": " + m.error().message);
    metrics_ = std::move(*m);
    log_("metrics on " + metrics_->url());
  }
  return {};
}

void HostmonDaemon::reloadManifests() {
  if (!loader_) return;
  auto scan = loader_->scan(alerts::nowNs() / 1000000000);
  for (const auto& st : scan.refused_now) attest_->manifestRejected(st);
  if (scan.changed) {
    std::string names;
    for (const auto& a : scan.accepted)
      names += (names.empty() ? "" : ", ") + a.manifest.app() + " v" + std::to_string(a.manifest.version());
    log_("manifests in force: " + (names.empty() ? std::string("none") : names));
  }
  attest_->setManifests(std::move(scan.accepted), std::move(scan.statuses));
}

bool HostmonDaemon::handle(const proto::HostmonRequest& req, const std::shared_ptr<Responder>& r) {
  proto::HostmonResponse resp;
  resp.set_ok(true);
  // A release or an approval: the actions it took (into the answer `into` makes), or why not.
  auto actions = [&](auto done, auto into) {
    if (!done) {
      resp.set_ok(false);
      resp.set_error(done.error().message);
    } else {
      for (auto& a : *done) *into()->add_actions() = std::move(a);
    }
    r->reply(std::move(resp));
    return true;
  };
  if (req.has_release())
    return actions(attest_->release(req.release().vm(), req.release().by().empty() ? "operator" : req.release().by()),
                   [&] { return resp.mutable_release(); });
  if (req.has_approve()) {
    const auto& ap = req.approve();
    return actions(attest_->approve(ap.vm(), ap.action_id(), ap.by().empty() ? "operator" : ap.by()),
                   [&] { return resp.mutable_approve(); });
  }
  if (req.has_list_manifests()) {
    for (auto& st : attest_->manifests()) *resp.mutable_list_manifests()->add_manifests() = std::move(st);
    r->reply(std::move(resp));
    return true;
  }
  if (req.has_learn()) {
    const uint64_t ms = req.learn().duration_ms();
    if (ms < 1000 || ms > 24ull * 3600 * 1000) {
      resp.set_ok(false);
      resp.set_error("learning takes between 1 s and 24 h (asked: " + std::to_string(ms) + " ms)");
      r->reply(std::move(resp));
      return true;
    }
    attest_->startLearning(req.learn().vm(), ms, req.learn().app(), [r](Result<proto::LearnResponse> res) {
      proto::HostmonResponse out;
      out.set_ok(res.has_value());
      if (res) *out.mutable_learn() = std::move(*res);
      else out.set_error(res.error().message);
      r->reply(std::move(out));
    });
    return true;
  }
  return false;
}

void HostmonDaemon::run(const std::atomic<bool>& stop, std::atomic<bool>* reload) {
  // libvirtd may not be up yet: the monitor keeps trying in the background while the control
  // socket already answers (with connected=false).
  if (auto r = monitor_->start(5000); !r) log_(r.error().message + " (will keep trying)");
  collection_->start();
  log_("serving the inventory on " + cfg_.control_socket);
  if (sync_) sync_->start();
  const auto every = std::chrono::milliseconds(cfg_.attest.reload_interval_ms);
  next_reload_ = std::chrono::steady_clock::now() + every;
  while (!stop.load()) {
    server_->serveOnce(200);
    collection_->tick();
    attest_->tick();
    const bool asked = reload && reload->exchange(false);
    if (asked) log_("reload: manifests read again (other settings take a restart)");
    if (loader_ && (asked || std::chrono::steady_clock::now() >= next_reload_)) {
      reloadManifests();
      next_reload_ = std::chrono::steady_clock::now() + every;
    }
  }
}

bool HostmonDaemon::shutdown() {
  log_("stopping");
  if (sync_) sync_->stop();
  return collection_->stop(5000) && monitor_->stop(5000);
}

}  // namespace goldgate::hostmon
