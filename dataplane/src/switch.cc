#include "goldgate/dataplane/switch.h"

#include <grp.h>
#include <pwd.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "alert_render.h"
#include "goldgate/dataplane/control_client.h"
#include "switch_impl.h"

namespace goldgate::dataplane {

std::atomic<bool> SwitchImpl::stop_requested{false};
std::atomic<bool> SwitchImpl::reload_requested{false};

namespace {

constexpr uint32_t kAlertRingSize = 4096;

bool isPciAddress(const std::string& s) {
  // dddd:bb:dd.f or bb:dd.f
  auto dots = std::count(s.begin(), s.end(), ':');
  return (dots == 1 || dots == 2) && s.find('.') != std::string::npos && s.find(',') == std::string::npos &&
         s.rfind("net_", 0) != 0;
}

std::string devName(const std::string& devargs) { return devargs.substr(0, devargs.find(',')); }

}  // namespace

// ---------------------------------------------------------------- Switch (public facade)

Switch::Switch(std::unique_ptr<SwitchImpl> impl) : impl_(std::move(impl)) {}
Switch::~Switch() = default;

Result<std::unique_ptr<Switch>> Switch::start(const SwitchConfig& sw, const SegmentsConfig& segs, const RunOptions& opts) {
  auto impl = std::make_unique<SwitchImpl>(sw, segs, opts);
  if (auto r = impl->start(); !r) return r.error();
  return std::unique_ptr<Switch>(new Switch(std::move(impl)));
}

int Switch::run() { return impl_->run(); }
void Switch::requestStop() { SwitchImpl::stop_requested.store(true); }
void Switch::requestReload() { SwitchImpl::reload_requested.store(true); }

// ---------------------------------------------------------------- lifecycle

SwitchImpl::SwitchImpl(SwitchConfig sw, SegmentsConfig segs, RunOptions opts)
    : sw_(std::move(sw)), segs_(std::move(segs)), opts_(std::move(opts)) {}

SwitchImpl::~SwitchImpl() {
  key_agent_.reset();  // its threads change SAs: stopped before anything they use goes
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    ::unlink(sw_.control_socket.c_str());
  }
  workers_.clear();
  delete policy_.exchange(nullptr);
  if (qsbr_) rte_free(qsbr_);
  for (auto* r : alert_rings_) rte_ring_free(r);
  if (ports_started_) {
    for (uint16_t id : port_ids_) {
      rte_eth_dev_stop(id);
      rte_eth_dev_close(id);
    }
  }
  if (eal_up_) {
    std::string runtimeDir = rte_eal_get_runtime_dir();
    rte_eal_cleanup();
    // The per-process runtime folder the switch chose itself is not left behind.
    if (own_prefix_) {
      std::error_code ec;
      std::filesystem::remove_all(runtimeDir, ec);
    }
  }
}

