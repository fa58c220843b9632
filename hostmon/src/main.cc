// goldgate-hostmon: command-line entry point.
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <memory>
#include <mutex>

#include <unistd.h>

#include "goldgate/hostmon/config.h"
#include "goldgate/hostmon/control.h"
#include "goldgate/hostmon/guest_collection.h"
#include "goldgate/hostmon/inventory.h"
#include "goldgate/hostmon/libvirt_monitor.h"
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
    // The VM's addresses on a NIC, as its guest agent last reported them: the switch binds them
    // (anti-spoofing). Without an agent report the port is bound by MAC alone.
    sync->setAddressSource([collection](const VmRecord& vm, const std::string& mac) {
      std::vector<std::string> out;
      auto st = collection->store().find(vm.info.uuid);
      if (!st || !st->agent) return out;
      for (const auto& i : st->agent->interfaces)
        if (i.mac == mac)
          for (const auto& a : i.addresses) out.push_back(a.substr(0, a.find('/')));
      return out;
    });
  if (sync)
    // The switch's connections of each VM: the hypervisor's view of its network activity.
    sync->setFlowSink([collection](const std::string& uuid, const std::string& name, FlowsView view) {
      collection->recordFlows(uuid, name, std::move(view));
    });
  // libvirtd may not be up yet: the monitor keeps trying in the background while the control
  // socket already answers (with connected=false).
  if (auto r = monitor.start(5000); !r) logLine(r.error().message + " (will keep trying)");
  collection->start();
  logLine("serving the inventory on " + cfg->control_socket);
  if (sync) sync->start();
  while (!g_stop.load()) {
    server.serveOnce(200);
    collection->tick();
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
