// The forwarding worker: run-to-completion packet path on one lcore. Internal to dataplane/.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "goldgate/dataplane/conntrack.h"
#include "goldgate/dataplane/fragments.h"
#include "goldgate/dataplane/packet.h"
#include "goldgate/dataplane/policy.h"
#include "inspect.h"
#include "mac_table.h"
#include "tunnel.h"

struct rte_mbuf;
struct rte_ring;
struct rte_rcu_qsbr;
struct rte_mempool;

namespace goldgate::dataplane {

constexpr uint32_t kBurst = 32;

/// An Ethernet address in wire order as a 48-bit integer (first byte most significant).
inline uint64_t macOf(const uint8_t* p) {
  return (uint64_t{p[0]} << 40) | (uint64_t{p[1]} << 32) | (uint64_t{p[2]} << 24) | (uint64_t{p[3]} << 16) |
         (uint64_t{p[4]} << 8) | p[5];
}

/// Relaxed single-writer counter update: the owning worker adds, any thread reads.
inline void bump(std::atomic<uint64_t>& c, uint64_t n) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

struct alignas(64) PortCounters {
  std::atomic<uint64_t> rx_packets{0}, rx_bytes{0}, tx_packets{0}, tx_bytes{0}, drops{0}, tx_errors{0};
};

/// Counters of one worker. Written only by that worker; read by the control thread.
struct alignas(64) WorkerStats {
  PortCounters ports[kMaxPorts];
  std::atomic<uint64_t> drops[static_cast<int>(DropReason::kCount)]{};
  std::atomic<uint64_t> flows_created{0}, flows_expired{0}, flows_cut{0}, flows_active{0};
  std::atomic<uint64_t> busy_cycles{0};     // TSC cycles of loop iterations that received packets
  std::atomic<uint64_t> packets{0};         // packets received and processed
  std::atomic<uint64_t> new_flow_cycles{0}; // TSC cycles spent classifying and creating flows
  std::atomic<uint64_t> alerts_dropped{0};  // alert records lost because the alert ring was full
  std::atomic<uint64_t> alerts_rate_limited{0};  // low-priority alerts over a port's share, not raised
  std::atomic<uint64_t> icmp_quotes_cut{0};      // ICMP errors cut to the quoted header + 8 bytes (inspection)
  std::atomic<uint64_t> idle_streak{0};     // consecutive loop iterations without a packet
  std::atomic<uint64_t> mac_learned{0};
};

/// An alert raised on the packet path, carried to the control thread over a ring.
struct AlertRecord {
  enum Kind : uint8_t { kDeny, kAllowLog, kFlowTableFull, kSpoofMac, kSpoofIp, kFlowCut, kDataFinding, kInspectionGap,
                        kInspectionOverload, kTunnelDrop /* ESP refused on the underlay: rule = DropReason */,
                        kInspectionEvasion /* overlapping TCP segments with different bytes: the flow is blocked */ };
  uint8_t kind;
  uint8_t family;
  uint8_t protocol;
  uint8_t port;
  uint32_t rule;
  uint64_t policy_gen;
  uint16_t sport;
  uint16_t dport;
  uint8_t src[16];
  uint8_t dst[16];
  uint8_t src_mac[6];
  uint8_t pad[2];
  // Data findings and inspection gaps (kDataFinding, kInspectionGap, kInspectionOverload):
  uint8_t action;     // datapolicy::Action
  uint8_t zone_src;   // zone ids of the plan in force (0: none)
  uint8_t zone_dst;
  uint8_t confidence_pct;
  uint32_t count;
  uint64_t offset;
  char masked[48];
  char class_name[64];
};
static_assert(sizeof(AlertRecord) % 4 == 0);
static_assert(AlertRecord::kDeny == 0 && AlertRecord::kSpoofIp == 4, "the rate-limited kinds come first (Worker::kLowKinds)");

/// One flow as copied out for `goldgatectl flows`.
struct FlowSnapshot {
  FlowKey key;
  Flow flow;
  uint64_t classes;  // data classes seen in it (Inspector::classesSeen)
};

/// Filter applied by the worker while copying flows out.
struct FlowQuery {
  int port = -1;          // originator's port, -1 = any
  uint8_t protocol = 0;   // 0 = any
  uint8_t family = 0;     // with ip
  uint8_t ip[16] = {};    // either endpoint
  uint32_t limit = 1000;
};

/// Requests from the control thread, served by the worker between bursts.
struct Mailbox {
  // kDumpFlows: copy matching flows to `out`; kFlushPort: remove every flow with an end on
  // query.port (a VM left the port). Both report the flows they matched in `matched`.
  enum class Cmd : uint8_t { kDumpFlows, kFlushPort };
  // kIdle -> kRequested (control thread) -> kServing (worker) -> kDone (worker) -> kIdle (control);
  // a request not yet picked up may be withdrawn (kRequested -> kIdle).
  enum class State : int { kIdle, kRequested, kServing, kDone };
  std::atomic<State> state{State::kIdle};
  Cmd cmd = Cmd::kDumpFlows;
  FlowQuery query;
  std::vector<FlowSnapshot>* out = nullptr;  // reserved by the requester: the worker never allocates
  uint64_t matched = 0;
};

struct WorkerShared {
  std::atomic<const CompiledPolicy*>* policy = nullptr;
  rte_rcu_qsbr* qsbr = nullptr;
  std::atomic<bool>* stop = nullptr;
  std::vector<uint16_t> ports;  // DPDK port ids in switch port order
  TimeoutTicks timeouts{};
  uint64_t tsc_hz = 0;
  uint64_t max_packets = 0;  // per worker; 0 = unlimited
  bool secure = true;        // false: L2 baseline mode (no microsegments, no conntrack)
  rte_mempool* pool = nullptr;       // for the TCP resets the data policy sends
  uint32_t inspect_max_flows = 0;    // inspected flows per worker (0: the flow table's size)
  uint32_t port_flow_limit = UINT32_MAX;  // flows one VM port may originate in one worker
  uint64_t inspect_hold_total = 64ull << 20;  // out-of-order bytes a worker holds in all
  Tunnel* tunnel = nullptr;          // ESP tunnels to peer gateways (null: none configured)
};

class Worker {
 public:
  /// `alerts`: this worker's alert ring (it is the only producer; the control thread drains it).
  Worker(uint32_t id, uint16_t queue, const WorkerShared* shared, std::unique_ptr<FlowTable> flows, rte_ring* alerts);
  /// The forwarding loop; returns when *shared->stop is set. Runs on its lcore.
  void run();
  WorkerStats& stats() { return stats_; }
  Mailbox& mailbox() { return mailbox_; }
  const FlowTable& flows() const { return *flows_; }
  uint32_t id() const { return id_; }
  /// The VM ports this worker's data policy asked to quarantine since the last call (bit = port).
  /// Control thread. A request is a bit that stays set until taken: it cannot be lost.
  uint32_t takeQuarantineRequests() { return quarantine_requests_.exchange(0, std::memory_order_acq_rel); }

