// The forwarding worker: run-to-completion packet path on one lcore. Internal to dataplane/.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "frag_table.h"
#include "goldgate/dataplane/conntrack.h"
#include "goldgate/dataplane/packet.h"
#include "goldgate/dataplane/policy.h"
#include "inspect.h"
#include "mac_table.h"
#include "trace.h"
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
  std::atomic<uint64_t> busy_cycles{0};          // TSC cycles of loop iterations that received packets
  std::atomic<uint64_t> packets{0};              // packets received and processed
  std::atomic<uint64_t> new_flow_cycles{0};      // TSC cycles spent classifying and creating flows
  std::atomic<uint64_t> alerts_dropped{0};       // alert records lost because the alert ring was full
  std::atomic<uint64_t> alerts_rate_limited{0};  // low-priority alerts over a port's share, not raised
  std::atomic<uint64_t> icmp_quotes_cut{0};      // ICMP errors cut to the quoted header + 8 bytes (inspection)
  std::atomic<uint64_t> idle_streak{0};          // consecutive loop iterations without a packet
  std::atomic<uint64_t> mac_learned{0};
  // Inspection (gauges and totals, published once per loop iteration).
  std::atomic<uint64_t> inspect_flows{0}, inspect_flows_peak{0};
  std::atomic<uint64_t> inspect_bytes{0}, inspect_decoded_bytes{0};
  std::atomic<uint64_t> decode_memory{0}, decode_memory_peak{0};
  // Drops by the port they entered on and their reason (goldgate_switch_port_drops_total); the
  // per-reason totals above are their sums over ports.
  std::atomic<uint64_t> port_drops[kMaxPorts][static_cast<int>(DropReason::kCount)]{};
  // Data-class findings by class index (the classifier's order) and datapolicy::Action.
  static constexpr uint32_t kFindingClasses = 64, kFindingActions = 5;
  std::atomic<uint64_t> findings[kFindingClasses][kFindingActions]{};
};

/// An alert raised on the packet path, carried to the control thread over a ring.
struct AlertRecord {
  enum Kind : uint8_t {
    kDeny,
    kAllowLog,
    kFlowTableFull,
    kSpoofMac,
    kSpoofIp,
    kFlowCut,
    kDataFinding,
    kInspectionGap,
    kInspectionOverload,
    kTunnelDrop /* ESP refused on the underlay: rule = DropReason */,
    kInspectionEvasion /* overlapping TCP segments with different bytes: the flow is blocked */,
    kInspectionOpaque /* content that cannot be read, reported or blocked by an unreadable rule */
  };
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
  uint8_t action;    // datapolicy::Action
  uint8_t zone_src;  // zone ids of the plan in force (0: none)
  uint8_t zone_dst;
  uint8_t confidence_pct;
  uint32_t count;
  uint64_t offset;
  char masked[48];      // kInspectionOpaque over TLS: the JA4-style fingerprint
  char class_name[64];  // kInspectionOpaque over TLS: the server name
  // Findings: the decoding path; gaps and opaque content: where and why (InspectEvent).
  char path[96];
  char detail[80];
  uint8_t category;
  uint8_t reason;
  uint16_t tls_version;
  char alpn[24];
};
static_assert(sizeof(AlertRecord) % 4 == 0);
static_assert(AlertRecord::kDeny == 0 && AlertRecord::kSpoofIp == 4,
              "the rate-limited kinds come first (Worker::kLowKinds)");

/// One flow as copied out for `goldgatectl flows`.
struct FlowSnapshot {
  FlowKey key;
  Flow flow;
  uint64_t classes;  // data classes seen in it (Inspector::classesSeen)
};

/// Filter applied by the worker while copying flows out.
struct FlowQuery {
  int port = -1;         // originator's port, -1 = any
  uint8_t protocol = 0;  // 0 = any
  uint8_t family = 0;    // with ip
  uint8_t ip[16] = {};   // either endpoint
  uint32_t limit = 1000;
};

