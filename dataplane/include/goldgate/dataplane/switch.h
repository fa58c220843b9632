// goldgate-switch: the running switch. Owns DPDK (EAL, ports, mempool), the forwarding workers,
// the control thread (control API, alerts, reloads) and the published policy.
#pragma once

#include <memory>
#include <string>

#include "goldgate/common/result.h"
#include "goldgate/dataplane/config.h"

namespace goldgate::dataplane {

struct RunOptions {
  bool exit_when_drained = false;  // stop once every pcap input is read and all output flushed
  double duration_s = 0;           // stop after this many seconds (0 = run until signalled)
  double warmup_s = 0;             // figures in stats_json cover the time after warm-up
  std::string stats_json;          // write final counters and measurements here
  uint64_t max_packets = 0;        // stop receiving after this many packets (0 = no limit); benchmarks
};

class SwitchImpl;

class Switch {
 public:
  /// Starts DPDK with the EAL arguments of `sw`, opens every port, compiles the first policy.
  /// Main thread, once per process. Errors: EAL, device or policy failures, with the reason.
  static Result<std::unique_ptr<Switch>> start(const SwitchConfig& sw, const SegmentsConfig& segs,
                                               const RunOptions& opts);
  ~Switch();
  /// Forwards until stopped (signal, drained input or duration). Blocks; returns the exit code.
  int run();
  /// Asks the switch to stop. Async-signal-safe.
  static void requestStop();
  /// Asks the switch to reload its segment files. Async-signal-safe.
  static void requestReload();

 private:
  explicit Switch(std::unique_ptr<SwitchImpl> impl);
  std::unique_ptr<SwitchImpl> impl_;
};

}  // namespace goldgate::dataplane
