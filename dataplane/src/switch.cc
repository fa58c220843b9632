// The switch's lifecycle (switch_impl.h): start-up in order, the workers and the control thread's
// loop, shutdown.
#include "goldgate/dataplane/switch.h"

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cstdio>

#include "switch_impl.h"

namespace goldgate::dataplane {

std::atomic<bool> SwitchImpl::stop_requested{false};
std::atomic<bool> SwitchImpl::reload_requested{false};

// ---------------------------------------------------------------- Switch (public facade)

Switch::Switch(std::unique_ptr<SwitchImpl> impl) : impl_(std::move(impl)) {}
Switch::~Switch() = default;

Result<std::unique_ptr<Switch>> Switch::start(const SwitchConfig& sw, const SegmentsConfig& segs,
                                              const RunOptions& opts) {
  auto impl = std::make_unique<SwitchImpl>(sw, segs, opts);
  if (auto r = impl->start(); !r) return r.error();
  return std::unique_ptr<Switch>(new Switch(std::move(impl)));
}

int Switch::run() { return impl_->run(); }
void Switch::requestStop() { SwitchImpl::stop_requested.store(true); }
void Switch::requestReload() { SwitchImpl::reload_requested.store(true); }

// ---------------------------------------------------------------- lifecycle

SwitchImpl::SwitchImpl(SwitchConfig sw, SegmentsConfig segs, RunOptions opts)
    : sw_(std::move(sw)),
      segs_(std::move(segs)),
      opts_(std::move(opts)),
      publisher_(sw_, raiser()),
      control_(sw_.control_socket, sw_.control_group, sw_.source_file,
               [this](const proto::Request& req) { return handle(req); }),
      drain_(sw_, publisher_, workers_, raiser(),
             [this](const std::string& port) { return setQuarantine(port, true); }),
      stats_(sw_, ports_, workers_) {}

SwitchImpl::~SwitchImpl() {
  metrics_server_.reset();  // no scrape may wait on a control thread that is gone
  key_agent_.reset();       // its threads change SAs: stopped before anything they use goes
  control_.close();
  // The workers before what they read (the policy, the RCU variable, their alert rings), and all
  // of it before the ports and the EAL it lives in. The rest goes with the members (switch_impl.h).
  workers_.clear();
  publisher_.retire();
  drain_.freeRings();
  ports_.close();
}

namespace {

// Threads inherit their creator's CPU affinity, and after rte_eal_init the main thread is pinned to
// the main lcore, a forwarding core. While it lives, the threads the switch starts besides the
// workers (alert sinks' senders, the key agent, the metrics server) are created with the CPUs the
// process had minus the workers' lcores, as DPDK places its own control threads, so that none of
// them ever runs on a forwarding core. Restores the main lcore's affinity when it goes.
class OnControlCpus {
 public:
  OnControlCpus(const cpu_set_t& original, const std::vector<unsigned>& lcores) {
    pthread_getaffinity_np(pthread_self(), sizeof saved_, &saved_);
    cpu_set_t control = original;
    for (unsigned lc : lcores) {
      const rte_cpuset_t cpus = rte_lcore_cpuset(lc);
      for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &cpus)) CPU_CLR(c, &control);
    }
    // No CPU left besides the workers' (a one-core host, or -l naming them all): as DPDK does, the
    // helpers then share the process's CPUs.
    if (CPU_COUNT(&control) == 0) control = original;
    pthread_setaffinity_np(pthread_self(), sizeof control, &control);
  }
  ~OnControlCpus() { pthread_setaffinity_np(pthread_self(), sizeof saved_, &saved_); }
  OnControlCpus(const OnControlCpus&) = delete;
  OnControlCpus& operator=(const OnControlCpus&) = delete;

 private:
  cpu_set_t saved_;
};

}  // namespace

