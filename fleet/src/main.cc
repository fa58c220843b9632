// goldgate-fleet: the host's agent of the fleet (docs/fleet.md; the agent itself: agent.h).
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <mutex>

#include "goldgate/alerts/alert_log.h"
#include "goldgate/alerts/kinds.h"
#include "goldgate/fleet/agent.h"

using namespace goldgate;

namespace {

std::atomic<bool> g_stop{false};
void onStop(int) { g_stop.store(true); }

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"goldgate-fleet: keeps this host on the fleet's signed policy from etcd (Goldgate)"};
  std::string config = "/etc/goldgate/fleet.yaml";
  bool checkOnly = false;
  app.add_option("-c,--config", config, "agent configuration file")->capture_default_str();
  app.add_flag("--check", checkOnly, "validate the configuration, then exit");
  CLI11_PARSE(app, argc, argv);

  auto cfg = fleet::loadAgentConfig(config);
  if (!cfg) {
    std::fprintf(stderr, "goldgate-fleet: %s\n", cfg.error().message.c_str());
    return 2;
  }
  if (checkOnly) {
    std::printf("%s: ok (host %s, %zu etcd endpoints, %zu trusted keys, threshold %u)\n", config.c_str(),
                cfg->host.c_str(), cfg->etcd.endpoints.size(), cfg->trust.keys.size(),
                std::max(1u, cfg->trust.threshold));
    return 0;
  }
  std::signal(SIGINT, onStop);
  std::signal(SIGTERM, onStop);
  std::signal(SIGPIPE, SIG_IGN);
  auto log = alerts::AlertLog::open(cfg->alert_file, 0, "goldgate-fleet");
  if (!log) {
    std::fprintf(stderr, "goldgate-fleet: %s\n", log.error().message.c_str());
    return 1;
  }
  std::mutex mu;
  auto logLine = [&](const std::string& s) {
    std::lock_guard<std::mutex> l(mu);
    std::fprintf(stderr, "goldgate-fleet: %s\n", s.c_str());
    std::fflush(stderr);
  };
  auto alert = [&](const std::string& kind, const std::string& message) {
    proto::AlertEvent ev;
    const alerts::Kind k = kind == "fleet.bundle_applied"   ? alerts::Kind::kFleetBundleApplied
                           : kind == "fleet.bundle_refused" ? alerts::Kind::kFleetBundleRefused
                                                            : alerts::Kind::kFleetStoreUnreachable;
    alerts::setKind(ev, k);
    ev.set_message(message);
    (*log)->raise(ev, kind + "|" + message, nowNs());
  };
  auto agent = fleet::FleetAgent::create(*cfg, logLine, alert);
  if (!agent) {
    std::fprintf(stderr, "goldgate-fleet: %s\n", agent.error().message.c_str());
    return 1;
  }
  logLine("host " + cfg->host + ", etcd " + cfg->etcd.endpoints.front() +
          (cfg->etcd.endpoints.size() > 1 ? " and " + std::to_string(cfg->etcd.endpoints.size() - 1) + " more" : ""));
  (*agent)->run(g_stop);
  (*log)->flushAll();
  logLine("stopping");
  return 0;
}
