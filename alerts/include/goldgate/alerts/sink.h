// Network alert sinks: syslog over UDP (RFC 5426), TCP with octet counting (RFC 6587), TLS
// (RFC 5425) and Kafka. Each sink has its own format, filter, on-disk spool and sender thread, so
// a slow or unreachable SIEM never stalls the daemon and loses nothing (at-least-once).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "alert.pb.h"
#include "goldgate/alerts/kinds.h"
#include "goldgate/alerts/render.h"
#include "goldgate/alerts/sink_config.h"
#include "goldgate/alerts/spool.h"
#include "goldgate/common/result.h"

namespace goldgate::alerts {

/// What `goldgatectl status` shows of a sink.
struct SinkStatus {
  std::string name;
  std::string transport;
  std::string address;
  std::string format;
  std::string state;  // "up", "down", "connecting"
  std::string last_error;
  uint64_t backlog_events = 0;
  uint64_t backlog_bytes = 0;
  uint64_t sent = 0;       // records handed to the transport (resends included)
  uint64_t confirmed = 0;  // records the receiver confirmed (TCP acknowledged, Kafka delivered)
  uint64_t dropped = 0;    // records the spool bound pushed out
  uint64_t filtered = 0;   // events the sink's filter did not take
  uint64_t reconnects = 0;
};

/// A state change of a sink or its spool, raised by the owner as an alert event of `kind` at that
/// kind's severity (Kind::kAlertsSinkDown, kAlertsSinkUp, kAlertsSpoolDamaged).
struct SinkNotice {
  Kind kind;
  std::string message;
};

/// One byte-stream or datagram connection to a receiver, driven by the sender thread only.
class Connection {
 public:
  virtual ~Connection() = default;
  virtual Result<void> open() = 0;
  virtual void close() = 0;
  /// Sends one record (framed as the transport requires), or queues it for the next confirmed()
  /// call, which writes what is queued. Errors: the connection failed.
  virtual Result<void> send(const Spool::Record& rec) = 0;
  /// Highest sequence the receiver is known to hold (0: none yet). Errors: the peer went away.
  virtual Result<uint64_t> confirmed() = 0;
  /// Whether the transport has nothing in flight (all sent records confirmed).
  virtual bool idle() = 0;
};

class Sink {
 public:
  /// Opens the sink's spool and starts its sender thread. `host`/`source` fill RFC 5424 headers.
  /// Errors: the spool cannot be opened, or the TLS or Kafka settings are unusable.
  static Result<std::unique_ptr<Sink>> create(const SinkConfig& cfg);
  ~Sink();

  const SinkConfig& config() const { return cfg_; }
  /// Whether the sink's filter takes `ev` (counted in `filtered` when not).
  bool wants(const proto::AlertEvent& ev);
  /// Renders `ev` in the sink's format and spools it for sending. Returns how many spooled
  /// records the bound pushed out (to be reported). Errors: the spool write failed (the record
  /// is kept in memory). Owner thread.
  Result<uint64_t> offer(const proto::AlertEvent& ev);
  SinkStatus status() const;
  /// State changes since the last call. Owner thread.
  std::vector<SinkNotice> takeNotices();
  /// Stops the sender, first giving it up to `graceMs` to deliver the backlog.
  void stop(uint32_t graceMs);

 private:
  Sink() = default;
  void senderMain();
  void setState(const char* state, const std::string& error);

  SinkConfig cfg_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<Connection> conn_;
  std::thread thread_;
  mutable std::mutex mu_;  // state_, error_, notices_
  std::condition_variable cv_;
  bool wake_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> stop_deadline_ns_{0};
  std::string state_ = "connecting";
  std::string error_;
  std::vector<SinkNotice> notices_;
  bool ever_up_ = false;
  std::atomic<uint64_t> sent_{0}, confirmed_{0}, filtered_{0}, reconnects_{0};
};

}  // namespace goldgate::alerts
