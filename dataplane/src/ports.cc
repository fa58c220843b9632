// The EAL, the mbuf pool and the ports (ports.h).
#include "ports.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

namespace goldgate::dataplane {
namespace {

bool isPciAddress(const std::string& s) {
  // dddd:bb:dd.f or bb:dd.f
  auto dots = std::count(s.begin(), s.end(), ':');
  return (dots == 1 || dots == 2) && s.find('.') != std::string::npos && s.find(',') == std::string::npos &&
         s.rfind("net_", 0) != 0;
}

std::string devName(const std::string& devargs) { return devargs.substr(0, devargs.find(',')); }

}  // namespace

Ports::~Ports() { close(); }

Result<void> Ports::initEal(const SwitchConfig& sw) {
  std::vector<std::string> args{"goldgate-switch"};
  bool anyPci = false;
  all_pcap_ = true;
  for (const auto& p : sw.ports) {
    if (isPciAddress(p.devargs)) anyPci = true;
    if (devName(p.devargs).rfind("net_pcap", 0) != 0 || p.devargs.find("infinite_rx=1") != std::string::npos ||
        p.devargs.find("iface=") != std::string::npos)
      all_pcap_ = false;
  }
  if (sw.eal_args.empty()) {
    args.insert(args.end(), {"-l", "0", "--no-huge", "-m", "1024", "--no-shconf", "--no-telemetry"});
    if (!anyPci) args.push_back("--no-pci");
  } else {
    args.insert(args.end(), sw.eal_args.begin(), sw.eal_args.end());
  }
  // A private runtime folder per process, so several switches (and tests) never share DPDK state.
  if (std::find(args.begin(), args.end(), "--file-prefix") == args.end() &&
      std::find(args.begin(), args.end(), "--in-memory") == args.end()) {
    args.insert(args.end(), {"--file-prefix", "goldgate-" + std::to_string(::getpid())});
    own_prefix_ = true;
  }
  for (const auto& p : sw.ports) {
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
  RTE_LCORE_FOREACH(lc) lcores_.push_back(lc);
  return {};
}

Result<void> Ports::open(const SwitchConfig& sw) {
  const uint16_t nq = static_cast<uint16_t>(lcores_.size());
  pool_ = rte_pktmbuf_pool_create("gg_mbufs", sw.mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                  static_cast<int>(rte_socket_id()));
  if (!pool_)
    return makeError(Error::Code::kResource, "cannot create a pool of " + std::to_string(sw.mbufs) + " mbufs: " +
                                                 rte_strerror(rte_errno) + " (lower 'mbufs' or raise EAL -m)");
  for (const auto& p : sw.ports) {
    std::string where = sw.source_file + ":" + std::to_string(p.loc.line) + ": port '" + p.name + "'";
    uint16_t id;
    std::string name = isPciAddress(p.devargs) ? p.devargs : devName(p.devargs);
    if (rte_eth_dev_get_port_by_name(name.c_str(), &id) != 0)
      return makeError(Error::Code::kNotFound, where + ": no DPDK device '" + name + "' (devargs '" + p.devargs +
                                                   "' not probed; see the EAL messages above)");
    rte_eth_dev_info info{};
    if (rte_eth_dev_info_get(id, &info) != 0)
      return makeError(Error::Code::kResource, where + ": cannot read device info");
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
      conf.rx_adv_conf.rss_conf.rss_hf =
          (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
    }
    int rc = rte_eth_dev_configure(id, nq, nq, &conf);
    if (rc != 0) return makeError(Error::Code::kResource, where + ": configure failed: " + rte_strerror(-rc));
    uint16_t nrx = sw.rx_ring, ntx = sw.tx_ring;
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
    ids_.push_back(id);
  }
  started_ = true;
  return {};
}

void Ports::stop() {
  for (uint16_t id : ids_) rte_eth_dev_stop(id);
}

void Ports::close() {
  if (started_) {
    for (uint16_t id : ids_) {
      rte_eth_dev_stop(id);
      rte_eth_dev_close(id);
    }
    started_ = false;
  }
  if (eal_up_) {
    std::string runtimeDir = rte_eal_get_runtime_dir();
    rte_eal_cleanup();
    eal_up_ = false;
    // The per-process runtime folder the switch chose itself is not left behind.
    if (own_prefix_) {
      std::error_code ec;
      std::filesystem::remove_all(runtimeDir, ec);
    }
  }
}

uint64_t Ports::mac(uint16_t port) const {
  rte_ether_addr mac{};
  rte_eth_macaddr_get(ids_[port], &mac);
  uint64_t m = 0;
  for (uint8_t b : mac.addr_bytes) m = (m << 8) | b;
  return m;
}

std::optional<bool> Ports::linkUp(uint16_t port) const {
  rte_eth_link link{};
  if (rte_eth_link_get_nowait(ids_[port], &link) != 0) return std::nullopt;
  return link.link_status == RTE_ETH_LINK_UP;
}

}  // namespace goldgate::dataplane