Result<void> SwitchImpl::initEal() {
  std::vector<std::string> args{"goldgate-switch"};
  bool anyPci = false;
  all_pcap_ = true;
  for (const auto& p : sw_.ports) {
    if (isPciAddress(p.devargs)) anyPci = true;
    if (devName(p.devargs).rfind("net_pcap", 0) != 0 || p.devargs.find("infinite_rx=1") != std::string::npos ||
        p.devargs.find("iface=") != std::string::npos)
      all_pcap_ = false;
  }
  if (sw_.eal_args.empty()) {
    args.insert(args.end(), {"-l", "0", "--no-huge", "-m", "1024", "--no-shconf", "--no-telemetry"});
    if (!anyPci) args.push_back("--no-pci");
  } else {
    args.insert(args.end(), sw_.eal_args.begin(), sw_.eal_args.end());
  }
  // A private runtime folder per process, so several switches (and tests) never share DPDK state.
  if (std::find(args.begin(), args.end(), "--file-prefix") == args.end() &&
      std::find(args.begin(), args.end(), "--in-memory") == args.end()) {
    args.insert(args.end(), {"--file-prefix", "goldgate-" + std::to_string(::getpid())});
    own_prefix_ = true;
  }
  for (const auto& p : sw_.ports) {
    if (isPciAddress(p.devargs)) args.insert(args.end(), {"-a", p.devargs});
    else args.insert(args.end(), {"--vdev", p.devargs});
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int rc = rte_eal_init(static_cast<int>(args.size()), argv.data());
  if (rc < 0) {
    std::string line;
    for (const auto& a : args) line += " " + a;
    return makeError(Error::Code::kResource, std::string("DPDK EAL initialisation failed: ") + rte_strerror(rte_errno) +
                                                 " (arguments:" + line + ")");
  }
  eal_up_ = true;
  unsigned lc;
  RTE_LCORE_FOREACH(lc) worker_lcores_.push_back(lc);
  return {};
}

Result<void> SwitchImpl::initPorts() {
  if (opts_.exit_when_drained && !all_pcap_ && opts_.max_packets == 0)
    return makeError(Error::Code::kInvalidArgument,
                     "--exit-when-drained needs every port to read a pcap file (net_pcap with rx_pcap, "
                     "without infinite_rx): other devices are never drained");
  const uint16_t nq = static_cast<uint16_t>(worker_lcores_.size());
  pool_ = rte_pktmbuf_pool_create("gg_mbufs", sw_.mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, static_cast<int>(rte_socket_id()));
  if (!pool_)
    return makeError(Error::Code::kResource, "cannot create a pool of " + std::to_string(sw_.mbufs) +
                                                 " mbufs: " + rte_strerror(rte_errno) + " (lower 'mbufs' or raise EAL -m)");
  for (const auto& p : sw_.ports) {
    std::string where = sw_.source_file + ":" + std::to_string(p.loc.line) + ": port '" + p.name + "'";
    uint16_t id;
    std::string name = isPciAddress(p.devargs) ? p.devargs : devName(p.devargs);
    if (rte_eth_dev_get_port_by_name(name.c_str(), &id) != 0)
      return makeError(Error::Code::kNotFound, where + ": no DPDK device '" + name + "' (devargs '" + p.devargs +
                                                   "' not probed; see the EAL messages above)");
    rte_eth_dev_info info{};
    if (rte_eth_dev_info_get(id, &info) != 0) return makeError(Error::Code::kResource, where + ": cannot read device info");
    if (info.max_rx_queues < nq || info.max_tx_queues < nq)
      return makeError(Error::Code::kInvalidArgument,
                       where + ": " + std::to_string(nq) + " workers need " + std::to_string(nq) +
                           " rx/tx queues, the device has " + std::to_string(info.max_rx_queues) +
                           " (every worker polls one queue of every port; give fewer lcores)");
    rte_eth_conf conf{};
    if (nq > 1) {
      // Symmetric RSS (a repeated 0x6d5a key) sends both directions of a flow to the same queue,
      // hence to the worker that owns the flow.
      static uint8_t key[40];
      for (size_t i = 0; i < sizeof key; i += 2) key[i] = 0x6d, key[i + 1] = 0x5a;
      conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
      conf.rx_adv_conf.rss_conf.rss_key = key;
      conf.rx_adv_conf.rss_conf.rss_key_len = sizeof key;
      conf.rx_adv_conf.rss_conf.rss_hf = (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
    }
    int rc = rte_eth_dev_configure(id, nq, nq, &conf);
    if (rc != 0) return makeError(Error::Code::kResource, where + ": configure failed: " + rte_strerror(-rc));
    uint16_t nrx = sw_.rx_ring, ntx = sw_.tx_ring;
    rte_eth_dev_adjust_nb_rx_tx_desc(id, &nrx, &ntx);
    for (uint16_t q = 0; q < nq; ++q) {
      rc = rte_eth_rx_queue_setup(id, q, nrx, rte_eth_dev_socket_id(id), nullptr, pool_);
      if (rc != 0) return makeError(Error::Code::kResource, where + ": rx queue setup failed: " + rte_strerror(-rc));
      rc = rte_eth_tx_queue_setup(id, q, ntx, rte_eth_dev_socket_id(id), nullptr);
      if (rc != 0) return makeError(Error::Code::kResource, where + ": tx queue setup failed: " + rte_strerror(-rc));
    }
    rc = rte_eth_dev_start(id);
    if (rc != 0) return makeError(Error::Code::kResource, where + ": start failed: " + rte_strerror(-rc));
    rte_eth_promiscuous_enable(id);  // not every PMD has it (pcap, ring): then it is promiscuous anyway
    port_ids_.push_back(id);
  }
  ports_started_ = true;
  return {};
}

Result<std::shared_ptr<const datapolicy::Classifier>> SwitchImpl::loadClassifier() const {
  auto classes = datapolicy::loadClasses(sw_.inspection.classes_dir);
  if (!classes) return classes.error();
  return datapolicy::Classifier::build(std::move(*classes), {sw_.inspection.cache_dir});
}

Result<void> SwitchImpl::publish(const SegmentsConfig& segs, const std::set<std::string>& quarantined, const std::string& why) {
  auto pol = CompiledPolicy::compile(sw_, segs, quarantined, generation_ + 1, static_cast<uint32_t>(worker_lcores_.size()));
  if (!pol) return pol.error();
  if (classifier_) {
    auto plan = InspectPlan::build(sw_, **pol, classifier_);
    if (!plan) return plan.error();
    (*pol)->setInspectPlan(std::move(*plan));
  }
  ++generation_;
  if (const CompiledPolicy* cur = policy_.load(std::memory_order_acquire)) (*pol)->inheritHits(*cur);
  const CompiledPolicy* old = policy_.exchange(pol->release(), std::memory_order_acq_rel);
  // Wait until every worker has passed a quiescent point: none can still hold `old`.
  if (old) {
    rte_rcu_qsbr_synchronize(qsbr_, RTE_QSBR_THRID_INVALID);
    delete old;
  }
  proto::AlertEvent ev;
  alerts::setKind(ev, alerts::Kind::kPolicyPublish);
  ev.set_action("publish");
  ev.set_policy_version(generation_);
  ev.set_message("policy version " + std::to_string(generation_) + " in force: " + why);
  if (alert_log_) raise(ev, ev.kind() + "." + std::to_string(generation_));
  return {};
}

Result<void> SwitchImpl::start() {
  if (auto r = initEal(); !r) return r;
  if (auto r = initPorts(); !r) return r;
  shared_.tsc_hz = rte_get_tsc_hz();
  shared_.timeouts = TimeoutTicks::fromConfig(sw_.timeouts, shared_.tsc_hz);
  shared_.policy = &policy_;
  shared_.stop = &workers_stop_;
  shared_.ports = port_ids_;
  shared_.secure = sw_.mode == SwitchMode::kSecure;
  shared_.max_packets = opts_.max_packets;
  shared_.pool = pool_;
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
    rte_ether_addr mac{};
    rte_eth_macaddr_get(port_ids_[up], &mac);
    uint64_t m = 0;
    for (uint8_t b : mac.addr_bytes) m = (m << 8) | b;
    auto t = Tunnel::create(sw_, staticSas, static_cast<uint32_t>(worker_lcores_.size()), up, m,
                            static_cast<uint16_t>(sw_.ports.size()),
                            [this] { rte_rcu_qsbr_synchronize(qsbr_, RTE_QSBR_THRID_INVALID); });
    if (!t) return t.error();
    tunnel_ = std::move(*t);
    shared_.tunnel = tunnel_.get();
    if (!staticSas.empty())
      if (auto r = tunnel_->loadSequences(sw_.tunnel.sequence_file); !r)
        return makeError(r.error().code, "tunnel.sequence_file: " + r.error().message);
    std::fprintf(stderr, "goldgate-switch: %u peer gateway(s); AES-256-GCM on %s%s\n", tunnel_->peerCount(),
                 crypto::aeadEngineName(tunnel_->engine()),
                 tunnel_->engine() == crypto::AeadEngine::kIpsecMb ? (std::string(" (") + crypto::ipsecMbArch() + ")").c_str() : "");
  }
  if (sw_.inspection.enabled) {
    auto c = loadClassifier();
    if (!c) return c.error();
    classifier_ = std::move(*c);
    std::fprintf(stderr, "goldgate-switch: %zu data classes %s (%.3f s), %zu bytes of stream state a flow direction\n",
                 classifier_->classes().size(), classifier_->fromCache() ? "loaded from the cache" : "compiled",
                 classifier_->compileSeconds(), classifier_->hsStreamBytes());
  }
  size_t qsz = rte_rcu_qsbr_get_memsize(static_cast<uint32_t>(worker_lcores_.size()));
  qsbr_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("gg_qsbr", qsz, RTE_CACHE_LINE_SIZE));
  if (!qsbr_ || rte_rcu_qsbr_init(qsbr_, static_cast<uint32_t>(worker_lcores_.size())) != 0)
    return makeError(Error::Code::kResource, "cannot set up RCU");
  shared_.qsbr = qsbr_;
  // One alert ring per worker: each has one producer (its worker) and one consumer (this thread).
  for (uint32_t w = 0; w < worker_lcores_.size(); ++w) {
    rte_ring* r = rte_ring_create_elem(("gg_alerts" + std::to_string(w)).c_str(), sizeof(AlertRecord), kAlertRingSize,
                                       static_cast<int>(rte_lcore_to_socket_id(worker_lcores_[w])), RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (!r) return makeError(Error::Code::kResource, std::string("cannot create alert ring: ") + rte_strerror(rte_errno));
    alert_rings_.push_back(r);
  }
  // One flow table per worker; the configured size is shared out between them.
  uint32_t perWorker = std::max<uint32_t>(64, sw_.flow_table_size / static_cast<uint32_t>(worker_lcores_.size()));
  {
    const uint32_t perPort = sw_.flow_table_per_port ? sw_.flow_table_per_port : sw_.flow_table_size / 2;
    shared_.port_flow_limit = std::max<uint32_t>(1, perPort / static_cast<uint32_t>(worker_lcores_.size()));
  }
  rte_malloc_socket_stats before{}, after{};
  rte_malloc_get_socket_stats(static_cast<int>(rte_socket_id()), &before);
  for (uint32_t w = 0; w < worker_lcores_.size(); ++w) {
    auto ft = FlowTable::create("gg_flows" + std::to_string(w), perWorker, static_cast<int>(rte_lcore_to_socket_id(worker_lcores_[w])));
    if (!ft) return ft.error();
    workers_.push_back(std::make_unique<Worker>(w, static_cast<uint16_t>(w), &shared_, std::move(*ft), alert_rings_[w]));
  }
  rte_malloc_get_socket_stats(static_cast<int>(rte_socket_id()), &after);
  flow_bytes_ = after.heap_allocsz_bytes - before.heap_allocsz_bytes;
  auto log = alerts::AlertLog::open(sw_.alert_file, sw_.alert_window_ms, "goldgate-switch",
                                    *alerts::parseFormat(sw_.alert_format));
  if (!log) return log.error();
  alert_log_ = std::move(*log);
  alert_log_->setRotation(sw_.alert_rotate_bytes, sw_.alert_rotate_keep);
  alert_log_->setObserver([this](const proto::AlertEvent& ev) { publishToFollowers(ev); });
  for (const auto& sc : sw_.alert_sinks) {
    auto sink = alerts::Sink::create(sc);
    if (!sink) return makeError(sink.error().code, sw_.source_file + ": alerts.sinks: " + sink.error().message);
    alert_log_->addSink(std::move(*sink));
  }
  if (auto r = loadQuarantine(); !r) return r;
  if (auto r = publish(segs_, quarantined_, "start-up"); !r) return r;
  if (auto r = openControlSocket(); !r) return r;
  if (tunnel_ && sw_.tunnel.tls.enabled) {
    auto ka = KeyAgent::start(sw_.tunnel, *tunnel_);
    if (!ka) return ka.error();
    key_agent_ = std::move(*ka);
  }
  started_ = std::chrono::steady_clock::now();
  return {};
}

int SwitchImpl::workerMain(void* self) {
  auto* s = static_cast<SwitchImpl*>(self);
  unsigned lc = rte_lcore_id();
  for (size_t w = 0; w < s->worker_lcores_.size(); ++w)
    if (s->worker_lcores_[w] == lc) s->workers_[w]->run();
  return 0;
}

void* SwitchImpl::controlMain(void* self) {
  static_cast<SwitchImpl*>(self)->controlLoop();
  return nullptr;
}

bool SwitchImpl::drained() const {
  // pcap inputs are read synchronously inside rx_burst: an empty poll means the file is done.
  for (const auto& w : workers_)
    if (w->stats().idle_streak.load(std::memory_order_relaxed) < 1000) return false;
  return true;
}

void SwitchImpl::snapshotWarmup() {
  warm_.tsc = rte_rdtsc();
  for (const auto& w : workers_) {
    auto& st = w->stats();
    warm_.packets += st.packets.load();
    warm_.busy += st.busy_cycles.load();
    warm_.created += st.flows_created.load();
    warm_.new_cycles += st.new_flow_cycles.load();
    for (uint32_t p = 0; p < port_ids_.size(); ++p) warm_.tx += st.ports[p].tx_packets.load();
  }
  warm_taken_ = true;
}

void SwitchImpl::controlLoop() {
  auto t0 = std::chrono::steady_clock::now();
  while (!control_stop_.load()) {
    pollfd pfd{listen_fd_, POLLIN, 0};
    int rc = ::poll(&pfd, 1, 20);
    if (rc > 0 && (pfd.revents & POLLIN)) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0 && !serveClient(fd)) ::close(fd);
    }
    // Followers that hung up are let go.
    for (auto it = followers_.begin(); it != followers_.end();) {
      pollfd f{it->fd, POLLIN, 0};
      char buf[64];
      if (::poll(&f, 1, 0) > 0 && (f.revents & (POLLHUP | POLLERR | POLLIN)) && ::recv(it->fd, buf, sizeof buf, MSG_DONTWAIT) <= 0) {
        ::close(it->fd);
        it = followers_.erase(it);
      } else {
        ++it;
      }
    }
    drainAlerts();
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
    if (opts_.warmup_s > 0 && !warm_taken_ && elapsed >= opts_.warmup_s) snapshotWarmup();
    if (opts_.duration_s > 0 && elapsed >= opts_.warmup_s + opts_.duration_s) stop_requested.store(true);
    if (opts_.exit_when_drained && elapsed > 0.05 && drained()) stop_requested.store(true);
    if (stop_requested.load()) workers_stop_.store(true);
  }
  drainAlerts();
  if (tunnel_) (void)tunnel_->persistSequences(true);
  alert_log_->flushAll();
  // Give the sinks a moment to deliver; what they cannot stays spooled for the next start.
  alert_log_->stopSinks(2000);
  for (const auto& f : followers_) ::close(f.fd);
  followers_.clear();
}

