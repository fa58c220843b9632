// Alert events written as JSON lines, with aggregation: a burst of identical alerts becomes one
// event with a count and first/last time. Suppression is always reported, never silent.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "alert.pb.h"
#include "goldgate/alerts/kinds.h"
#include "goldgate/alerts/render.h"
#include "goldgate/alerts/sink.h"
#include "goldgate/common/result.h"

namespace goldgate::alerts {

/// Writes canonical AlertEvents to a file, one record a line in the chosen format (Goldgate JSON
/// by default), flushed per event.
/// Not thread-safe: one owner thread (the switch's control thread).
class AlertLog {
 public:
  /// Opens (appends to) `path`, creating its folder. `window_ms`: repeats of one key within the
  /// window are aggregated. Errors: the file cannot be opened.
  static Result<std::unique_ptr<AlertLog>> open(const std::string& path, uint32_t window_ms, std::string source,
                                                Format format = Format::kJson);
  ~AlertLog();

  /// Raises `ev` (id, host, source, time filled in here). `key` identifies repeats: the first
  /// occurrence is written at once; later ones within the window are counted and written as one
  /// event (count, first and last time) when the window closes.
  void raise(proto::AlertEvent ev, const std::string& key, int64_t now_ns);
  /// Writes aggregates whose window has closed. Call periodically.
  void tick(int64_t now_ns);
  /// Writes every pending aggregate (shutdown).
  void flushAll();
  uint64_t written() const { return written_; }
  /// Size-based rotation: when the file would pass `maxBytes`, it becomes PATH.1 (PATH.1 becomes
  /// PATH.2, … up to `keep` old files; the oldest is deleted). 0 = never rotate.
  void setRotation(uint64_t maxBytes, uint32_t keep) {
    rotate_bytes_ = maxBytes;
    rotate_keep_ = keep;
  }
  uint64_t rotations() const { return rotations_; }
  /// Called with every event as it is written (after aggregation), on the owner thread.
  void setObserver(std::function<void(const proto::AlertEvent&)> observer) { observer_ = std::move(observer); }
  const std::string& path() const { return path_; }

  /// Adds a network sink: every written event its filter takes is spooled for it. Sink state
  /// changes and spool drops come back as events (Kind::kAlertsSinkDown, kAlertsSinkUp,
  /// kAlertsSpoolDropped, kAlertsSpoolDamaged) on the next tick().
  void addSink(std::unique_ptr<Sink> sink) { sinks_.push_back(std::move(sink)); }
  std::vector<SinkStatus> sinkStatus() const;
  /// Stops every sink, giving each up to `graceMs` to deliver its backlog (the rest stays spooled).
  void stopSinks(uint32_t graceMs);

 private:
  AlertLog() = default;
  void write(proto::AlertEvent& ev);
  std::string nextId();

  struct Pending {
    proto::AlertEvent first;  // template for the aggregate
    int64_t window_start_ns = 0;
    uint64_t repeats = 0;  // occurrences after the first one
    int64_t first_repeat_ns = 0;
    int64_t last_ns = 0;
  };
  std::FILE* f_ = nullptr;
  std::string path_;
  std::string host_;
  std::string source_;
  uint64_t id_prefix_ = 0;
  uint64_t id_counter_ = 0;
  int64_t window_ns_ = 0;
  Format format_ = Format::kJson;
  uint64_t written_ = 0;
  std::map<std::string, Pending> pending_;
  std::function<void(const proto::AlertEvent&)> observer_;
  uint64_t rotate_bytes_ = 0;
  uint32_t rotate_keep_ = 5;
  uint64_t rotations_ = 0;
  uint64_t size_ = 0;  // bytes in the current file
  void rotate();
  std::vector<std::unique_ptr<Sink>> sinks_;
  std::vector<proto::AlertEvent> deferred_;  // raised by the sinks, written on the next tick
};

/// Community ID v1 (seed 0) of a flow, "1:<base64>"; empty for protocols it does not cover here
/// (only TCP, UDP and SCTP). `src`/`dst` are 4 or 16 wire bytes.
std::string communityId(uint8_t family, const uint8_t* src, const uint8_t* dst, uint8_t proto, uint16_t sport,
                        uint16_t dport);

/// Current wall-clock time in ns since the epoch.
int64_t nowNs();

}  // namespace goldgate::alerts