 private:
  struct TxBuffer {
    uint16_t n = 0;
    rte_mbuf* pkts[2 * kBurst];
  };
  // A fragmented datagram of an inspected connection, gathered until it is whole; it is inspected
  // then, with its last fragment held back until the verdict (worker_frag.cc).
  struct FragGather {
    FlowKey key{};          // the connection: looked up again when the datagram is whole (it may be gone)
    uint8_t src_is_a = 0;   // the datagram's sender is the key's side a
    uint16_t port = 0;      // the port it came in on (per-port bounds)
    bool done = false;      // inspected: fragments of it that still come are dropped
    FragmentGather payload; // bad: overlapping fragments, too long, or no room: the rest of it is dropped
  };
  struct FragEntry {
    uint8_t src[16], dst[16];
    uint32_t id;
    uint8_t protocol, family, out_port, valid;
    uint64_t tsc;
    std::unique_ptr<FragGather> gather;  // null: the datagram's connection is not inspected
  };

  template <bool kSecure>
  void processBurst(const CompiledPolicy& pol, uint16_t in, rte_mbuf** pkts, uint32_t n, uint64_t now);
  template <bool kSecure>
  void loop();
  void processFlows(const CompiledPolicy& pol, uint16_t in, rte_mbuf** pkts, const PacketMeta* meta, const FlowKey* keys,
                    const void** keyPtrs, const uint8_t* keyIdx, const uint8_t* srcIsA, int16_t* out,
                    uint32_t nkeys, uint32_t related, uint64_t now);
  void send(uint16_t port, rte_mbuf* m);
  void flood(uint32_t mask, rte_mbuf* m);
  void flushTx();
  void drop(rte_mbuf* m, DropReason r, uint16_t in);
  bool revalidate(const CompiledPolicy& pol, Flow& f, const FlowKey& k);
  void age(const CompiledPolicy& pol, uint64_t now, uint32_t budget);
  void serveMailbox();
  void alert(AlertRecord::Kind kind, const PacketMeta& m, uint16_t in, uint32_t rule, uint64_t gen);
  void enqueueAlert(const AlertRecord& a);
  void alertFlow(AlertRecord::Kind kind, const FlowKey& k, const Flow& f, uint64_t gen);
  int outPortFor(const CompiledPolicy& pol, const uint8_t* dstMac, uint16_t in, uint64_t now, uint8_t family = 0,
                 const uint8_t* dstIp = nullptr);
  // Tunnels (worker_tunnel.cc).
  bool underlayInput(rte_mbuf* m, const PacketMeta& pm, uint64_t now);  // true: taken (ARP/ND/ESP to us)
  void openPending(const CompiledPolicy& pol, uint64_t now);             // ESP collected by underlayInput
  bool answerForRouter(const CompiledPolicy& pol, rte_mbuf* m, const PacketMeta& pm, uint16_t in);
  void sealPending(uint16_t port);       // seals what waits for peer `port` and queues it on the uplink
  void sealOne(TunnelPeer& peer, rte_mbuf* m, uint16_t port);
  void sendTooBig(rte_mbuf* m, uint32_t mtu);
  void resolveNextHops(uint64_t now);
  void tunnelAlert(DropReason why, const uint8_t* outer, uint8_t family, uint64_t now);
  void learnNeighbor(uint8_t family, const uint8_t* ip, const uint8_t* mac, uint64_t now);
  FragEntry* fragBucket(const PacketMeta& m);  // the kFragWays entries a datagram may use
  FragEntry* findFrag(const PacketMeta& m, uint64_t now);  // this datagram's live entry, or null
  bool sameDatagram(const FragEntry& fe, const PacketMeta& m, uint64_t now) const;
  // Fragments of inspected connections (worker_frag.cc).
  FragEntry* claimFrag(const PacketMeta& m, uint64_t now);  // this datagram's entry; null: no room
  void releaseGather(FragEntry& fe);
  void sweepGathers(uint64_t now);
  bool addFragment(FragGather& g, const PacketMeta& pm, rte_mbuf* m);  // false: refused (g is bad)
  int gatherFirst(const Flow& f, const FlowKey& k, int dir, const PacketMeta& pm, rte_mbuf* m, uint16_t in, uint64_t now);
  int gatherLater(const CompiledPolicy& pol, FragEntry& fe, const PacketMeta& pm, rte_mbuf* m, uint16_t in);
  // Payload inspection of a packet of an allowed flow: it passes, was dropped, or was rewritten
  // into a RST toward its receiver (the data policy blocked the flow; the sender is reset too).
  enum InspectResult { kInspectPass, kInspectDropped, kInspectReset };
  int inspect(const CompiledPolicy& pol, int32_t pos, const Flow& f, const FlowKey& k, int dir, const PacketMeta& pm,
              rte_mbuf* m, uint16_t in, uint64_t now);
  // The payload of one packet (or gathered datagram) through the inspector; its events alerted.
  Inspector::Verdict inspectPayload(const CompiledPolicy& pol, int32_t pos, const Flow& f, const FlowKey& k, int dir,
                                    const PacketMeta& pm, const uint8_t* l4, size_t l4len, uint16_t in, size_t* plen,
                                    DropReason* why);
  // Payload the inspector reads: TCP streams, UDP datagrams, ICMP / ICMPv6 echo (and timestamp) messages.
  static bool readable(const PacketMeta& pm) {
    return pm.protocol == 6 || pm.protocol == 17 || ((pm.protocol == 1 || pm.protocol == 58) && (pm.flags & kFlagL4));
  }
  // Checksums of an IP packet as its receiver would check them (offload flags honoured).
  DropReason checksums(rte_mbuf* m, const PacketMeta& pm);
  // What a VM port may not send: tagged frames, router advertisements, redirects, DHCP replies.
  DropReason sourceCheck(const CompiledPolicy& pol, uint16_t in, const PacketMeta& pm, const uint8_t* data);
  static DropReason outsideClaim(const CompiledPolicy& pol, const PacketMeta& pm, const uint8_t* data);
  static uint32_t ndEnd(const PacketMeta& pm);
  bool boundIcmpQuote(rte_mbuf* m, const PacketMeta& pm);
  static bool ndFields(const PacketMeta& pm, const uint8_t* data, const uint8_t** target, uint32_t* opts);
  static DropReason vmGuard(const PacketMeta& pm, const uint8_t* data);
  // Inspected packets: a hop limit raised to kInspectMinTtl, TCP urgent data made inline.
  void normalizeHeaders(rte_mbuf* m, const PacketMeta& pm);
  static constexpr uint8_t kInspectMinTtl = 64;
  static bool makeReset(uint8_t* d, const uint8_t* s, const PacketMeta& pm, size_t payloadLen, bool toSender);
  void sendReset(const PacketMeta& pm, rte_mbuf* m, size_t payloadLen, bool toSender, uint16_t port);
  void removeFlow(int32_t pos);