void SwitchImpl::publishToFollowers(const proto::AlertEvent& ev) {
  for (auto it = followers_.begin(); it != followers_.end();) {
    proto::Response r;
    r.set_ok(true);
    r.set_message(alerts::render(ev, it->format));
    std::string bytes;
    r.SerializeToString(&bytes);
    // A follower that cannot keep up is disconnected (and told so by the closed stream) rather
    // than allowed to stall the control thread; the alert file still has every event.
    if (!writeFrame(it->fd, bytes)) {
      ::close(it->fd);
      it = followers_.erase(it);
      ++followers_dropped_;
    } else {
      ++it;
    }
  }
}

int SwitchImpl::run() {
  if (!warm_taken_ && opts_.warmup_s <= 0) snapshotWarmup();
  if (rte_ctrl_thread_create(&control_thread_, "gg-control", nullptr, &SwitchImpl::controlMain, this) != 0) {
    std::fprintf(stderr, "goldgate-switch: cannot start the control thread\n");
    return 1;
  }
  control_running_ = true;
  rte_eal_mp_remote_launch(&SwitchImpl::workerMain, this, CALL_MAIN);
  rte_eal_mp_wait_lcore();
  uint64_t endTsc = rte_rdtsc();
  // Workers are done: close ports so pcap outputs are complete before anyone reads them.
  for (uint16_t id : port_ids_) rte_eth_dev_stop(id);
  control_stop_.store(true);
  pthread_join(control_thread_, nullptr);
  control_running_ = false;
  if (!opts_.stats_json.empty()) {
    if (!warm_taken_) snapshotWarmup();
    (void)endTsc;
    writeStats(opts_.stats_json);
  }
  return 0;
}

