// Microsegment policy compiled into immutable tables for the hot path: rte_acl contexts for IPv4
// and IPv6 (segment ids, prefixes, protocol, ports), per-port segment and anti-spoofing bindings,
// static MAC table and L2 reachability masks. Built off the hot path, published by pointer swap,
// freed after an RCU grace period.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "goldgate/common/result.h"
#include "goldgate/dataplane/config.h"

struct rte_acl_ctx;

namespace goldgate::dataplane {

constexpr uint32_t kMaxPorts = 32;
// Segment ids: 0 = unassigned (port closed), 1 = quarantine, 2 = external (behind an uplink),
// 3.. = configured segments. "any" in a configured rule means [2, 65535]: it never reaches a
// quarantined or unassigned VM.
constexpr uint16_t kSegUnassigned = 0;
constexpr uint16_t kSegQuarantine = 1;
constexpr uint16_t kSegExternal = 2;
constexpr uint16_t kSegFirstUser = 3;

/// ACL lookup key for IPv4, all fields in network order (as rte_acl expects its input).
struct AclKey4 {
  uint8_t proto;
  uint8_t pad[3];
  uint16_t src_seg;
  uint16_t dst_seg;
  uint32_t src_ip;
  uint32_t dst_ip;
  uint16_t sport;
  uint16_t dport;
};
static_assert(sizeof(AclKey4) == 20);

/// ACL lookup key for IPv6, all fields in network order.
struct AclKey6 {
  uint8_t proto;
  uint8_t pad[3];
  uint16_t src_seg;
  uint16_t dst_seg;
  uint8_t src_ip[16];
  uint8_t dst_ip[16];
  uint16_t sport;
  uint16_t dport;
};
static_assert(sizeof(AclKey6) == 44);

/// What the operator sees of a rule, and what the hot path needs from it.
struct RuleMeta {
  std::string name;
  SourceLoc loc;
  std::string from, to, protocol, ports;
  Action action = Action::kDeny;
  bool log = false;
  bool quarantine = false;   // a quarantine allowance
  bool uninspected = false;  // admits protocols inspection cannot read (RuleConfig::uninspected)
};

struct FlowKey;
/// Fills the ACL key (k4 for IPv4, k6 for IPv6) of a connection from its flow key seen from the
/// originator's side (`origIsA`), between segments `srcSeg` and `dstSeg`. Pure; any thread.
void aclKeyFromFlow(const FlowKey& k, bool origIsA, uint16_t srcSeg, uint16_t dstSeg, AclKey4* k4, AclKey6* k6);

struct PortBinding {
  std::string name;
  std::string vm;
  PortRole role = PortRole::kVm;
  uint16_t segment = kSegUnassigned;
  bool quarantined = false;
  uint64_t mac = 0;            // bound MAC as 48-bit integer; 0 = unbound
  std::vector<uint32_t> ipv4;  // wire-order bytes packed as in memory
  std::vector<std::array<uint8_t, 16>> ipv6;
  std::vector<Cidr> prefixes;  // kTunnel: the zones behind the peer (inner sources must be inside)
};

struct InspectPlan;

/// Quarantine entries are port names, or "vm:NAME" for VMs on ports configured with
/// `identity: hostmon` (the quarantine follows the VM).
constexpr std::string_view kQuarantineVmPrefix = "vm:";
inline std::string quarantineKeyOfVm(const std::string& vm) { return std::string(kQuarantineVmPrefix) + vm; }

class CompiledPolicy {
 public:
  /// Compiles `segs` for the ports of `sw`. Ports named in `quarantined` are put into the
  /// quarantine segment. `workers` sizes the per-worker hit counters. Control thread only
  /// (needs DPDK's EAL for rte_acl). Errors: resource failures of rte_acl.
  static Result<std::unique_ptr<CompiledPolicy>> compile(const SwitchConfig& sw, const SegmentsConfig& segs,
                                                         const std::set<std::string>& quarantined, uint64_t generation,
                                                         uint32_t workers);
  ~CompiledPolicy();
  CompiledPolicy(const CompiledPolicy&) = delete;
  CompiledPolicy& operator=(const CompiledPolicy&) = delete;

