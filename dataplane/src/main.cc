// goldgate-switch: command-line entry point.
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>

#include "goldgate/dataplane/config.h"
#include "goldgate/dataplane/switch.h"

using namespace goldgate::dataplane;

namespace {
void onStop(int) { Switch::requestStop(); }
void onHup(int) { Switch::requestReload(); }
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"goldgate-switch: DPDK virtual switch with stateful microsegments (Goldgate)"};
  std::string config = "configs/goldgate.yaml";
  RunOptions opts;
  bool checkOnly = false;
  app.add_option("-c,--config", config, "switch configuration file")->capture_default_str();
  app.add_flag("--exit-when-drained", opts.exit_when_drained,
               "stop once every pcap input has been read and all output is flushed (offline replay)");
  app.add_option("--duration", opts.duration_s, "stop after this many seconds (after warm-up)");
  app.add_option("--warmup", opts.warmup_s, "seconds of traffic before measurements in --stats-json start");
  app.add_option("--stats-json", opts.stats_json, "write final counters and measurements to this file");
  app.add_option("--max-packets", opts.max_packets,
                 "stop receiving after this many packets (benchmarks: e.g. exactly one pass of new flows)");
  app.add_flag("--check", checkOnly, "validate the configuration and segment files, then exit");
  CLI11_PARSE(app, argc, argv);

  auto sw = loadSwitchConfig(config);
  if (!sw) {
    std::fprintf(stderr, "goldgate-switch: %s\n", sw.error().message.c_str());
    return 2;
  }
  auto segs = loadSegments(segmentsDirOf(*sw), *sw);
  if (!segs) {
    std::fprintf(stderr, "goldgate-switch: %s\n", segs.error().message.c_str());
    return 2;
  }
  if (auto r = checkInspectionSegments(*sw, *segs); !r) {
    std::fprintf(stderr, "goldgate-switch: %s\n", r.error().message.c_str());
    return 2;
  }
  if (checkOnly) {
    std::printf("%s: ok (%zu ports, %zu segments, %zu rules)\n", config.c_str(), sw->ports.size(),
                segs->segments.size(), segs->rules.size());
    return 0;
  }
  std::signal(SIGINT, onStop);
  std::signal(SIGTERM, onStop);
  std::signal(SIGHUP, onHup);
  std::signal(SIGPIPE, SIG_IGN);
  auto s = Switch::start(*sw, *segs, opts);
  if (!s) {
    std::fprintf(stderr, "goldgate-switch: %s\n", s.error().message.c_str());
    return 1;
  }
  if (sw->mode == SwitchMode::kL2)
    std::fprintf(
        stderr,
        "goldgate-switch: WARNING: mode l2 is a benchmark baseline: no microsegments, no connection tracking\n");
  std::fprintf(stderr, "goldgate-switch: forwarding on %zu ports; control socket %s\n", sw->ports.size(),
               sw->control_socket.c_str());
  return (*s)->run();
}