void SwitchImpl::writeStats(const std::string& path) {
  uint64_t packets = 0, busy = 0, tx = 0, created = 0, newCycles = 0, active = 0, cut = 0, expired = 0, quotesCut = 0;
  uint64_t drops[static_cast<int>(DropReason::kCount)] = {};
  for (const auto& w : workers_) {
    auto& st = w->stats();
    packets += st.packets.load();
    busy += st.busy_cycles.load();
    created += st.flows_created.load();
    newCycles += st.new_flow_cycles.load();
    active += st.flows_active.load();
    cut += st.flows_cut.load();
    quotesCut += st.icmp_quotes_cut.load();
    expired += st.flows_expired.load();
    for (uint32_t p = 0; p < port_ids_.size(); ++p) tx += st.ports[p].tx_packets.load();
    for (int r = 0; r < static_cast<int>(DropReason::kCount); ++r) drops[r] += st.drops[r].load();
  }
  double hz = static_cast<double>(rte_get_tsc_hz());
  double secs = static_cast<double>(rte_rdtsc() - warm_.tsc) / hz;
  uint64_t dp = packets - warm_.packets, dtx = tx - warm_.tx, dc = created - warm_.created;
  std::ofstream o(path);
  o << "{\n";
  o << "  \"seconds\": " << secs << ",\n";
  o << "  \"tsc_hz\": " << static_cast<uint64_t>(hz) << ",\n";
  o << "  \"packets\": " << dp << ",\n";
  o << "  \"tx_packets\": " << dtx << ",\n";
  o << "  \"rx_mpps\": " << (secs > 0 ? dp / secs / 1e6 : 0) << ",\n";
  o << "  \"tx_mpps\": " << (secs > 0 ? dtx / secs / 1e6 : 0) << ",\n";
  o << "  \"cycles_per_packet\": " << (dp ? static_cast<double>(busy - warm_.busy) / dp : 0) << ",\n";
  o << "  \"flows_created\": " << dc << ",\n";
  o << "  \"flows_created_total\": " << created << ",\n";
  o << "  \"cycles_per_new_flow\": " << (dc ? static_cast<double>(newCycles - warm_.new_cycles) / dc : 0) << ",\n";
  o << "  \"flows_active\": " << active << ",\n";
  o << "  \"flows_cut\": " << cut << ",\n";
  o << "  \"icmp_quotes_cut\": " << quotesCut << ",\n";
  o << "  \"flows_expired\": " << expired << ",\n";
  uint64_t capacity = 0;
  for (const auto& w : workers_) capacity += w->flows().capacity();
  o << "  \"bytes_per_flow\": " << (capacity ? static_cast<double>(flow_bytes_) / capacity : 0) << ",\n";
  o << "  \"flow_capacity\": " << capacity << ",\n";
  o << "  \"policy_version\": " << generation_ << ",\n";
  o << "  \"alerts_written\": " << alert_log_->written() << ",\n";
  o << "  \"drops\": {";
  bool first = true;
  for (int r = 1; r < static_cast<int>(DropReason::kCount); ++r) {
    o << (first ? "" : ", ") << "\"" << dropReasonName(static_cast<DropReason>(r)) << "\": " << drops[r];
    first = false;
  }
  o << "},\n  \"ports\": {";
  for (uint32_t p = 0; p < port_ids_.size(); ++p) {
    uint64_t rx = 0, t = 0, d = 0;
    for (const auto& w : workers_) {
      rx += w->stats().ports[p].rx_packets.load();
      t += w->stats().ports[p].tx_packets.load();
      d += w->stats().ports[p].drops.load();
    }
    o << (p ? ", " : "") << "\"" << sw_.ports[p].name << "\": {\"rx\": " << rx << ", \"tx\": " << t << ", \"drops\": " << d << "}";
  }
  o << "}\n}\n";
}

