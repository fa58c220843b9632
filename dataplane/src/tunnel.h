// Run-time state of the ESP tunnels (goldgate.yaml `tunnel`): per peer its outbound SA, underlay
// next hop and the MAC resolved for it; the inbound SAs by SPI. Built by the control thread at
// start-up, then shared by every worker: outbound sequence numbers are atomic, each inbound SA's
// replay window has its own lock, and every SA has one cipher instance per worker. Internal to
// dataplane/.
#pragma once

#include <rte_spinlock.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "goldgate/common/result.h"
#include "goldgate/crypto/esp.h"
#include "goldgate/crypto/sa_file.h"
#include "goldgate/dataplane/config.h"

namespace goldgate::dataplane {

struct TunnelPeer {
  uint16_t port = 0;         // the peer's switch port (after the physical ports)
  uint8_t family = 4;        // underlay family
  uint8_t remote[16] = {};   // the peer's underlay address
  uint8_t next_hop[16] = {}; // the address resolved on the underlay: the peer, or a gateway
  std::atomic<uint64_t> next_hop_mac{0};  // 0: not resolved yet
  std::atomic<uint64_t> resolved_tsc{0};
  bool static_mac = false;   // next_hop_mac configured: never resolved
  // Outbound SA.
  uint32_t spi = 0;
  uint8_t salt[4] = {};
  bool esn = true;
  std::atomic<uint64_t> seq{0};  // last sequence number used
  std::vector<std::unique_ptr<crypto::Gcm256>> gcm;  // per worker
  uint32_t max_inner = 0;  // the largest inner packet that fits the underlay MTU once sealed
  std::atomic<uint64_t> tx_packets{0}, tx_bytes{0}, rx_packets{0}, rx_bytes{0};
};

struct InboundSa {
  uint32_t spi = 0;
  uint16_t peer = 0;  // index into Tunnel::peers
  uint8_t salt[4] = {};
  bool esn = true;
  rte_spinlock_t lock = RTE_SPINLOCK_INITIALIZER;
  crypto::ReplayWindow window;
  std::vector<std::unique_ptr<crypto::Gcm256>> gcm;  // per worker
};

class Tunnel {
 public:
  /// Builds the tunnel state from `sw.tunnel` and the SAs of its key file. `uplinkMac` is the
  /// uplink device's MAC (the underlay source unless configured), `firstPort` the switch port of
  /// the first peer. Errors name the key file and line, or the peer without SAs.
  static Result<std::unique_ptr<Tunnel>> create(const SwitchConfig& sw, const std::vector<crypto::StaticSa>& sas,
                                                uint32_t workers, uint16_t uplinkPort, uint64_t uplinkMac,
                                                uint16_t firstPort);

  TunnelPeer& peerOfPort(uint16_t port) { return *peers_[port - first_port_]; }
  bool isPeerPort(uint16_t port) const { return port >= first_port_ && port < first_port_ + peers_.size(); }
  uint32_t peerCount() const { return static_cast<uint32_t>(peers_.size()); }
  TunnelPeer& peer(uint32_t i) { return *peers_[i]; }
  /// The inbound SA with `spi`, or null.
  InboundSa* inbound(uint32_t spi) {
    for (auto& sa : inbound_)
      if (sa->spi == spi) return sa.get();
    return nullptr;
  }

  /// SPIs of the inbound SAs of peer `i` (control thread).
  std::vector<uint32_t> inboundSpis(uint32_t i) const {
    std::vector<uint32_t> out;
    for (const auto& sa : inbound_)
      if (sa->peer == i) out.push_back(sa->spi);
    return out;
  }
  uint16_t uplink() const { return uplink_; }
  uint64_t underlayMac() const { return underlay_mac_; }
  const TunnelConfig& config() const { return cfg_; }
  bool hasIpv4() const { return cfg_.ipv4.has_value(); }
  bool hasIpv6() const { return cfg_.ipv6.has_value(); }
  const uint8_t* ipv4() const { return cfg_.ipv4->addr.bytes.data(); }
  const uint8_t* ipv6() const { return cfg_.ipv6->addr.bytes.data(); }
  crypto::AeadEngine engine() const { return engine_; }

 private:
  TunnelConfig cfg_;
  uint16_t uplink_ = 0;
  uint16_t first_port_ = 0;
  uint64_t underlay_mac_ = 0;
  crypto::AeadEngine engine_ = crypto::AeadEngine::kAuto;
  std::vector<std::unique_ptr<TunnelPeer>> peers_;
  std::vector<std::unique_ptr<InboundSa>> inbound_;
};

}  // namespace goldgate::dataplane
