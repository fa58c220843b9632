// Prometheus metrics over HTTP for the daemons (goldgate-switch, goldgate-hostmon): the exposer
// (prometheus-cpp's pull server), the listen address check, and small builders for the metric
// families a daemon computes when it is scraped.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "goldgate/common/result.h"

namespace prometheus {
class Exposer;
}

namespace goldgate::metrics {

/// A family with its help line (what a non-zero or rising value means).
prometheus::MetricFamily family(const std::string& name, const std::string& help, prometheus::MetricType type);
prometheus::ClientMetric gauge(double v, std::vector<prometheus::ClientMetric::Label> labels = {});
prometheus::ClientMetric counter(double v, std::vector<prometheus::ClientMetric::Label> labels = {});

/// Metrics computed on the thread that owns the state they read (a switch's control thread, which
/// alone may touch the policy in force): a scrape asks, the owner builds the families on its next
/// turn (serve()), and the scrape waits for them up to `wait`. The owner pays one relaxed load per
/// turn when nobody asks.
class OwnerThreadMetrics : public prometheus::Collectable {
 public:
  using Build = std::function<std::vector<prometheus::MetricFamily>()>;
  explicit OwnerThreadMetrics(std::chrono::milliseconds wait = std::chrono::milliseconds(2000)) : wait_(wait) {}
  /// The families the owner built for this scrape; none when the owner did not answer in time
  /// (it is stopping, or stuck: an empty scrape shows as `up` with no series). Scrape thread.
  std::vector<prometheus::MetricFamily> Collect() const override;
  /// Answers a waiting scrape with build(); does nothing (one load) when none waits. Owner thread.
  void serve(const Build& build);
  /// Answers every later scrape with nothing at once (the owner is going away). Owner thread.
  void close();

 private:
  std::chrono::milliseconds wait_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable std::atomic<bool> asked_{false};
  mutable uint64_t wanted_ = 0;  // scrapes asked for (under mu_)
  uint64_t answered_ = 0;        // the last scrape number answered (under mu_)
  bool closed_ = false;
  std::vector<prometheus::MetricFamily> last_;
};

/// `/metrics` over HTTP on `listen` ("127.0.0.1:9108"; port 0: a free one), served by one thread
/// of its own. Errors: kIo when the address cannot be bound (the message names it).
class MetricsServer {
 public:
  static Result<std::unique_ptr<MetricsServer>> start(const std::string& listen,
                                                      std::shared_ptr<prometheus::Collectable> metrics);
  ~MetricsServer();
  /// The port it listens on.
  int port() const { return port_; }
  /// "http://HOST:PORT/metrics" with the port actually bound.
  std::string url() const;

 private:
  MetricsServer() = default;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::shared_ptr<prometheus::Collectable> metrics_;
  std::string host_;
  int port_ = 0;
};

}  // namespace goldgate::metrics