Result<void> SwitchImpl::start() {
  cpu_set_t original;
  pthread_getaffinity_np(pthread_self(), sizeof original, &original);
  if (auto r = ports_.initEal(sw_); !r) return r;
  if (opts_.exit_when_drained && !ports_.allPcap() && opts_.max_packets == 0)
    return makeError(Error::Code::kInvalidArgument,
                     "--exit-when-drained needs every port to read a pcap file (net_pcap with rx_pcap, "
                     "without infinite_rx): other devices are never drained");
  if (auto r = ports_.open(sw_); !r) return r;
  const std::vector<unsigned>& lcores = ports_.lcores();
  shared_.tsc_hz = rte_get_tsc_hz();
  shared_.timeouts = TimeoutTicks::fromConfig(sw_.timeouts, shared_.tsc_hz);
  shared_.policy = publisher_.slot();
  shared_.stop = &workers_stop_;
  shared_.ports = ports_.ids();
  shared_.secure = sw_.mode == SwitchMode::kSecure;
  shared_.max_packets = opts_.max_packets;
  shared_.pool = ports_.pool();
  shared_.inspect_max_flows = sw_.inspection.max_flows;
  shared_.inspect_hold_total = sw_.inspection.hold_total_bytes;
  if (sw_.tunnel.enabled) {
    std::vector<crypto::StaticSa> staticSas;
    if (!sw_.tunnel.key_file.empty()) {
      auto sas = crypto::loadStaticSas(sw_.tunnel.key_file);
      if (!sas) return makeError(sas.error().code, "tunnel.keys: " + sas.error().message);
      staticSas = std::move(*sas);
    }
    uint16_t up = 0;
    for (uint16_t p = 0; p < sw_.ports.size(); ++p)
      if (sw_.ports[p].name == sw_.tunnel.uplink) up = p;
    auto t = Tunnel::create(sw_, staticSas, static_cast<uint32_t>(lcores.size()), up, ports_.mac(up),
                            static_cast<uint16_t>(sw_.ports.size()), [this] { publisher_.synchronize(); });
    if (!t) return t.error();
    tunnel_ = std::move(*t);
    shared_.tunnel = tunnel_.get();
    if (!staticSas.empty())
      if (auto r = tunnel_->loadSequences(sw_.tunnel.sequence_file); !r)
        return makeError(r.error().code, "tunnel.sequence_file: " + r.error().message);
    std::fprintf(stderr, "goldgate-switch: %u peer gateway(s); AES-256-GCM on %s%s\n", tunnel_->peerCount(),
                 crypto::aeadEngineName(tunnel_->engine()),
                 tunnel_->engine() == crypto::AeadEngine::kIpsecMb
                     ? (std::string(" (") + crypto::ipsecMbArch() + ")").c_str()
                     : "");
  }
  if (sw_.inspection.enabled) {
    auto c = publisher_.loadClassifier();
    if (!c) return c.error();
    publisher_.setClassifier(std::move(*c));
    const datapolicy::Classifier& cls = *publisher_.classifier();
    std::fprintf(stderr, "goldgate-switch: %zu data classes %s (%.3f s), %zu bytes of stream state a flow direction\n",
                 cls.classes().size(), cls.fromCache() ? "loaded from the cache" : "compiled", cls.compileSeconds(),
                 cls.hsStreamBytes());
  }
  if (auto r = publisher_.initRcu(static_cast<uint32_t>(lcores.size())); !r) return r;
  shared_.qsbr = publisher_.qsbr();
  if (auto r = drain_.createRings(lcores); !r) return r;
  // One flow table per worker; the configured size is shared out between them.
  uint32_t perWorker = std::max<uint32_t>(64, sw_.flow_table_size / static_cast<uint32_t>(lcores.size()));
  {
    const uint32_t perPort = sw_.flow_table_per_port ? sw_.flow_table_per_port : sw_.flow_table_size / 2;
    shared_.port_flow_limit = std::max<uint32_t>(1, perPort / static_cast<uint32_t>(lcores.size()));
  }
  rte_malloc_socket_stats before{}, after{};
  rte_malloc_get_socket_stats(static_cast<int>(rte_socket_id()), &before);
  for (uint32_t w = 0; w < lcores.size(); ++w) {
    auto ft = FlowTable::create("gg_flows" + std::to_string(w), perWorker,
                                static_cast<int>(rte_lcore_to_socket_id(lcores[w])));
    if (!ft) return ft.error();
    workers_.push_back(std::make_unique<Worker>(w, static_cast<uint16_t>(w), &shared_, std::move(*ft), drain_.ring(w)));
  }
  rte_malloc_get_socket_stats(static_cast<int>(rte_socket_id()), &after);
  stats_.setFlowBytes(after.heap_allocsz_bytes - before.heap_allocsz_bytes);
  const OnControlCpus onControlCpus(original, lcores);
  auto log = alerts::AlertLog::open(sw_.alert_file, sw_.alert_window_ms, "goldgate-switch",
                                    *alerts::parseFormat(sw_.alert_format));
  if (!log) return log.error();
  alert_log_ = std::move(*log);
  alert_log_->setRotation(sw_.alert_rotate_bytes, sw_.alert_rotate_keep);
  alert_log_->setObserver([this](const proto::AlertEvent& ev) { control_.publish(ev); });
  for (const auto& sc : sw_.alert_sinks) {
    auto sink = alerts::Sink::create(sc);
    if (!sink) return makeError(sink.error().code, sw_.source_file + ": alerts.sinks: " + sink.error().message);
    alert_log_->addSink(std::move(*sink));
  }
  if (auto r = publisher_.loadQuarantine(); !r) return r;
  if (auto r = publisher_.publish(segs_, publisher_.quarantined(), "start-up"); !r) return r;
  if (auto r = control_.open(); !r) return r;
  if (tunnel_ && sw_.tunnel.tls.enabled) {
    auto ka = KeyAgent::start(sw_.tunnel, *tunnel_);
    if (!ka) return ka.error();
    key_agent_ = std::move(*ka);
  }
  if (!sw_.metrics_listen.empty()) {
    // Metrics are for watching the switch, not a reason to stop forwarding: a port already taken
    // is said on stderr and in `goldgatectl status`, and the switch runs without them.
    metrics_ = std::make_shared<metrics::OwnerThreadMetrics>();
    auto m = metrics::MetricsServer::start(sw_.metrics_listen, metrics_);
    if (m) {
      metrics_server_ = std::move(*m);
      std::fprintf(stderr, "goldgate-switch: metrics on %s\n", metrics_server_->url().c_str());
    } else {
      metrics_error_ = sw_.source_file + ": metrics.listen: " + m.error().message;
      std::fprintf(stderr, "goldgate-switch: WARNING: %s (running without metrics)\n", metrics_error_.c_str());
    }
  }
  started_ = std::chrono::steady_clock::now();
  return {};
}

