// goldgate-hostmon: command-line entry point.
#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <memory>
#include <mutex>

#include <unistd.h>

#include "goldgate/attest/manifest.h"
#include "goldgate/hostmon/attestation.h"
#include "goldgate/hostmon/config.h"
#include "goldgate/hostmon/control.h"
#include "goldgate/hostmon/guest_collection.h"
#include "goldgate/hostmon/inventory.h"
#include "goldgate/hostmon/libvirt_monitor.h"
#include "goldgate/hostmon/manifest_loader.h"
#include "goldgate/hostmon/responses.h"
#include "goldgate/hostmon/switch_sync.h"

using namespace goldgate::hostmon;

namespace {

std::atomic<bool> g_stop{false};
void onStop(int) { g_stop.store(true); }

std::mutex g_log_mu;
void logLine(const std::string& s) {
  std::lock_guard<std::mutex> l(g_log_mu);
  std::fprintf(stderr, "goldgate-hostmon: %s\n", s.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"goldgate-hostmon: VM inventory and events from libvirt (Goldgate host monitor)"};
  std::string config = "configs/hostmon.yaml";
  bool checkOnly = false;
  app.add_option("-c,--config", config, "host monitor configuration file")->capture_default_str();
  app.add_flag("--check", checkOnly, "validate the configuration, then exit");
  CLI11_PARSE(app, argc, argv);

  auto cfg = loadHostmonConfig(config);
  if (!cfg) {
    std::fprintf(stderr, "goldgate-hostmon: %s\n", cfg.error().message.c_str());
    return 2;
  }
  if (checkOnly) {
    std::printf("%s: ok (libvirt %s%s, control socket %s)\n", config.c_str(), cfg->libvirt.uri.c_str(),
                cfg->libvirt.readonly ? " read-only" : "", cfg->control_socket.c_str());
    return 0;
  }
  std::signal(SIGINT, onStop);
  std::signal(SIGTERM, onStop);
  std::signal(SIGPIPE, SIG_IGN);

  Inventory inv;
  std::unique_ptr<SwitchSync> sync;
  if (cfg->switch_push) {
    SwitchSyncOptions so;
    so.socket = cfg->switch_socket;
    so.interval_ms = cfg->switch_interval_ms;
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    so.source = std::string("goldgate-hostmon on ") + host;
    so.log = logLine;
    sync = std::make_unique<SwitchSync>(so, inv);
  }
  GuestCollection* collection = nullptr;  // set before the monitor starts
  inv.setObserver([&sync, &collection](const InventoryEvent& e) {
    logLine(e.kind + " " + e.name + " (" + e.uuid + ")" + (e.detail.empty() ? "" : ": " + e.detail));
    if (collection) collection->onEvent(e);
    if (sync) sync->wake();
  });
  MonitorOptions opts = cfg->libvirt;
  opts.log = logLine;
  LibvirtMonitor monitor(opts, inv);
  ControlServer server(cfg->control_socket, cfg->control_group, inv, [&] { return monitor.status(); });
  if (auto r = server.open(); !r) {
    std::fprintf(stderr, "goldgate-hostmon: %s\n", r.error().message.c_str());
    return 1;
  }
  if (sync) server.addDecorator([&sync](goldgate::proto::HostmonResponse& resp) { sync->decorate(resp); });
  auto guests = GuestCollection::create(*cfg, monitor, inv, logLine);
  if (!guests) {
    std::fprintf(stderr, "goldgate-hostmon: %s\n", guests.error().message.c_str());
    return 1;
  }
  collection = guests->get();
  server.setGuestStates(&collection->store());
  if (sync)
    // The VM's addresses on a NIC, as its domain's Goldgate metadata binds them (host truth, out
    // of the guest's reach): the switch passes only those (anti-spoofing). The guest agent's
    // report is only a cross-check (disagreement.address). A NIC without any has no address.
    sync->setAddressSource([](const VmRecord& vm, const std::string& mac) {
      auto it = vm.info.labels.addresses.find(mac);
      return it == vm.info.labels.addresses.end() ? std::vector<std::string>{} : it->second;
    });
  if (sync)
    // The switch's connections of each VM: the hypervisor's view of its network activity.
    sync->setFlowSink([collection](const std::string& uuid, const std::string& name, FlowsView view) {
      collection->recordFlows(uuid, name, std::move(view));
    });
  // libvirtd may not be up yet: the monitor keeps trying in the background while the control
  // socket already answers (with connected=false).
  // Attestation: every observation is judged against the VM's manifest (if one applies); learning
  // works without any manifest.
  LiveResponses responses(monitor, sync.get(), cfg->switch_socket);
  AttestService attest(inv, collection->store(), &responses,
                       [collection](const goldgate::proto::AlertEvent& ev, const std::string& key) { collection->raise(ev, key); }, logLine);
  attest.setYamlWriter([](const goldgate::proto::Manifest& m) { return goldgate::attest::manifestToYaml(m); });
  {
    std::vector<PeerDirectory::Zone> zones;
    for (const auto& z : cfg->attest.zones) {
      PeerDirectory::Zone pz{z.name, {}};
      for (const auto& c : z.cidrs) pz.cidrs.push_back(*goldgate::Cidr::parse(c));
      zones.push_back(std::move(pz));
    }
    attest.setZones(std::move(zones));
  }
  std::unique_ptr<ManifestLoader> loader;
  if (!cfg->attest.manifests.empty()) {
    auto l = ManifestLoader::create(cfg->attest);
    if (!l) {
      std::fprintf(stderr, "goldgate-hostmon: %s: %s\n", config.c_str(), l.error().message.c_str());
      return 1;
    }
    loader = std::move(*l);
  }
  auto reloadManifests = [&] {
    if (!loader) return;
    auto scan = loader->scan(goldgate::alerts::nowNs() / 1000000000);
    for (const auto& st : scan.refused_now) attest.manifestRejected(st);
    if (scan.changed) {
      std::string names;
      for (const auto& a : scan.accepted) names += (names.empty() ? "" : ", ") + a.manifest.app() + " v" + std::to_string(a.manifest.version());
      logLine("manifests in force: " + (names.empty() ? std::string("none") : names));
    }
    attest.setManifests(std::move(scan.accepted), std::move(scan.statuses));
  };
  reloadManifests();
  collection->setObserver([&attest](const std::string& uuid) { attest.check(uuid); });
  server.addDecorator([&attest](goldgate::proto::HostmonResponse& resp) {
    if (resp.has_vm()) *resp.mutable_vm()->mutable_attestation() = attest.attestation(resp.vm().uuid());
  });
  server.setHandler([&attest](const goldgate::proto::HostmonRequest& req, std::shared_ptr<Responder> r) {
    goldgate::proto::HostmonResponse resp;
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
      return actions(attest.release(req.release().vm(), req.release().by().empty() ? "operator" : req.release().by()),
                     [&] { return resp.mutable_release(); });
    if (req.has_approve()) {
      const auto& ap = req.approve();
      return actions(attest.approve(ap.vm(), ap.action_id(), ap.by().empty() ? "operator" : ap.by()),
                     [&] { return resp.mutable_approve(); });
    }
    if (req.has_list_manifests()) {
      for (auto& st : attest.manifests()) *resp.mutable_list_manifests()->add_manifests() = std::move(st);
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
      attest.startLearning(req.learn().vm(), ms, req.learn().app(), [r](goldgate::Result<goldgate::proto::LearnResponse> res) {
        goldgate::proto::HostmonResponse out;
        out.set_ok(res.has_value());
        if (res) *out.mutable_learn() = std::move(*res);
        else out.set_error(res.error().message);
        r->reply(std::move(out));
      });
      return true;
    }
    return false;
  });
  if (auto r = monitor.start(5000); !r) logLine(r.error().message + " (will keep trying)");
  collection->start();
  logLine("serving the inventory on " + cfg->control_socket);
  if (sync) sync->start();
  auto nextReload = std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg->attest.reload_interval_ms);
  while (!g_stop.load()) {
    server.serveOnce(200);
    collection->tick();
    attest.tick();
    if (loader && std::chrono::steady_clock::now() >= nextReload) {
      reloadManifests();
      nextReload = std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg->attest.reload_interval_ms);
    }
  }
  logLine("stopping");
  if (sync) sync->stop();
  if (!collection->stop(5000) || !monitor.stop(5000)) {
    // A hung libvirtd can hold a libvirt call for ever; there is nothing to save, so do not wait.
    logLine("a libvirt call is still blocked (is libvirtd hung?); exiting without waiting for it");
    std::fflush(stderr);
    std::_Exit(0);
  }
  return 0;
}
