// Run-time state of the ESP tunnels (goldgate.yaml `tunnel`): per peer its outbound SA, underlay
// next hop and the MAC resolved for it; the inbound SAs by SPI. Built by the control thread at
// start-up, then shared by every worker. SAs change at run time (automatic keys): the outbound SA
// of a peer and the inbound SA slots are atomic pointers that workers read within one loop
// iteration; a replaced SA is freed only after every worker has passed a quiescent state (RCU).
// Outbound sequence numbers are atomic; each inbound SA's replay window has its own lock; every SA
// has one cipher instance per worker. Internal to dataplane/.
#pragma once

#include <rte_spinlock.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "goldgate/common/result.h"
#include "goldgate/crypto/esp.h"
#include "goldgate/crypto/sa_file.h"
#include "goldgate/dataplane/config.h"

namespace goldgate::dataplane {

/// A counter that several workers add to (a tunnel peer's or SA's traffic is sealed and opened by
/// every worker): an atomic read-modify-write, never the single-writer load-and-store of `bump`.
struct SharedCounter {
  std::atomic<uint64_t> v{0};
  void add(uint64_t n) { v.fetch_add(n, std::memory_order_relaxed); }
  uint64_t load() const { return v.load(std::memory_order_relaxed); }
};

struct OutboundSa {
  uint32_t spi = 0;
  uint8_t salt[4] = {};
  bool esn = true;
  uint64_t epoch = 0;                                // key generation (0: static)
  std::atomic<uint64_t> seq{0};                      // last sequence number used
  SharedCounter bytes;                               // inner bytes sealed
  std::atomic<uint64_t> limit{UINT64_MAX};           // static keys: the last number reserved in the sequence file
  uint64_t pending_limit = UINT64_MAX;               // ... and the one being written
  uint64_t fingerprint = 0;                          // of the key (the sequence file tells keys apart by it)
  std::vector<std::unique_ptr<crypto::Gcm256>> gcm;  // per worker
};

struct InboundSa {
  uint32_t spi = 0;
  uint16_t peer = 0;  // index into the tunnel's peers
  uint8_t salt[4] = {};
  bool esn = true;
  uint64_t epoch = 0;
  rte_spinlock_t lock = RTE_SPINLOCK_INITIALIZER;
  crypto::ReplayWindow window;
  std::atomic<uint64_t> packets{0};
  uint64_t fingerprint = 0;
  std::vector<std::unique_ptr<crypto::Gcm256>> gcm;  // per worker
};

struct TunnelPeer {
  uint16_t port = 0;                      // the peer's switch port (after the physical ports)
  uint8_t family = 4;                     // underlay family
  uint8_t remote[16] = {};                // the peer's underlay address
  uint8_t next_hop[16] = {};              // the address resolved on the underlay: the peer, or a gateway
  std::atomic<uint64_t> next_hop_mac{0};  // 0: not resolved yet
  std::atomic<uint64_t> resolved_tsc{0};
  bool static_mac = false;                // next_hop_mac configured: never resolved
  std::atomic<OutboundSa*> out{nullptr};  // null: no keys (the peer is down): its flows are blocked
  uint32_t max_inner = 0;                 // the largest inner packet that fits the underlay MTU once sealed
  SharedCounter tx_packets, tx_bytes, rx_packets, rx_bytes;
};

class Tunnel {
 public:
  static constexpr uint32_t kInboundSlots = 128;  // 32 ports and peers, a few SAs each around a rekey

  /// Builds the tunnel state from `sw.tunnel` and the static SAs of its key file (peers with
  /// automatic keys get theirs later). `uplinkMac` is the uplink device's MAC (the underlay source
  /// unless configured), `firstPort` the switch port of the first peer. `synchronize` waits until
  /// no worker can still hold a pointer read before the call (RCU). Errors name the key file and
  /// line, or the peer without SAs.
  static Result<std::unique_ptr<Tunnel>> create(const SwitchConfig& sw, const std::vector<crypto::StaticSa>& sas,
                                                uint32_t workers, uint16_t uplinkPort, uint64_t uplinkMac,
                                                uint16_t firstPort, std::function<void()> synchronize);
  ~Tunnel();

