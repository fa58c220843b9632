// goldgate-hostmon: command-line entry point (the daemon itself: daemon.h).
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "config.h"
#include "daemon.h"

using namespace goldgate::hostmon;

namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};
void onStop(int) { g_stop.store(true); }
void onHup(int) { g_reload.store(true); }

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
  std::signal(SIGHUP, onHup);
  std::signal(SIGPIPE, SIG_IGN);
  auto daemon = HostmonDaemon::create(*cfg, config, logLine);
  if (!daemon) {
    std::fprintf(stderr, "goldgate-hostmon: %s\n", daemon.error().message.c_str());
    return 1;
  }
  (*daemon)->run(g_stop, &g_reload);
  if (!(*daemon)->shutdown()) {
    // A hung libvirtd can hold a libvirt call for ever; there is nothing to save, so do not wait.
    logLine("a libvirt call is still blocked (is libvirtd hung?); exiting without waiting for it");
    std::fflush(stderr);
    std::_Exit(0);
  }
  return 0;
}