// ---------------------------------------------------------------- alerts

void SwitchImpl::raise(proto::AlertEvent ev, const std::string& key) { alert_log_->raise(std::move(ev), key, alerts::nowNs()); }

void SwitchImpl::drainAlerts() {
  if (key_agent_)
    for (auto& ev : key_agent_->takeEvents()) {
      std::string key = ev.kind() + "|" + ev.port() + "|" + ev.message();
      raise(std::move(ev), key);
    }
  // Responses first, from their own path (a bit per port, never lost): a data-policy quarantine
  // does not depend on its alert getting through a ring that a flood may have filled.
  for (const auto& w : workers_) {
    const uint32_t ports = w->takeQuarantineRequests();
    for (uint32_t p = 0; p < sw_.ports.size() && p < 32; ++p) {
      if (!((ports >> p) & 1) || !traits(sw_.ports[p].role).vm_side) continue;
      auto r = setQuarantine(sw_.ports[p].name, true);
      if (!r) std::fprintf(stderr, "goldgate-switch: data policy quarantine of '%s': %s\n", sw_.ports[p].name.c_str(),
                           r.error().message.c_str());
    }
  }
  const AlertContext ctx{sw_, policy_.load(std::memory_order_acquire), classifier_.get()};
  AlertRecord recs[64];
  unsigned n;
  for (rte_ring* ring : alert_rings_)
    while ((n = rte_ring_sc_dequeue_burst_elem(ring, recs, sizeof(AlertRecord), 64, nullptr)) > 0)
      for (unsigned i = 0; i < n; ++i) {
        proto::AlertEvent ev;
        std::string key;
        if (renderAlert(recs[i], ctx, &ev, &key)) raise(std::move(ev), key);
      }
  reportAlertLosses();
}