/// Requests from the control thread, served by the worker between bursts.
struct Mailbox {
  // kDumpFlows: copy matching flows to `out`; kFlushPort: remove every flow with an end on
  // query.port (a VM left the port). Both report the flows they matched in `matched`.
  // kTraceArm: record the next `trace_count` packets that match `trace_filter` (replacing any
  // capture); kTraceCollect: move what was recorded to `trace_out` (matched: packets still to
  // record); kTraceDisarm: stop recording. kProbe: the flow of `probe_key` and where `probe_mac`
  // was learned, for a described packet (goldgatectl trace).
  enum class Cmd : uint8_t { kDumpFlows, kFlushPort, kTraceArm, kTraceCollect, kTraceDisarm, kProbe };
  // kIdle -> kRequested (control thread) -> kServing (worker) -> kDone (worker) -> kIdle (control);
  // a request not yet picked up may be withdrawn (kRequested -> kIdle).
  enum class State : int { kIdle, kRequested, kServing, kDone };
  std::atomic<State> state{State::kIdle};
  Cmd cmd = Cmd::kDumpFlows;
  FlowQuery query;
  std::vector<FlowSnapshot>* out = nullptr;  // reserved by the requester: the worker never allocates
  uint64_t matched = 0;
  TraceFilter trace_filter;
  uint32_t trace_count = 0;
  std::vector<TraceRecord>* trace_out = nullptr;  // reserved by the requester
  FlowKey probe_key{};
  uint64_t probe_mac = 0;
  int32_t probe_pos = -1;  // >= 0: the flow was found (probe_flow is a copy)
  Flow probe_flow{};
  int probe_fdb = -1;  // the port probe_mac was learned on (-1: none)
};

struct WorkerShared {
  std::atomic<const CompiledPolicy*>* policy = nullptr;
  rte_rcu_qsbr* qsbr = nullptr;
  std::atomic<bool>* stop = nullptr;
  std::vector<uint16_t> ports;  // DPDK port ids in switch port order
  TimeoutTicks timeouts{};
  uint64_t tsc_hz = 0;
  uint64_t max_packets = 0;                   // per worker; 0 = unlimited
  bool secure = true;                         // false: L2 baseline mode (no microsegments, no conntrack)
  rte_mempool* pool = nullptr;                // for the TCP resets the data policy sends
  uint32_t inspect_max_flows = 0;             // inspected flows per worker (0: the flow table's size)
  uint32_t port_flow_limit = UINT32_MAX;      // flows one VM port may originate in one worker
  uint64_t inspect_hold_total = 64ull << 20;  // out-of-order bytes a worker holds in all
  Tunnel* tunnel = nullptr;                   // ESP tunnels to peer gateways (null: none configured)
};

/// One burst of packets from one port, and what the passes learn about each packet: per-worker
/// scratch, so no pass takes an argument list and nothing is allocated per burst.
struct Burst {
  uint16_t in = 0;         // the switch port the packets came in on
  uint32_t n = 0;          // packets received
  uint64_t now = 0;        // TSC at the start of the loop iteration
  rte_mbuf* pkts[kBurst];  // null once a pass has dropped, sent or taken the packet
  PacketMeta meta[kBurst];
  int16_t out[kBurst];  // output port decided for each packet (-1: none yet)
  // Packets that go through connection tracking, in arrival order (j indexes these).
  uint32_t nkeys = 0;
  FlowKey keys[kBurst];
  const void* key_ptrs[kBurst];
  uint8_t key_idx[kBurst];  // burst index of each flow key
  uint8_t src_is_a[kBurst];
  int32_t pos[kBurst];    // flow table position found (-1: none)
  uint32_t related = 0;   // bit j: key j is the connection an ICMP error quotes
  uint32_t miss[kBurst];  // keys of new connections (pass 3)
  uint32_t nmiss = 0;
  uint8_t later[kBurst];  // burst indexes of non-first IP fragments (pass 5)
  uint32_t nlater = 0;
  bool tracing = false;  // a capture is armed on this burst's port (goldgatectl trace)
  void reset(uint16_t port, uint32_t count, uint64_t tsc) {
    in = port, n = count, now = tsc, nkeys = 0, related = 0, nmiss = 0, nlater = 0;
  }
};

/// State of the tunnel path (worker_tunnel.cc), owned by one worker.
struct TunnelPath {
  rte_mbuf* esp_in[kBurst];  // ESP to the underlay address, opened after the burst's passes
  uint32_t n_esp_in = 0;
  rte_mbuf* opened[kBurst];  // ... opened, each with its peer's port
  uint16_t opened_port[kBurst];
  uint32_t n_opened = 0;
  uint32_t next_opened = 0;  // the first not yet switched
  uint64_t next_resolve_tsc = 0;
  // tunnel.peer_down: wait — packets toward a peer without keys, held per peer until it has them.
  struct Held {
    rte_mbuf* m;
    uint64_t tsc;
  };
  static constexpr uint32_t kHoldPerPeer = 256;
  std::vector<std::vector<Held>> held;  // per peer, by the peer's index in the tunnel
  uint64_t alert_tsc[static_cast<int>(DropReason::kCount)] = {};
  uint32_t alert_suppressed[static_cast<int>(DropReason::kCount)] = {};
};

