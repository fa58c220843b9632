// What a benchmark run measures (`--stats-json`, `--warmup`, `--exit-when-drained`): the workers'
// counters at the end of warm-up, the figures since then, and whether every input has run dry.
// Internal to dataplane/; owned by SwitchImpl.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "goldgate/dataplane/config.h"

namespace goldgate::dataplane {

class Ports;
class Worker;

class BenchStats {
 public:
  /// Reads the counters of `workers` for the ports `ports` opened (named as in `sw`). All must
  /// outlive this.
  BenchStats(const SwitchConfig& sw, const Ports& ports, const std::vector<std::unique_ptr<Worker>>& workers);

  /// DPDK heap the flow tables took (hash and records), measured at start-up.
  void setFlowBytes(size_t bytes) { flow_bytes_ = bytes; }

  /// Whether the warm-up snapshot is taken.
  bool warm() const { return warm_taken_; }
  /// Takes the counters now as the start of the measurement window. Any thread but the
  /// workers, once.
  void snapshotWarmup();

  /// Ends the measurement window now (the workers have just stopped): the time the switch then
  /// takes to shut down is not counted. Main thread, once; without it the window ends at write().
  void markEnd();

  /// Every worker has polled nothing for 1,000 loop iterations: pcap inputs are read to the end
  /// (they are read synchronously, so an empty poll means the file is done). Control thread.
  bool drained() const;

  /// Writes the figures of the measurement window, and totals, to `path` as JSON (a file that
  /// cannot be opened is not reported). `policyVersion` and `alertsWritten` are written as
  /// given. Main thread, after the workers.
  void write(const std::string& path, uint64_t policyVersion, uint64_t alertsWritten) const;

 private:
  // The counters a window is measured by.
  struct Snapshot {
    uint64_t tsc = 0;
    uint64_t packets = 0, busy = 0, tx = 0, created = 0, new_cycles = 0;
  };
  Snapshot sum() const;  // summed over the workers (tsc not set)

  const SwitchConfig& sw_;
  const Ports& ports_;
  const std::vector<std::unique_ptr<Worker>>& workers_;
  size_t flow_bytes_ = 0;
  Snapshot warm_;
  bool warm_taken_ = false;
  uint64_t end_tsc_ = 0;  // 0: not marked
};

}  // namespace goldgate::dataplane