void SwitchImpl::reportAlertLosses() {
  uint64_t dropped = 0, limited = 0;
  for (const auto& w : workers_) {
    dropped += w->stats().alerts_dropped.load(std::memory_order_relaxed);
    limited += w->stats().alerts_rate_limited.load(std::memory_order_relaxed);
  }
  // Counted losses become one event each time they grow.
  auto lost = [this](uint64_t now, uint64_t& reported, alerts::Kind kind, const std::string& what) {
    if (now <= reported) return;
    proto::AlertEvent ev;
    alerts::setKind(ev, kind);
    ev.set_count(now - reported);
    ev.set_message(std::to_string(now - reported) + what);
    std::string key = ev.kind();
    raise(std::move(ev), key);
    reported = now;
  };
  lost(limited, alerts_limited_reported_, alerts::Kind::kAlertsRateLimited,
       " low-priority alerts (deny, spoofing, flow table full) not raised: a port sent more than its share; "
       "data findings and responses are never limited (goldgatectl status: drops by port say which)");
  lost(dropped, alerts_dropped_reported_, alerts::Kind::kAlertsDropped,
       " alert records lost: the packet path raised them faster than they could be written");
}

// ---------------------------------------------------------------- control socket

Result<void> SwitchImpl::openControlSocket() {
  auto fd = ipc::listenUnix(sw_.control_socket, sw_.control_group, "goldgate-switch");
  if (!fd) {
    // A missing group is a configuration error: name the file that asks for it.
    if (fd.error().code == Error::Code::kInvalidArgument && fd.error().message.rfind("group ", 0) == 0)
      return makeError(Error::Code::kInvalidArgument, sw_.source_file + ": control." + fd.error().message);
    return fd.error();
  }
  listen_fd_ = *fd;
  return {};
}