/// The forwarding worker. A burst goes through named passes, in the order they run:
///   1. parseAndSwitchL2  parse, checksums, guards, anti-spoofing, ARP / ND, the L2 baseline;
///                        collects the flow keys of IP packets (and ESP for the tunnel path)
///   2. lookupFlows       tracked connections: one bulk lookup, then each packet accounted and
///                        inspected (accountAndInspect)
///   3. admitNewFlows     new connections: one ACL call per family, flow entries created
///   4. forward           into the per-port transmit buffers, in arrival order; first fragments
///                        record their verdict for the later ones
///   5. followFragments   later fragments follow their first fragment's verdict
/// ESP opened from peers is fed back as a second burst (decap_) per peer, not by recursion.
class Worker {
 public:
  /// `alerts`: this worker's alert ring (it is the only producer; the control thread drains it).
  Worker(uint32_t id, uint16_t queue, const WorkerShared* shared, std::unique_ptr<FlowTable> flows, rte_ring* alerts);
  /// The forwarding loop; returns when *shared->stop is set. Runs on its lcore.
  void run();
  /// One iteration of the loop (every port polled once, transmit buffers flushed, housekeeping);
  /// returns the packets received. For tests that drive a worker step by step on their own thread
  /// (registered with the RCU variable as run() does: see attach / detach).
  uint32_t poll();
  void attach();
  void detach();
  WorkerStats& stats() { return stats_; }
  Mailbox& mailbox() { return mailbox_; }
  const FlowTable& flows() const { return *flows_; }
  uint32_t id() const { return id_; }
  /// The VM ports this worker's data policy asked to quarantine since the last call (bit = port).
  /// Control thread. A request is a bit that stays set until taken: it cannot be lost.
  uint32_t takeQuarantineRequests() { return quarantine_requests_.exchange(0, std::memory_order_acq_rel); }
  /// The most packets one capture records in one worker (goldgatectl trace).
  static constexpr uint32_t kTraceMax = 64;

  // The checks of pass 1 that need nothing of a worker's state (worker_guard.cc): the worker runs
  // them per packet, and goldgatectl trace runs them for a described packet. Any thread.
  // What a VM port (or a tunnel peer) may send as its source: bound addresses, ND that is its own.
  static DropReason sourceCheck(const CompiledPolicy& pol, uint16_t in, const PacketMeta& pm, const uint8_t* data);
  // From the uplink: ARP or ND that claims a VM's address.
  static DropReason outsideClaim(const CompiledPolicy& pol, const PacketMeta& pm, const uint8_t* data);
  // What a VM port may not send: tagged frames, router advertisements, redirects, DHCP replies.
  static DropReason vmGuard(const PacketMeta& pm, const uint8_t* data);
  // Payload the inspector reads: TCP streams, UDP datagrams, ICMP / ICMPv6 echo (and timestamp) messages.
  static bool readable(const PacketMeta& pm) {
    return pm.protocol == 6 || pm.protocol == 17 || ((pm.protocol == 1 || pm.protocol == 58) && (pm.flags & kFlagL4));
  }

 private:
  struct TxBuffer {
    uint16_t n = 0;
    rte_mbuf* pkts[2 * kBurst];
  };

  template <bool kSecure>
  uint32_t iterate();
  // The passes (worker.cc), in the order they run.
  template <bool kSecure>
  void processBurst(const CompiledPolicy& pol, Burst& b);
  template <bool kSecure>
  void parseAndSwitchL2(const CompiledPolicy& pol, Burst& b);  // pass 1
  void lookupFlows(const CompiledPolicy& pol, Burst& b);       // pass 2
  void admitNewFlows(const CompiledPolicy& pol, Burst& b);     // pass 3
  void forward(Burst& b);                                      // pass 4
  void followFragments(const CompiledPolicy& pol, Burst& b);   // pass 5
  // A packet of flow `f` (position `pos`) that passed the policy: inspected, then counted in its
  // connection. False when it does not go on as it came: dropped (pkts[i] null), or rewritten into
  // a reset toward its receiver (out[i] set).
  bool accountAndInspect(const CompiledPolicy& pol, Burst& b, uint32_t i, int32_t pos, Flow& f, const FlowKey& k,
                         int dir);

