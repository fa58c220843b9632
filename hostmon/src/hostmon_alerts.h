// goldgate-hostmon's alert events: collector observations that matter (a silent or malformed
// guest agent, a changed kernel text, a disagreement between the guest's and the hypervisor's
// views) as canonical AlertEvents (proto/alert.proto) in the alerts library's JSON-lines file.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "alert.pb.h"
#include "collector.h"
#include "goldgate/alerts/alert_log.h"
#include "goldgate/alerts/sink.h"
#include "goldgate/common/result.h"

namespace goldgate::hostmon {

/// The alert event for an observation on `vm`: kind attest.<observation kind> (alerts::Kind::kAttest),
/// the given severity, the VM's name and segment, and for kernel.text_changed the manifest check
/// (what was expected, what was seen).
proto::AlertEvent alertEventFor(const CollectTarget& vm, const Observation& o, uint32_t severity);

/// A thread-safe owner of one AlertLog (which wants a single owner thread).
class HostmonAlerts {
 public:
  /// Opens (appends to) `path`; every event also goes to `sinks` (SIEMs, each with its own spool).
  /// Errors: the file cannot be opened, or a sink cannot be set up.
  static Result<std::unique_ptr<HostmonAlerts>> open(const std::string& path, uint32_t windowMs,
                                                     const std::vector<alerts::SinkConfig>& sinks = {});
  /// Raises the event; repeats (same kind, VM and detail) within the window are aggregated. Any thread.
  void raise(const CollectTarget& vm, const Observation& o, uint32_t severity);
  /// Raises a ready-made event (attestation red flags and responses); `key` aggregates repeats. Any thread.
  void raiseEvent(const proto::AlertEvent& ev, const std::string& key);
  /// Writes aggregates whose window closed. Any thread (main calls it periodically).
  void tick();
  /// Writes everything pending (shutdown).
  void flush();
  const std::string& path() const { return log_->path(); }

 private:
  std::mutex mu_;
  std::unique_ptr<alerts::AlertLog> log_;
};

}  // namespace goldgate::hostmon