  uint32_t peerCount() const { return static_cast<uint32_t>(peers_.size()); }
  TunnelPeer& peer(uint32_t i) { return *peers_[i]; }
  /// The inbound SA with `spi`, or null (hot path).
  InboundSa* inbound(uint32_t spi) {
    for (auto& slot : inbound_) {
      InboundSa* sa = slot.load(std::memory_order_acquire);
      if (sa && sa->spi == spi) return sa;
    }
    return nullptr;
  }

  // Key changes, from the key agent or the control thread (serialised by an internal mutex).
  /// Installs an inbound SA for peer `i`; false when every slot is taken or the SPI is in use.
  bool addInbound(uint32_t i, uint32_t spi, const uint8_t* key36, bool esn, uint64_t epoch);
  /// Makes the SA the peer's outbound SA (the previous one is retired).
  Result<void> setOutbound(uint32_t i, uint32_t spi, const uint8_t* key36, bool esn, uint64_t epoch);
  /// Removes the peer's inbound SAs of epochs below `epoch` (all: UINT64_MAX) and, with `outbound`,
  /// its outbound SA: nothing sealed or opened under those keys after this returns.
  void retire(uint32_t i, uint64_t epoch, bool outbound);
  /// An SPI no inbound SA uses (random, >= 256).
  uint32_t freshSpi();
  /// SPIs and epochs of peer `i`'s inbound SAs (control thread).
  std::vector<std::pair<uint32_t, uint64_t>> inboundOf(uint32_t i);
  struct OutboundInfo {
    bool present = false;
    uint32_t spi = 0;
    uint64_t seq = 0, bytes = 0, epoch = 0;
  };
  /// Static keys across restarts: the next outbound sequence number must never repeat one used
  /// before (the IV is the sequence number), and the replay window must not forget what it saw.
  /// loadSequences() resumes both from `path` (lines "out|in PEER SPI KEY-FINGERPRINT NUMBER"; a
  /// missing file is a first start; a line for other keys is ignored) and reserves the next block
  /// of outbound numbers; persistSequences() (control thread, often) writes the file again,
  /// atomically, before a reservation is half used, and at most once a second as the replay
  /// windows move. Errors name the file.
  Result<void> loadSequences(const std::string& path);
  Result<void> persistSequences(bool force);
  // Outbound numbers reserved at a time: 2^30 with ESN; 2^24 without, whose space is only 2^32.
  static uint64_t reserveFor(bool esn) { return esn ? uint64_t{1} << 30 : uint64_t{1} << 24; }

  /// A consistent look at peer `i`'s outbound SA (any thread but a worker).
  OutboundInfo outboundOf(uint32_t i);

  uint16_t uplink() const { return uplink_; }
  uint64_t underlayMac() const { return underlay_mac_; }
  const TunnelConfig& config() const { return cfg_; }
  bool hasIpv4() const { return cfg_.ipv4.has_value(); }
  bool hasIpv6() const { return cfg_.ipv6.has_value(); }
  const uint8_t* ipv4() const { return cfg_.ipv4->addr.bytes.data(); }
  const uint8_t* ipv6() const { return cfg_.ipv6->addr.bytes.data(); }
  crypto::AeadEngine engine() const { return engine_; }

 private:
  Result<std::vector<std::unique_ptr<crypto::Gcm256>>> ciphers(const uint8_t* key32) const;

  TunnelConfig cfg_;
  uint16_t uplink_ = 0;
  uint64_t underlay_mac_ = 0;
  uint32_t workers_ = 1;
  crypto::AeadEngine engine_ = crypto::AeadEngine::kAuto;
  std::function<void()> synchronize_;
  std::mutex mu_;
  std::vector<std::unique_ptr<TunnelPeer>> peers_;
  std::atomic<InboundSa*> inbound_[kInboundSlots] = {};
  std::string seq_path_;
  std::vector<uint64_t> saved_top_;  // per inbound slot: the replay window top last written
  uint64_t last_write_ns_ = 0;
};

}  // namespace goldgate::dataplane
