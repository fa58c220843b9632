// Payload inspection on the packet path: the data classes of every allowed TCP and UDP flow, in
// both directions, and the per-class policy by source and destination zone. Internal to dataplane/.
//
// An InspectPlan is built by the control thread and published with the policy (RCU); each worker
// owns an Inspector with the per-flow state, indexed by flow-table position. A flow keeps the
// classifier it started with (shared_ptr), so a reload never tears a stream in two.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "goldgate/dataplane/config.h"
#include "goldgate/dataplane/policy.h"
#include "goldgate/dataplane/tcp_normalizer.h"
#include "goldgate/datapolicy/classes.h"
#include "goldgate/datapolicy/decode.h"
#include "goldgate/datapolicy/engine.h"
#include "goldgate/datapolicy/reassembly.h"

namespace goldgate::dataplane {

class CompiledPolicy;

struct InspectPlan {
  std::shared_ptr<const datapolicy::Classifier> cls;
  std::vector<ZoneConfig> zones;  // zone id = index + 1; 0 = in no zone
  // [class][confidence band][src zone][dst zone] -> datapolicy::Action; a class's tables start at
  // action_base[class], one per band its rules' min_confidence values make (floors, ascending).
  std::vector<uint8_t> action;
  std::vector<std::vector<double>> floors;
  std::vector<size_t> action_base;
  std::vector<uint8_t> gap_fails_closed;  // [src zone][dst zone]: a gap blocks the flow
  std::vector<uint8_t> blocks_any;   // [src zone][dst zone]: some class blocks (block, quarantine, require-encryption)
  std::vector<int64_t> port_limit;   // per port: -1 off, 0 whole flow, N first N bytes a direction
  std::vector<bool> port_is_uplink;  // uplinks and tunnels: the other side's port sets the limit
  std::vector<bool> port_is_tunnel;  // a peer gateway: what crosses it is carried in ESP
  uint32_t hold_bytes = 256 * 1024;
  bool decode = true;  // content decoding (datapolicy/decode.h)
  datapolicy::DecodeLimits decode_limits;
  uint64_t decode_memory_total = 64ull << 20;
  std::vector<UnreadableRule> unreadable;

  uint32_t zoneCount() const { return static_cast<uint32_t>(zones.size()) + 1; }
  /// Zone id of an address (longest prefix), 0 when in none.
  uint8_t zoneOf(uint8_t family, const uint8_t* addr) const;
  const std::string& zoneName(uint8_t z) const;
  /// Whether a flow from port `origPort` to `respPort` is inspected (the VM side's setting).
  bool inspects(uint16_t origPort, uint16_t respPort) const {
    return port_limit[port_is_uplink[origPort] ? respPort : origPort] >= 0;
  }
  /// Whether zone id `z` is what a rule's `from` or `to` names: a zone, `any`, `trusted` (zones
  /// marked trusted) or `untrusted` (the others, and addresses in no zone).
  bool zoneMatches(const std::string& name, uint8_t z) const;
  /// What the `unreadable` rules say for content of category `what` from zone `src` to `dst` (TLS:
  /// toward `serverName`, empty when none was sent). *matched false: no rule applies (the caller's
  /// default: opaque content passes, what could not be decoded is a gap).
  UnreadableRule::Action unreadableAction(Unreadable what, uint8_t src, uint8_t dst, std::string_view serverName,
                                          bool* matched, int* line) const;
  /// The action for a finding of class `cls` at `confidence` from zone `src` to `dst`: the first
  /// rule whose zones match and whose min_confidence the finding reaches, else the class's default.
  datapolicy::Action actionFor(uint32_t cls, double confidence, uint8_t src, uint8_t dst) const {
    const auto& f = floors[cls];
    size_t band = 0;
    while (band < f.size() && confidence >= f[band]) ++band;
    const uint32_t Z = zoneCount();
    return static_cast<datapolicy::Action>(action[action_base[cls] + (band * Z + src) * Z + dst]);
  }

  /// Builds the plan for `classifier` under `sw`'s zones and limits; `pol` gives each port's
  /// segment. Errors: a class rule names a zone that does not exist ("file:line: …").
  static Result<std::shared_ptr<const InspectPlan>> build(const SwitchConfig& sw, const CompiledPolicy& pol,
                                                          std::shared_ptr<const datapolicy::Classifier> classifier);
};

/// What inspection of one packet decided.
/// InspectEvent::action of a gap, an overload or an evasion: the flow was blocked, or passed and reported.
constexpr uint8_t kEventReports = 1, kEventBlocks = 2;

struct InspectEvent {
  // kEvasion: two versions of the same stream bytes (overlapping TCP segments that differ).
  // kOpaque: content that cannot be read (TLS, SSH, encrypted), where a rule reports or blocks it.
  enum Kind : uint8_t { kFinding, kGap, kOverload, kEvasion, kOpaque } kind;
  uint8_t action;  // datapolicy::Action (findings); kEventReports / kEventBlocks (the others)
  uint8_t dir;     // 0 originator -> responder
  uint8_t zone_src, zone_dst;
  uint32_t class_index;
  uint32_t confidence_pct;
  uint64_t count;
  uint64_t offset;
  char masked[48];      // findings; kOpaque over TLS: the JA4-style fingerprint
  char class_name[64];  // findings; kOpaque over TLS: the server name
  // Findings: the decoding path; kGap and kOpaque over decoded content: where, and why.
  char path[96];
  char detail[80];
  uint8_t category;  // kGap, kOpaque: Unreadable + 1 (0: a gap in the TCP stream itself)
  uint8_t reason;    // kGap, kOpaque over decoded content: datapolicy::Unreadable + 1
  uint16_t tls_version;
  char alpn[24];
};

class Inspector {
 public:
  // kDrop: the TCP normaliser refused this one segment (its receiver would discard it); the flow goes on.
  enum Verdict { kPass, kBlock, kGapBlock, kDrop };

