// The control thread's end of the alert hand-off: the workers' alert rings (one producer each),
// their quarantine requests and counted alert losses, and the key agent's events, all raised
// into the alert log. Internal to dataplane/; owned by SwitchImpl.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "alert.pb.h"
#include "goldgate/common/result.h"
#include "goldgate/dataplane/config.h"

struct rte_ring;

namespace goldgate::dataplane {

class KeyAgent;
class Publisher;
class Worker;

class AlertDrain {
 public:
  /// Raises an alert event with its aggregation key (AlertLog::raise).
  using Raise = std::function<void(proto::AlertEvent ev, const std::string& key)>;
  /// Puts a VM port in quarantine; returns what was done, or why not.
  using Quarantine = std::function<Result<std::string>(const std::string& port)>;

  /// Records are rendered with the ports of `sw` and the policy and data classes `publisher` has
  /// in force; `workers` are read for requests and counters. All must outlive this.
  AlertDrain(const SwitchConfig& sw, const Publisher& publisher, const std::vector<std::unique_ptr<Worker>>& workers,
             Raise raise, Quarantine quarantine);
  /// freeRings().
  ~AlertDrain();
  AlertDrain(const AlertDrain&) = delete;
  AlertDrain& operator=(const AlertDrain&) = delete;

  /// Creates one ring per lcore in `lcores` (on its socket), for the worker that runs there.
  /// Errors: DPDK memory. Main thread, before the workers.
  Result<void> createRings(const std::vector<unsigned>& lcores);
  /// Worker `w`'s alert ring (it is the only producer).
  rte_ring* ring(uint32_t w) const { return rings_[w]; }

  /// Raises the events of `keys` (null: no key agent), quarantines the VM ports the workers'
  /// data policy asked for, raises every record in the rings, then a loss event for each count
  /// of dropped or rate-limited alerts that grew. Control thread.
  void drain(KeyAgent* keys);

  /// Frees the rings, once. After the workers are gone.
  void freeRings();

 private:
  void reportLosses();  // alerts the workers dropped or rate-limited, as events

  const SwitchConfig& sw_;
  const Publisher& publisher_;
  const std::vector<std::unique_ptr<Worker>>& workers_;
  Raise raise_;
  Quarantine quarantine_;
  std::vector<rte_ring*> rings_;  // one per worker
  uint64_t dropped_reported_ = 0;
  uint64_t limited_reported_ = 0;
};

}  // namespace goldgate::dataplane