bool SwitchImpl::serveClient(int fd) {
  // Only root or members of the configured group may drive the switch.
  bool allowed = ipc::peerAllowed(fd, sw_.control_group);
  proto::Response resp;
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::string out;
  // The request is read even from a peer that will be refused, so that its send completes and it
  // reads the refusal rather than a broken pipe.
  auto frame = readFrame(fd);
  if (!frame) return false;  // client went away or sent garbage framing: nothing to answer
  if (!allowed) {
    resp.set_ok(false);
    resp.set_error("permission denied: the control socket accepts root" +
                   (sw_.control_group.empty() ? std::string() : " and group " + sw_.control_group));
  } else {
    proto::Request req;
    if (!req.ParseFromString(*frame)) {
      resp.set_ok(false);
      resp.set_error("malformed request");
    } else if (req.cmd_case() == proto::Request::kFollow) {
      auto fmt = alerts::parseFormat(req.follow().format().empty() ? "json" : req.follow().format());
      if (!fmt) {
        resp.set_ok(false);
        resp.set_error(fmt.error().message);
      } else if (followers_.size() >= 16) {
        resp.set_ok(false);
        resp.set_error("too many alert followers (16)");
      } else {
        resp.set_ok(true);
        resp.set_message("following alerts in " + std::string(alerts::formatName(*fmt)) + " format");
        resp.SerializeToString(&out);
        if (!writeFrame(fd, out)) return false;
        // Sends must never block the control thread: a full socket means a slow follower.
        int flags = ::fcntl(fd, F_GETFL);
        ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        followers_.push_back(Follower{fd, *fmt});
        return true;
      }
    } else {
      resp = handle(req);
    }
  }
  resp.SerializeToString(&out);
  writeFrame(fd, out);
  return false;
}

}  // namespace goldgate::dataplane