  uint64_t generation() const { return generation_; }
  /// Payload inspection in force with this policy (null: inspection off).
  const std::shared_ptr<const InspectPlan>& inspectPlan() const { return inspect_; }
  void setInspectPlan(std::shared_ptr<const InspectPlan> p) { inspect_ = std::move(p); }
  uint32_t portCount() const { return static_cast<uint32_t>(ports_.size()); }
  const PortBinding& port(uint16_t id) const { return ports_[id]; }
  uint16_t portSegment(uint16_t id) const { return seg_of_port_[id]; }
  bool isUplink(uint16_t id) const { return (uplink_mask_ >> id) & 1u; }
  uint32_t uplinkMask() const { return uplink_mask_; }
  /// Ports a packet from `id` may be flooded to (ARP/ND, broadcast), never `id` itself.
  uint32_t floodMask(uint16_t id) const { return flood_mask_[id]; }
  /// The VM port bound to `mac` (48-bit integer), or -1.
  int staticPortForMac(uint64_t mac) const {
    for (uint32_t i = 0; i < static_macs_n_; ++i)
      if (static_macs_[i] == mac) return static_mac_port_[i];
    return -1;
  }
  /// True when `ip` (4 or 16 wire bytes) is one of the port's bound addresses; for a tunnel port,
  /// when it lies in a zone behind the peer and is no local VM's. A VM port that binds no address
  /// has none: it may send only address-acquisition traffic (`acquisition`: ARP, ND, DHCP and
  /// DHCPv6 client) from the unspecified address (0.0.0.0, ::) or, in IPv6, a link-local one.
  bool sourceIpAllowed(uint16_t id, uint8_t family, const uint8_t* ip, bool acquisition = false) const;
  /// True when `ip` is bound to a VM port of this switch (its addresses and their link-local
  /// addresses): such a source never comes from the uplink or a tunnel peer.
  bool boundToVm(uint8_t family, const uint8_t* ip) const;

  /// Tunnels: ports after the physical ones are peers (tunnel.peers, in order).
  uint32_t physicalPorts() const { return physical_ports_; }
  bool isTunnel(uint16_t id) const { return id >= physical_ports_ && id < ports_.size(); }
  /// The gateway MAC VMs send to for zones behind peers (48-bit integer; 0 = no tunnels).
  uint64_t routerMac() const { return router_mac_; }
  /// The tunnel port whose zones hold `ip` (longest prefix), or -1.
  int tunnelPortFor(uint8_t family, const uint8_t* ip) const;
  /// The VM port bound to `ip`, or -1 (for packets out of a tunnel, which carry no Ethernet header).
  int portForIp(uint8_t family, const uint8_t* ip) const;

  /// Classifies `n` keys; results[i] = rule id (1-based), 0 = no rule (default deny). Hot path.
  void classify4(const uint8_t** keys, uint32_t* results, uint32_t n) const;
  void classify6(const uint8_t** keys, uint32_t* results, uint32_t n) const;

  /// Rule metadata; id 0 is the default rule.
  const RuleMeta& rule(uint32_t id) const { return rules_[id]; }
  uint32_t ruleCount() const { return static_cast<uint32_t>(rules_.size()); }
  bool ruleAllows(uint32_t id) const { return allow_[id]; }
  bool ruleLogs(uint32_t id) const { return log_[id]; }
  bool ruleUninspected(uint32_t id) const { return uninspected_[id]; }
  const std::string& segmentName(uint16_t seg) const;

  /// Per-worker hit counter of rule `id` (single writer: that worker).
  void countHit(uint32_t worker, uint32_t id) const {
    auto& c = hits_[worker * hit_stride_ + id];
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  /// Sum of hits over workers, plus what the same rule counted under earlier policy versions.
  /// Any thread.
  uint64_t hits(uint32_t id) const;
  /// Carries hit counts over from `old` for rules with the same name and place (file:line),
  /// so a reload or quarantine does not reset `goldgatectl rules --hits`. Control thread, before
  /// publishing; hits counted on `old` after this call are not carried.
  void inheritHits(const CompiledPolicy& old);

 private:
  CompiledPolicy() = default;

  uint64_t generation_ = 0;
  std::shared_ptr<const InspectPlan> inspect_;
  std::vector<PortBinding> ports_;
  std::vector<uint32_t> vm_ipv4_;  // every VM port's bound addresses, sorted
  std::vector<std::array<uint8_t, 16>> vm_ipv6_;
  uint32_t physical_ports_ = 0;
  uint64_t router_mac_ = 0;
  uint16_t seg_of_port_[kMaxPorts] = {};
  uint32_t flood_mask_[kMaxPorts] = {};
  uint32_t uplink_mask_ = 0;
  uint64_t static_macs_[kMaxPorts] = {};
  uint16_t static_mac_port_[kMaxPorts] = {};
  uint32_t static_macs_n_ = 0;
  std::vector<std::string> segment_names_;
  std::vector<RuleMeta> rules_;
  std::vector<uint8_t> allow_;
  std::vector<uint8_t> log_;
  std::vector<uint8_t> uninspected_;
  rte_acl_ctx* acl4_ = nullptr;
  rte_acl_ctx* acl6_ = nullptr;
  uint32_t hit_stride_ = 0;
  uint32_t workers_ = 0;
  std::unique_ptr<std::atomic<uint64_t>[]> hits_;
  std::vector<uint64_t> base_hits_;  // inherited from earlier versions
};

}  // namespace goldgate::dataplane
