#include "goldgate/common/metrics_http.h"

#include <netdb.h>
#include <prometheus/exposer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace goldgate::metrics {

prometheus::MetricFamily family(const std::string& name, const std::string& help, prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

prometheus::ClientMetric gauge(double v, std::vector<prometheus::ClientMetric::Label> labels) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = v;
  return m;
}

prometheus::ClientMetric counter(double v, std::vector<prometheus::ClientMetric::Label> labels) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = v;
  return m;
}

std::vector<prometheus::MetricFamily> OwnerThreadMetrics::Collect() const {
  std::unique_lock lk(mu_);
  if (closed_) return {};
  const uint64_t mine = ++wanted_;
  asked_.store(true, std::memory_order_release);
  if (!cv_.wait_for(lk, wait_, [&] { return answered_ >= mine || closed_; }) || answered_ < mine) return {};
  return last_;
}

void OwnerThreadMetrics::serve(const Build& build) {
  if (!asked_.load(std::memory_order_acquire)) return;
  uint64_t want;
  {
    std::lock_guard lk(mu_);
    asked_.store(false, std::memory_order_relaxed);
    want = wanted_;
  }
  // Built outside the lock: a scrape arriving meanwhile asks again and is answered next turn.
  auto families = build();
  {
    std::lock_guard lk(mu_);
    last_ = std::move(families);
    answered_ = want;
  }
  cv_.notify_all();
}

void OwnerThreadMetrics::close() {
  {
    std::lock_guard lk(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string& listen,
                                                            std::shared_ptr<prometheus::Collectable> metrics) {
  auto s = std::unique_ptr<MetricsServer>(new MetricsServer());
  try {
    s->exposer_ = std::make_unique<prometheus::Exposer>(listen, 1);
  } catch (const std::exception& e) {
    return makeError(Error::Code::kIo, "metrics: cannot listen on " + listen + ": " + e.what());
  }
  s->metrics_ = std::move(metrics);
  s->exposer_->RegisterCollectable(s->metrics_);
  const auto ports = s->exposer_->GetListeningPorts();
  s->port_ = ports.empty() ? 0 : ports.front();
  s->host_ = listen.substr(0, listen.rfind(':'));
  return s;
}

std::string MetricsServer::url() const { return "http://" + host_ + ":" + std::to_string(port_) + "/metrics"; }

MetricsServer::~MetricsServer() {
  if (!exposer_) return;
  // civetweb's listening thread polls with a 2 s quantum and checks its stop flag only between
  // polls, so stopping it could hold the daemon for 2 s (and a restart's outage with it). A
  // connection to the port wakes the poll: made every 20 ms until the server is down.
  std::atomic<bool> done{false};
  std::string host = host_;
  if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  const int port = port_;
  std::thread waker([&] {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* ai = nullptr;
    if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &ai) != 0 || !ai) return;
    while (!done.load()) {
      const int fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd >= 0) {
        (void)::connect(fd, ai->ai_addr, ai->ai_addrlen);
        ::close(fd);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    freeaddrinfo(ai);
  });
  exposer_.reset();
  done.store(true);
  waker.join();
}

}  // namespace goldgate::metrics