  // goldgatectl trace: a capture records the decisions taken for the packets it takes (bit i of
  // trace_cur_: packet i of the burst being processed). Nothing is recorded and nothing is paid
  // but one test of trace_cur_ per decision when no capture is armed on the burst's port.
  void traceBegin(Burst& b, uint32_t i, const PacketMeta* pm, uint32_t len);
  void traceStep(uint32_t i, TraceKind k, uint8_t a = 0, uint16_t port = 0, uint32_t value = 0, uint64_t aux = 0) {
    if (__builtin_expect(trace_cur_ != 0, 0) && ((trace_cur_ >> i) & 1)) trace_live_[i].add(k, a, port, value, aux);
  }
  void traceMbuf(const rte_mbuf* m, TraceKind k, uint16_t port, uint32_t value);  // drop / send of a traced packet
  void traceFinish(const Burst& b);
  void serveTrace(Mailbox& mb);  // the mailbox's trace and probe requests

  // Output.
  void send(uint16_t port, rte_mbuf* m);
  void flood(uint32_t mask, rte_mbuf* m);
  void flushTx();
  void drop(rte_mbuf* m, DropReason r, uint16_t in);
  // A packet that entered on `in` counted as dropped for `r` (drop() frees it too).
  void countDrop(DropReason r, uint16_t in) {
    ++drop_local_[static_cast<int>(r)];
    ++port_drop_local_[in];
    ++port_reason_local_[in][static_cast<int>(r)];
    drops_pending_ = true;
  }
  void publishDrops(uint32_t received);
  void publishInspection();  // the inspector's gauges into stats_
  // Connection tracking housekeeping.
  bool revalidate(const CompiledPolicy& pol, Flow& f, const FlowKey& k);
  void age(const CompiledPolicy& pol, uint64_t now, uint32_t budget);
  void removeFlow(int32_t pos);
  void serveMailbox();
  int outPortFor(const CompiledPolicy& pol, const uint8_t* dstMac, uint16_t in, uint64_t now, uint8_t family = 0,
                 const uint8_t* dstIp = nullptr);
  // Alerts.
  void alert(AlertRecord::Kind kind, const PacketMeta& m, uint16_t in, uint32_t rule, uint64_t gen);
  void enqueueAlert(const AlertRecord& a);
  void alertFlow(AlertRecord::Kind kind, const FlowKey& k, const Flow& f, uint64_t gen);
  // What a port may send (worker_guard.cc).
  // Checksums of an IP packet as its receiver would check them (offload flags honoured).
  DropReason checksums(rte_mbuf* m, const PacketMeta& pm);
  // What a VM port may not send: tagged frames, router advertisements, redirects, DHCP replies.
  static uint32_t ndEnd(const PacketMeta& pm);
  static bool ndFields(const PacketMeta& pm, const uint8_t* data, const uint8_t** target, uint32_t* opts);
  // Tunnels (worker_tunnel.cc).
  bool underlayInput(rte_mbuf* m, const PacketMeta& pm, uint64_t now);  // true: taken (ARP/ND/ESP to us)
  // Opens the ESP underlayInput collected; what opens is kept with its peer's port.
  void openEsp(const CompiledPolicy& pol, uint64_t now);
  // The next run of opened packets from one peer, as a burst from the peer's port; false: none left.
  bool nextOpened(Burst& b, uint64_t now);
  bool answerForRouter(const CompiledPolicy& pol, rte_mbuf* m, const PacketMeta& pm, uint16_t in);
  void sealPending(uint32_t index);  // seals what waits for peer `index` (its port's buffer, its hold) onto the uplink
  void sealOne(TunnelPeer& peer, rte_mbuf* m, uint16_t port);
  void sendTooBig(rte_mbuf* m, uint32_t mtu);
  void resolveNextHops(uint64_t now);
  void tunnelAlert(DropReason why, const uint8_t* outer, uint8_t family, uint64_t now);
  void learnNeighbor(uint8_t family, const uint8_t* ip, const uint8_t* mac, uint64_t now);
  // Fragments of inspected connections (worker_frag.cc).
  bool addFragment(FragGather& g, const PacketMeta& pm, rte_mbuf* m, uint64_t now);  // false: refused (g is bad)
  int gatherFirst(const Flow& f, const FlowKey& k, int dir, const PacketMeta& pm, rte_mbuf* m, uint16_t in,
                  uint64_t now);
  int gatherLater(const CompiledPolicy& pol, FragEntry& fe, const PacketMeta& pm, rte_mbuf* m, uint16_t in,
                  uint64_t now);
  // Payload inspection (worker_inspect.cc) of a packet of an allowed flow: it passes, was dropped,
  // or was rewritten into a RST toward its receiver (the data policy blocked the flow; the sender
  // is reset too).
  enum InspectResult { kInspectPass, kInspectDropped, kInspectReset };
  int inspect(const CompiledPolicy& pol, int32_t pos, const Flow& f, const FlowKey& k, int dir, const PacketMeta& pm,
              rte_mbuf* m, uint16_t in, uint64_t now);
  // The payload of one packet (or gathered datagram) through the inspector; its events alerted.
  Inspector::Verdict inspectPayload(const CompiledPolicy& pol, int32_t pos, const Flow& f, const FlowKey& k, int dir,
                                    const PacketMeta& pm, const uint8_t* l4, size_t l4len, uint16_t in, size_t* plen,
                                    DropReason* why);
  bool boundIcmpQuote(rte_mbuf* m, const PacketMeta& pm);
  // Inspected packets: a hop limit raised to kInspectMinTtl, TCP urgent data made inline.
  void normalizeHeaders(rte_mbuf* m, const PacketMeta& pm);
  static constexpr uint8_t kInspectMinTtl = 64;
  static bool makeReset(uint8_t* d, const uint8_t* s, const PacketMeta& pm, size_t payloadLen, bool toSender);
  void sendReset(const PacketMeta& pm, rte_mbuf* m, size_t payloadLen, bool toSender, uint16_t port);