int SwitchImpl::workerMain(void* self) {
  auto* s = static_cast<SwitchImpl*>(self);
  unsigned lc = rte_lcore_id();
  const std::vector<unsigned>& lcores = s->ports_.lcores();
  for (size_t w = 0; w < lcores.size(); ++w)
    if (lcores[w] == lc) s->workers_[w]->run();
  return 0;
}

void* SwitchImpl::controlMain(void* self) {
  static_cast<SwitchImpl*>(self)->controlLoop();
  return nullptr;
}

void SwitchImpl::controlLoop() {
  auto t0 = std::chrono::steady_clock::now();
  while (!control_stop_.load()) {
    control_.serveOnce(20);
    drain_.drain(key_agent_.get());
    alert_log_->tick(alerts::nowNs());
    if (tunnel_) {
      if (auto r = tunnel_->persistSequences(false); !r && !seq_file_failing_) {
        // New outbound numbers are not reserved while this fails: static-key traffic stops at the
        // end of the reservation (tunnel_seq_exhausted) rather than risk a repeated nonce.
        std::fprintf(stderr, "goldgate-switch: %s\n", r.error().message.c_str());
        seq_file_failing_ = true;
      } else if (r) {
        seq_file_failing_ = false;
      }
    }
    if (reload_requested.exchange(false)) {
      auto r = reload();
      std::fprintf(stderr, "goldgate-switch: reload: %s\n", r ? r->c_str() : r.error().message.c_str());
    }
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (opts_.warmup_s > 0 && !stats_.warm() && elapsed >= opts_.warmup_s) stats_.snapshotWarmup();
    if (opts_.duration_s > 0 && elapsed >= opts_.warmup_s + opts_.duration_s) stop_requested.store(true);
    if (opts_.exit_when_drained && elapsed > 0.05 && stats_.drained()) stop_requested.store(true);
    if (stop_requested.load()) workers_stop_.store(true);
    if (metrics_server_) metrics_->serve([this] { return metricFamilies(); });
  }
  if (metrics_) metrics_->close();
  drain_.drain(key_agent_.get());
  if (tunnel_) (void)tunnel_->persistSequences(true);
  alert_log_->flushAll();
  // Give the sinks a moment to deliver; what they cannot stays spooled for the next start.
  alert_log_->stopSinks(2000);
  control_.closeFollowers();
}

int SwitchImpl::run() {
  if (!stats_.warm() && opts_.warmup_s <= 0) stats_.snapshotWarmup();
  if (rte_ctrl_thread_create(&control_thread_, "gg-control", nullptr, &SwitchImpl::controlMain, this) != 0) {
    std::fprintf(stderr, "goldgate-switch: cannot start the control thread\n");
    return 1;
  }
  control_running_ = true;
  rte_eal_mp_remote_launch(&SwitchImpl::workerMain, this, CALL_MAIN);
  rte_eal_mp_wait_lcore();
  stats_.markEnd();
  // Workers are done: close ports so pcap outputs are complete before anyone reads them.
  ports_.stop();
  control_stop_.store(true);
  pthread_join(control_thread_, nullptr);
  control_running_ = false;
  if (!opts_.stats_json.empty()) {
    if (!stats_.warm()) stats_.snapshotWarmup();
    stats_.write(opts_.stats_json, publisher_.generation(), alert_log_->written());
  }
  return 0;
}

// ---------------------------------------------------------------- alerts

Publisher::Raise SwitchImpl::raiser() {
  return [this](proto::AlertEvent ev, const std::string& key) { raise(std::move(ev), key); };
}

void SwitchImpl::raise(proto::AlertEvent ev, const std::string& key) {
  // Before the alert log is open (early start-up) there is nowhere to raise to.
  if (alert_log_) alert_log_->raise(std::move(ev), key, alerts::nowNs());
}

}  // namespace goldgate::dataplane