  /// `holdTotal`: out-of-order bytes held across every flow of this worker; past it, the direction
  /// that grew the total gives up its holes (an inspection gap) rather than hold more.
  Inspector(uint32_t flowCapacity, uint32_t maxFlows, uint64_t holdTotal);
  ~Inspector();

  /// Inspects one packet of an allowed flow (`pos` its flow-table position, `dir` 0 from the
  /// originator). `payload`/`len` the L4 payload; `tcp` the segment's header fields (null for
  /// other protocols): every segment of a TCP flow comes here, pure ACKs included, so that the
  /// normaliser follows both windows. Appends events. kDrop: `*why` says why the segment is
  /// refused.
  Verdict packet(const std::shared_ptr<const InspectPlan>& plan, int32_t pos, const uint8_t* origAddr,
                 const uint8_t* respAddr, uint8_t family, uint8_t protocol, int dir, uint16_t origPort,
                 uint16_t respPort, const uint8_t* payload, size_t len, const TcpSegment* tcp,
                 std::vector<InspectEvent>& events, DropReason* why);
  /// Whether the flow at `pos` was blocked earlier (its later packets are dropped).
  bool blocked(int32_t pos) const;
  /// Starts loading the inspection state of direction `dir` of the flow at `pos` (a hint).
  void prefetch(int32_t pos, int dir) const;
  /// The data classes found in the flow at `pos` so far, whatever their action: bit i = class
  /// index i of the classifier in force (classes past 63 share bit 63).
  uint64_t classesSeen(int32_t pos) const { return seen_[static_cast<size_t>(pos)]; }
  /// The flow at `pos` is gone: its inspection state goes with it.
  void release(int32_t pos);
  uint32_t active() const { return active_; }
  uint64_t bytesInspected() const { return bytes_; }
  uint64_t heldBytes() const { return held_; }
  /// Decoder state held by this worker's flows now (bounded by the plan's decode_memory_total).
  uint64_t decodeMemory() const { return decode_mem_.used; }
  uint64_t decodeMemoryPeak() const { return decode_mem_.peak; }
  /// The most flows inspected at once.
  uint32_t activePeak() const { return active_peak_; }
  /// Bytes taken out of encodings, compression and documents and scanned, so far.
  uint64_t bytesDecoded() const { return decoded_; }

 private:
  struct Dir;
  struct Ctx;
  struct Decoding;
  Ctx* contextFor(const InspectPlan& plan, int32_t pos, const uint8_t* origAddr, const uint8_t* respAddr,
                  uint8_t family, uint16_t origPort, uint16_t respPort);
  datapolicy::Scanner* scannerFor(const datapolicy::Classifier& c);
  void unhold(const Ctx& c, uint64_t bytes);  // held bytes given back, in all and by its port

  std::vector<Ctx*> ctx_;
  // Per position, kept after the context is freed: what later packets of the flow get.
  enum class FlowMark : uint8_t {
    kInspected,     // inspected (or not yet seen)
    kBlocked,       // a data class blocked it: its packets are dropped
    kGapBlocked,    // what could not be read (overload, overlapping versions) failed closed
    kNotInspected,  // not inspected, by configuration (or an overload that does not fail closed)
  };
  std::vector<FlowMark> blocked_;
  std::vector<uint64_t> seen_;  // per position: classesSeen()
  uint32_t max_flows_;
  uint64_t hold_total_;
  uint64_t held_ = 0;  // out-of-order bytes held by all contexts
  uint32_t active_ = 0;
  uint32_t active_peak_ = 0;
  // One VM port's share (half) of the contexts and of the held bytes, so that one VM cannot
  // deny inspection, and so service, to the others.
  uint32_t max_flows_port_;
  uint64_t hold_port_;
  uint32_t port_active_[kMaxPorts] = {};
  uint64_t port_held_[kMaxPorts] = {};
  uint64_t bytes_ = 0;
  std::unique_ptr<datapolicy::Scanner> scanner_;
  datapolicy::DecodeMemory decode_mem_;
  datapolicy::DecodeMemory decode_port_[kMaxPorts];  // one VM port's half of decode_mem_
  uint64_t decoded_ = 0;                             // decoded bytes scanned
  std::vector<std::shared_ptr<const datapolicy::Classifier>> adopted_;
};

}  // namespace goldgate::dataplane