  uint32_t id_;
  uint16_t queue_;
  rte_ring* alerts_;
  const WorkerShared* shared_;
  std::unique_ptr<FlowTable> flows_;
  uint32_t port_flows_[kMaxPorts] = {};  // flows each port originated, in this worker's table
  std::atomic<uint32_t> quarantine_requests_{0};
  // Low-priority alerts a port may raise: a token bucket per port (kAlertBurst, kAlertsPerSecond).
  static constexpr uint32_t kAlertBurst = 64, kAlertsPerSecond = 200;
  static constexpr uint32_t kLowKinds = 5;  // AlertRecord kinds below kFlowCut: deny, allow-log, full, spoof MAC / IP
  uint32_t alert_tokens_[kMaxPorts * kLowKinds] = {};
  uint64_t alert_refill_tsc_[kMaxPorts * kLowKinds] = {};
  MacTable fdb_;
  uint64_t last_learned_[kMaxPorts] = {};  // last source MAC learned per port, and when
  uint64_t last_learned_tsc_[kMaxPorts] = {};
  // The loop's own state.
  uint32_t iteration_ = 0;
  uint64_t idle_ = 0;
  uint64_t received_ = 0;
  uint32_t age_iter_ = 0;
  Burst burst_;  // what a port's receive gave
  Burst decap_;  // what the tunnel path opened from one peer
  uint64_t drop_local_[static_cast<int>(DropReason::kCount)] = {};
  uint64_t port_drop_local_[kMaxPorts] = {};
  uint32_t port_reason_local_[kMaxPorts][static_cast<int>(DropReason::kCount)] = {};
  bool drops_pending_ = false;  // drop_local_ has counts not yet published
  TxBuffer tx_[kMaxPorts];
  FragTable frags_;
  TunnelPath tunnel_;
  WorkerStats stats_;
  Mailbox mailbox_;
  std::unique_ptr<Inspector> inspector_;
  std::vector<InspectEvent> inspect_events_;
  std::vector<uint8_t> linear_;  // a chained packet, copied whole for inspection
  // goldgatectl trace (worker_trace.cc).
  TraceFilter trace_filter_;
  uint32_t trace_left_ = 0;             // packets still to record (0: no capture armed)
  std::vector<TraceRecord> trace_out_;  // recorded, not yet collected (capacity kTraceMax)
  uint32_t trace_cur_ = 0;              // the burst being processed: its traced packets
  const rte_mbuf* trace_mbuf_[kBurst] = {};
  TraceRecord trace_live_[kBurst];
};

}  // namespace goldgate::dataplane