  uint32_t id_;
  uint16_t queue_;
  rte_ring* alerts_;
  uint32_t port_flows_[kMaxPorts] = {};  // flows each port originated, in this worker's table
  std::atomic<uint32_t> quarantine_requests_{0};
  // Low-priority alerts a port may raise: a token bucket per port (kAlertBurst, kAlertsPerSecond).
  static constexpr uint32_t kAlertBurst = 64, kAlertsPerSecond = 200;
  static constexpr uint32_t kLowKinds = 5;  // AlertRecord kinds below kFlowCut: deny, allow-log, full, spoof MAC / IP
  uint32_t alert_tokens_[kMaxPorts * kLowKinds] = {};
  uint64_t alert_refill_tsc_[kMaxPorts * kLowKinds] = {};
  const WorkerShared* shared_;
  std::unique_ptr<FlowTable> flows_;
  MacTable fdb_;
  uint64_t seen_gen_ = 0;
  uint32_t age_iter_ = 0;
  uint64_t drop_local_[static_cast<int>(DropReason::kCount)] = {};
  uint64_t port_drop_local_[kMaxPorts] = {};
  uint64_t last_learned_[kMaxPorts] = {};      // last source MAC learned per port, and when
  uint64_t last_learned_tsc_[kMaxPorts] = {};
  TxBuffer tx_[kMaxPorts];
  static constexpr uint32_t kFragEntries = 1024, kFragWays = 4;  // entries, and entries per bucket
  static constexpr uint64_t kFragLifeSec = 65;  // longer than receivers keep a datagram's fragments
  FragEntry frags_[kFragEntries] = {};
  uint64_t frag_held_ = 0;  // bytes gathered in all FragGathers (bounded by kFragHoldTotal)
  uint64_t frag_held_port_[kMaxPorts] = {};    // ... of which each port's (bounded by kFragHoldPort)
  uint32_t frag_gathers_port_[kMaxPorts] = {};  // datagrams each port has being gathered
  WorkerStats stats_;
  Mailbox mailbox_;
  std::unique_ptr<Inspector> inspector_;
  std::vector<InspectEvent> inspect_events_;
  std::vector<uint8_t> linear_;  // a chained packet, copied whole for inspection
  rte_mbuf* esp_in_[kBurst];     // ESP to the underlay address, opened after the burst's parse
  uint32_t n_esp_in_ = 0;
  uint64_t next_resolve_tsc_ = 0;
  bool drops_pending_ = false;  // drop_local_ has counts not yet published
  // tunnel.peer_down: wait — packets toward a peer without keys, held per peer until it has them.
  struct Held {
    rte_mbuf* m;
    uint64_t tsc;
  };
  static constexpr uint32_t kHoldPerPeer = 256;
  std::vector<std::vector<Held>> held_;  // per peer (in peer order)
  uint64_t tunnel_alert_tsc_[static_cast<int>(DropReason::kCount)] = {};
  uint32_t tunnel_alert_suppressed_[static_cast<int>(DropReason::kCount)] = {};
};

}  // namespace goldgate::dataplane
