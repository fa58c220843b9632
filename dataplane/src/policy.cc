#include "goldgate/dataplane/policy.h"

#include <rte_acl.h>
#include <rte_byteorder.h>
#include <rte_common.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

#include "goldgate/dataplane/conntrack.h"

namespace goldgate::dataplane {
namespace {

constexpr uint16_t kSegAnyLo = kSegExternal;  // "any" never includes quarantine or unassigned
constexpr uint16_t kSegAnyHi = 0xffff;

RTE_ACL_RULE_DEF(Acl4Rule, 7);
RTE_ACL_RULE_DEF(Acl6Rule, 13);

enum Field4 { kF4Proto, kF4SrcSeg, kF4DstSeg, kF4Src, kF4Dst, kF4Sport, kF4Dport, kF4Count };

rte_acl_config acl4Config() {
  rte_acl_config cfg{};
  cfg.num_categories = 1;
  cfg.num_fields = kF4Count;
  auto def = [&](int i, uint8_t type, uint8_t size, uint8_t input, uint32_t off) {
    cfg.defs[i] = rte_acl_field_def{type, size, static_cast<uint8_t>(i), input, off};
  };
  def(kF4Proto, RTE_ACL_FIELD_TYPE_BITMASK, 1, 0, offsetof(AclKey4, proto));
  def(kF4SrcSeg, RTE_ACL_FIELD_TYPE_RANGE, 2, 1, offsetof(AclKey4, src_seg));
  def(kF4DstSeg, RTE_ACL_FIELD_TYPE_RANGE, 2, 1, offsetof(AclKey4, dst_seg));
  def(kF4Src, RTE_ACL_FIELD_TYPE_MASK, 4, 2, offsetof(AclKey4, src_ip));
  def(kF4Dst, RTE_ACL_FIELD_TYPE_MASK, 4, 3, offsetof(AclKey4, dst_ip));
  def(kF4Sport, RTE_ACL_FIELD_TYPE_RANGE, 2, 4, offsetof(AclKey4, sport));
  def(kF4Dport, RTE_ACL_FIELD_TYPE_RANGE, 2, 4, offsetof(AclKey4, dport));
  return cfg;
}

// IPv6: proto, two segment ids, 4 x 32-bit words per address, ports.
rte_acl_config acl6Config() {
  rte_acl_config cfg{};
  cfg.num_categories = 1;
  cfg.num_fields = 13;
  auto def = [&](int i, uint8_t type, uint8_t size, uint8_t input, uint32_t off) {
    cfg.defs[i] = rte_acl_field_def{type, size, static_cast<uint8_t>(i), input, off};
  };
  def(0, RTE_ACL_FIELD_TYPE_BITMASK, 1, 0, offsetof(AclKey6, proto));
  def(1, RTE_ACL_FIELD_TYPE_RANGE, 2, 1, offsetof(AclKey6, src_seg));
  def(2, RTE_ACL_FIELD_TYPE_RANGE, 2, 1, offsetof(AclKey6, dst_seg));
  for (int w = 0; w < 4; ++w) def(3 + w, RTE_ACL_FIELD_TYPE_MASK, 4, 2 + w, offsetof(AclKey6, src_ip) + 4 * w);
  for (int w = 0; w < 4; ++w) def(7 + w, RTE_ACL_FIELD_TYPE_MASK, 4, 6 + w, offsetof(AclKey6, dst_ip) + 4 * w);
  def(11, RTE_ACL_FIELD_TYPE_RANGE, 2, 10, offsetof(AclKey6, sport));
  def(12, RTE_ACL_FIELD_TYPE_RANGE, 2, 10, offsetof(AclKey6, dport));
  return cfg;
}

struct SegRange {
  uint16_t lo, hi;
};

// One side of a rule as ACL fields: a segment range and an optional prefix.
struct Side {
  SegRange seg{kSegAnyLo, kSegAnyHi};
  const Cidr* cidr = nullptr;
};

bool labelsMatch(const std::map<std::string, std::string>& want, const std::map<std::string, std::string>& have) {
  if (want.empty()) return false;
  for (const auto& [k, v] : want) {
    auto it = have.find(k);
    if (it == have.end() || it->second != v) return false;
  }
  return true;
}

std::string portsText(const std::vector<PortRange>& ports) {
  if (ports.empty()) return "any";
  std::string s;
  for (const auto& r : ports) {
    if (!s.empty()) s += ",";
    s += r.lo == r.hi ? std::to_string(r.lo) : std::to_string(r.lo) + "-" + std::to_string(r.hi);
  }
  return s;
}

class AclBuilder {
 public:
  AclBuilder(uint64_t gen) : gen_(gen) {}
  ~AclBuilder() {
    if (ctx4_) rte_acl_free(ctx4_);
    if (ctx6_) rte_acl_free(ctx6_);
  }

  // Adds one configured rule (id is 1-based), expanded over its port ranges and families.
  Result<void> add(uint32_t id, const RuleConfig& r, Side from, Side to) {
    bool v4 = true, v6 = true;
    for (const Cidr* c : {from.cidr, to.cidr}) {
      if (!c) continue;
      if (c->addr.family == 4) v6 = false;
      else v4 = false;
    }
    std::vector<PortRange> ports = r.ports.empty() ? std::vector<PortRange>{PortRange{}} : r.ports;
    int32_t prio = static_cast<int32_t>(RTE_ACL_MAX_PRIORITY - id);
    for (const auto& pr : ports) {
      if (v4) {
        Acl4Rule a{};
        a.data = {1, prio, id};
        a.field[kF4Proto].value.u8 = r.protocol;
        a.field[kF4Proto].mask_range.u8 = r.protocol ? 0xff : 0;
        a.field[kF4SrcSeg].value.u16 = from.seg.lo;
        a.field[kF4SrcSeg].mask_range.u16 = from.seg.hi;
        a.field[kF4DstSeg].value.u16 = to.seg.lo;
        a.field[kF4DstSeg].mask_range.u16 = to.seg.hi;
        setV4(a.field[kF4Src], from.cidr);
        setV4(a.field[kF4Dst], to.cidr);
        a.field[kF4Sport].value.u16 = 0;
        a.field[kF4Sport].mask_range.u16 = 0xffff;
        a.field[kF4Dport].value.u16 = pr.lo;
        a.field[kF4Dport].mask_range.u16 = pr.hi;
        rules4_.push_back(a);
      }
      if (v6) {
        Acl6Rule a{};
        a.data = {1, prio, id};
        a.field[0].value.u8 = r.protocol;
        a.field[0].mask_range.u8 = r.protocol ? 0xff : 0;
        a.field[1].value.u16 = from.seg.lo;
        a.field[1].mask_range.u16 = from.seg.hi;
        a.field[2].value.u16 = to.seg.lo;
        a.field[2].mask_range.u16 = to.seg.hi;
        setV6(&a.field[3], from.cidr);
        setV6(&a.field[7], to.cidr);
        a.field[11].value.u16 = 0;
        a.field[11].mask_range.u16 = 0xffff;
        a.field[12].value.u16 = pr.lo;
        a.field[12].mask_range.u16 = pr.hi;
        rules6_.push_back(a);
      }
    }
    return {};
  }

  Result<void> build() {
    if (auto r = buildOne(4, rules4_.data(), rules4_.size(), sizeof(Acl4Rule), acl4Config(), &ctx4_); !r) return r;
    return buildOne(6, rules6_.data(), rules6_.size(), sizeof(Acl6Rule), acl6Config(), &ctx6_);
  }

  rte_acl_ctx* take4() { return std::exchange(ctx4_, nullptr); }
  rte_acl_ctx* take6() { return std::exchange(ctx6_, nullptr); }

 private:
  static void setV4(rte_acl_field& f, const Cidr* c) {
    if (!c) {
      f.value.u32 = 0;
      f.mask_range.u32 = 0;
      return;
    }
    uint32_t a;
    std::memcpy(&a, c->addr.bytes.data(), 4);
    f.value.u32 = ntohl(a);
    f.mask_range.u32 = c->length;
  }
  static void setV6(rte_acl_field* f, const Cidr* c) {
    for (int w = 0; w < 4; ++w) {
      if (!c) {
        f[w].value.u32 = 0;
        f[w].mask_range.u32 = 0;
        continue;
      }
      uint32_t a;
      std::memcpy(&a, c->addr.bytes.data() + 4 * w, 4);
      int bits = static_cast<int>(c->length) - 32 * w;
      f[w].value.u32 = ntohl(a);
      f[w].mask_range.u32 = static_cast<uint32_t>(bits <= 0 ? 0 : bits >= 32 ? 32 : bits);
    }
  }

  Result<void> buildOne(int fam, const void* rules, size_t n, size_t ruleSize, const rte_acl_config& cfg,
                        rte_acl_ctx** out) {
    if (n == 0) return {};  // no rules for this family: every lookup is a miss (default deny)
    // rte_acl_create returns the existing context when the name is taken, and on failure this
    // builder frees what it got: a name shared with a live policy would corrupt that policy.
    // A process-wide sequence number keeps every context name unique, whatever the generation.
    static std::atomic<uint64_t> seq{0};
    std::string name = "gg" + std::to_string(fam) + "_" + std::to_string(gen_) + "_" + std::to_string(seq++);
    rte_acl_param p{};
    p.name = name.c_str();
    p.socket_id = SOCKET_ID_ANY;
    p.rule_size = static_cast<uint32_t>(ruleSize);
    p.max_rule_num = static_cast<uint32_t>(n);
    rte_acl_ctx* ctx = rte_acl_create(&p);
    if (!ctx)
      return makeError(Error::Code::kResource, "rte_acl_create failed for " + name + ": " + rte_strerror(rte_errno));
    *out = ctx;
    int rc = rte_acl_add_rules(ctx, static_cast<const rte_acl_rule*>(rules), static_cast<uint32_t>(n));
    if (rc != 0) return makeError(Error::Code::kResource, "rte_acl_add_rules: " + std::string(rte_strerror(-rc)));
    rc = rte_acl_build(ctx, &cfg);
    if (rc != 0) return makeError(Error::Code::kResource, "rte_acl_build: " + std::string(rte_strerror(-rc)));
    // AVX-512 classification where the CPU has it (measured fastest here); else DPDK's default pick.
    if (rte_acl_set_ctx_classify(ctx, RTE_ACL_CLASSIFY_AVX512X16) != 0)
      rte_acl_set_ctx_classify(ctx, RTE_ACL_CLASSIFY_DEFAULT);
    return {};
  }

  uint64_t gen_;
  std::vector<Acl4Rule> rules4_;
  std::vector<Acl6Rule> rules6_;
  rte_acl_ctx* ctx4_ = nullptr;
  rte_acl_ctx* ctx6_ = nullptr;
};

}  // namespace

CompiledPolicy::~CompiledPolicy() {
  if (acl4_) rte_acl_free(acl4_);
  if (acl6_) rte_acl_free(acl6_);
}

const std::string& CompiledPolicy::segmentName(uint16_t seg) const {
  static const std::string kUnknown = "?";
  return seg < segment_names_.size() ? segment_names_[seg] : kUnknown;
}

bool CompiledPolicy::sourceIpAllowed(uint16_t id, uint8_t family, const uint8_t* ip, bool acquisition) const {
  const PortBinding& p = ports_[id];
  if (p.role == PortRole::kTunnel) {
    if (boundToVm(family, ip)) return false;
    const IpAddr a = IpAddr::fromBytes(family, ip);
    for (const auto& c : p.prefixes)
      if (c.contains(a)) return true;
    return false;
  }
  if (p.role == PortRole::kUplink) return true;  // any address; forged VM addresses: boundToVm
  if (p.ipv4.empty() && p.ipv6.empty()) {
    // Nothing bound: no address of its own, only what acquiring one needs.
    if (!acquisition) return false;
    static constexpr uint8_t kZero[16] = {};
    if (std::memcmp(ip, kZero, family == 4 ? 4 : 16) == 0) return true;
    return family == 6 && ip[0] == 0xfe && (ip[1] & 0xc0) == 0x80;
  }
  if (family == 4) {
    uint32_t a;
    std::memcpy(&a, ip, 4);
    for (uint32_t b : p.ipv4)
      if (a == b) return true;
    return false;
  }
  for (const auto& b : p.ipv6)
    if (std::memcmp(b.data(), ip, 16) == 0) return true;
  return false;
}

bool CompiledPolicy::boundToVm(uint8_t family, const uint8_t* ip) const {
  if (family == 4) {
    uint32_t a;
    std::memcpy(&a, ip, 4);
    return std::binary_search(vm_ipv4_.begin(), vm_ipv4_.end(), a);
  }
  std::array<uint8_t, 16> a;
  std::memcpy(a.data(), ip, 16);
  return std::binary_search(vm_ipv6_.begin(), vm_ipv6_.end(), a);
}

int CompiledPolicy::tunnelPortFor(uint8_t family, const uint8_t* ip) const {
  const IpAddr a = IpAddr::fromBytes(family, ip);
  int best = -1, bestLen = -1;
  for (uint32_t i = physical_ports_; i < ports_.size(); ++i)
    for (const auto& c : ports_[i].prefixes)
      if (c.length > bestLen && c.contains(a)) best = static_cast<int>(i), bestLen = c.length;
  return best;
}

int CompiledPolicy::portForIp(uint8_t family, const uint8_t* ip) const {
  for (uint32_t i = 0; i < physical_ports_; ++i) {
    const PortBinding& b = ports_[i];
    if (family == 4) {
      uint32_t a;
      std::memcpy(&a, ip, 4);
      for (uint32_t x : b.ipv4)
        if (x == a) return static_cast<int>(i);
    } else {
      for (const auto& x : b.ipv6)
        if (std::memcmp(x.data(), ip, 16) == 0) return static_cast<int>(i);
    }
  }
  return -1;
}

void CompiledPolicy::classify4(const uint8_t** keys, uint32_t* results, uint32_t n) const {
  if (!acl4_) {
    std::memset(results, 0, n * sizeof *results);
    return;
  }
  rte_acl_classify(acl4_, keys, results, n, 1);
}

void CompiledPolicy::classify6(const uint8_t** keys, uint32_t* results, uint32_t n) const {
  if (!acl6_) {
    std::memset(results, 0, n * sizeof *results);
    return;
  }
  rte_acl_classify(acl6_, keys, results, n, 1);
}

void CompiledPolicy::inheritHits(const CompiledPolicy& old) {
  std::map<std::tuple<std::string, std::string, int>, uint32_t> byPlace;
  for (uint32_t id = 0; id < old.ruleCount(); ++id)
    byPlace[{old.rules_[id].name, old.rules_[id].loc.file, old.rules_[id].loc.line}] = id;
  base_hits_.assign(rules_.size(), 0);
  for (uint32_t id = 0; id < rules_.size(); ++id) {
    auto it = byPlace.find({rules_[id].name, rules_[id].loc.file, rules_[id].loc.line});
    if (it != byPlace.end()) base_hits_[id] = old.hits(it->second);
  }
}

uint64_t CompiledPolicy::hits(uint32_t id) const {
  uint64_t sum = id < base_hits_.size() ? base_hits_[id] : 0;
  for (uint32_t w = 0; w < workers_; ++w) sum += hits_[w * hit_stride_ + id].load(std::memory_order_relaxed);
  return sum;
}

Result<std::unique_ptr<CompiledPolicy>> CompiledPolicy::compile(const SwitchConfig& sw, const SegmentsConfig& segs,
                                                                const std::set<std::string>& quarantined,
                                                                uint64_t generation, uint32_t workers) {
  std::unique_ptr<CompiledPolicy> p(new CompiledPolicy());
  p->generation_ = generation;
  p->workers_ = workers;
  p->segment_names_ = {"unassigned", "quarantine", "external"};
  std::map<std::string, uint16_t> segId;
  for (const auto& s : segs.segments) {
    segId[s.name] = static_cast<uint16_t>(p->segment_names_.size());
    p->segment_names_.push_back(s.name);
  }
  segId["quarantine"] = kSegQuarantine;

  // Ports: segment membership (first segment that claims the port wins, in file order), bindings.
  for (uint16_t i = 0; i < sw.ports.size(); ++i) {
    const PortConfig& pc = sw.ports[i];
    PortBinding b;
    b.name = pc.name;
    b.vm = pc.vm;
    b.role = pc.role;
    if (pc.mac) b.mac = pc.mac->toU64();
    for (const auto& ip : pc.ips) {
      if (ip.family == 4) {
        uint32_t a;
        std::memcpy(&a, ip.bytes.data(), 4);
        b.ipv4.push_back(a);
      } else {
        b.ipv6.push_back(ip.bytes);
      }
    }
    if (pc.mac && !pc.ips.empty()) {
      // The EUI-64 link-local address of the bound MAC is the VM's own too (IPv6 ND, RA).
      std::array<uint8_t, 16> ll{0xfe, 0x80};
      const auto& m = pc.mac->bytes;
      uint8_t eui[8] = {static_cast<uint8_t>(m[0] ^ 0x02), m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]};
      std::memcpy(ll.data() + 8, eui, 8);
      b.ipv6.push_back(ll);
      b.ipv6.push_back(std::array<uint8_t, 16>{});  // "::" as source of duplicate address detection
    }
    if (pc.role == PortRole::kUplink) {
      b.segment = kSegExternal;
      p->uplink_mask_ |= 1u << i;
    } else if (quarantined.count(pc.name) ||
               (pc.hostmon && !pc.vm.empty() && quarantined.count(quarantineKeyOfVm(pc.vm)))) {
      b.segment = kSegQuarantine;
      b.quarantined = true;
    } else if (!pc.segment.empty()) {
      // A VM's own segment (hostmon, from its metadata): one the segment files do not define
      // leaves the port closed.
      auto it = segId.find(pc.segment);
      if (it != segId.end() && it->second >= kSegFirstUser) b.segment = it->second;
    } else if (pc.hostmon && pc.vm.empty()) {
      // identity: hostmon and no VM bound yet: closed, whatever the segment files say of its name.
    } else {
      for (const auto& s : segs.segments) {
        bool member = std::find(s.ports.begin(), s.ports.end(), pc.name) != s.ports.end() ||
                      (!pc.vm.empty() && std::find(s.vms.begin(), s.vms.end(), pc.vm) != s.vms.end()) ||
                      labelsMatch(s.labels, pc.labels);
        if (member) {
          b.segment = segId[s.name];
          break;
        }
      }
    }
    p->seg_of_port_[i] = b.segment;
    if (b.mac) {
      p->static_macs_[p->static_macs_n_] = b.mac;
      p->static_mac_port_[p->static_macs_n_++] = i;
    }
    if (traits(pc.role).vm_side) {
      p->vm_ipv4_.insert(p->vm_ipv4_.end(), b.ipv4.begin(), b.ipv4.end());
      for (const auto& a : b.ipv6)
        if (a != std::array<uint8_t, 16>{}) p->vm_ipv6_.push_back(a);  // "::" is no one's
    }
    p->ports_.push_back(std::move(b));
  }
  std::sort(p->vm_ipv4_.begin(), p->vm_ipv4_.end());
  std::sort(p->vm_ipv6_.begin(), p->vm_ipv6_.end());
  p->physical_ports_ = static_cast<uint32_t>(sw.ports.size());
  if (sw.tunnel.enabled) {
    p->router_mac_ = sw.tunnel.router_mac.toU64();
    for (const auto& peer : sw.tunnel.peers) {
      const uint16_t i = static_cast<uint16_t>(p->ports_.size());
      PortBinding b;
      b.name = peer.name;
      b.role = PortRole::kTunnel;
      b.mac = p->router_mac_;  // decapsulated packets carry the router's MAC as their source
      b.prefixes = peer.prefixes;
      // A peer is "external" unless a segment claims it by name or labels.
      b.segment = kSegExternal;
      for (const auto& s : segs.segments) {
        if (std::find(s.ports.begin(), s.ports.end(), peer.name) != s.ports.end() ||
            labelsMatch(s.labels, peer.labels)) {
          b.segment = segId[s.name];
          break;
        }
      }
      p->seg_of_port_[i] = b.segment;
      p->ports_.push_back(std::move(b));
    }
  }

  // Rules: id 0 = default deny; configured rules 1..n in priority order; quarantine allowances after.
  RuleMeta def;
  def.name = "default";
  def.from = def.to = def.protocol = def.ports = "any";
  def.action = Action::kDeny;
  def.log = segs.default_log;
  p->rules_.push_back(def);

  AclBuilder acl(generation);
  auto sideOf = [&](const Endpoint& e, bool quarantineSide) -> Side {
    Side s;
    if (quarantineSide) {
      s.seg = {kSegQuarantine, kSegQuarantine};
      return s;
    }
    switch (e.kind) {
      case Endpoint::Kind::kAny: break;
      case Endpoint::Kind::kExternal: s.seg = {kSegExternal, kSegExternal}; break;
      case Endpoint::Kind::kSegment: {
        uint16_t id = segId.at(e.segment);
        s.seg = {id, id};
        break;
      }
      case Endpoint::Kind::kCidr: s.cidr = &e.cidr; break;
    }
    return s;
  };
  auto addRule = [&](const RuleConfig& r, bool quarantine) -> Result<void> {
    uint32_t id = static_cast<uint32_t>(p->rules_.size());
    RuleMeta m;
    m.name = r.name;
    m.loc = r.loc;
    m.from = quarantine ? "quarantine" : r.from.str();
    m.to = r.to.str();
    m.protocol = protocolName(r.protocol);
    if (r.protocol && m.protocol == std::string("ip")) m.protocol = std::to_string(r.protocol);
    m.ports = portsText(r.ports);
    m.action = r.action;
    m.log = r.log;
    m.quarantine = quarantine;
    m.uninspected = r.uninspected;
    p->rules_.push_back(std::move(m));
    return acl.add(id, r, sideOf(r.from, quarantine), sideOf(r.to, false));
  };
  for (const auto& r : segs.rules)
    if (auto res = addRule(r, false); !res) return res.error();
  for (const auto& r : segs.quarantine_rules)
    if (auto res = addRule(r, true); !res) return res.error();
  if (auto res = acl.build(); !res) return res.error();
  p->acl4_ = acl.take4();
  p->acl6_ = acl.take6();
  for (const auto& r : p->rules_) {
    p->allow_.push_back(r.action == Action::kAllow);
    p->log_.push_back(r.log);
    p->uninspected_.push_back(r.uninspected);
  }

  // L2 reachability (ARP, ND, broadcast): q is reachable from p when some allow rule could admit a
  // connection between them in either direction. An over-approximation; IP traffic is decided by the ACL.
  auto endpointCovers = [&](const Endpoint& e, bool quarantineSide, uint16_t port) {
    const PortBinding& b = p->ports_[port];
    if (quarantineSide) return b.segment == kSegQuarantine;
    if (b.segment == kSegQuarantine || b.segment == kSegUnassigned) return false;
    switch (e.kind) {
      case Endpoint::Kind::kAny: return true;
      case Endpoint::Kind::kExternal: return b.role == PortRole::kUplink;
      case Endpoint::Kind::kSegment: return b.segment == segId.at(e.segment);
      case Endpoint::Kind::kCidr: {
        if (b.role == PortRole::kUplink) return true;
        for (const auto& ip : sw.ports[port].ips)
          if (e.cidr.contains(ip)) return true;
        return false;
      }
    }
    return false;
  };
  auto reach = [&](const RuleConfig& r, bool q, uint16_t a, uint16_t b) {
    if (r.action != Action::kAllow) return false;
    return (endpointCovers(r.from, q, a) && endpointCovers(r.to, false, b)) ||
           (endpointCovers(r.from, q, b) && endpointCovers(r.to, false, a));
  };
  for (uint16_t a = 0; a < sw.ports.size(); ++a) {
    for (uint16_t b = 0; b < sw.ports.size(); ++b) {
      if (a == b) continue;
      bool ok = false;
      for (const auto& r : segs.rules) ok = ok || reach(r, false, a, b);
      for (const auto& r : segs.quarantine_rules) ok = ok || reach(r, true, a, b);
      if (ok) p->flood_mask_[a] |= 1u << b;
    }
  }

  p->hit_stride_ = (static_cast<uint32_t>(p->rules_.size()) + 7) & ~7u;  // 64-byte rows
  p->hits_ = std::make_unique<std::atomic<uint64_t>[]>(size_t{p->hit_stride_} * std::max(1u, workers));
  return p;
}

void aclKeyFromFlow(const FlowKey& k, bool origIsA, uint16_t srcSeg, uint16_t dstSeg, AclKey4* k4, AclKey6* k6) {
  const uint8_t* src = origIsA ? k.addr_a : k.addr_b;
  const uint8_t* dst = origIsA ? k.addr_b : k.addr_a;
  uint16_t sport = origIsA ? k.port_a : k.port_b;
  uint16_t dport = origIsA ? k.port_b : k.port_a;
  if (k.family == 4) {
    std::memset(k4, 0, sizeof *k4);
    k4->proto = k.protocol;
    k4->src_seg = rte_cpu_to_be_16(srcSeg);
    k4->dst_seg = rte_cpu_to_be_16(dstSeg);
    std::memcpy(&k4->src_ip, src, 4);
    std::memcpy(&k4->dst_ip, dst, 4);
    k4->sport = rte_cpu_to_be_16(sport);
    k4->dport = rte_cpu_to_be_16(dport);
  } else {
    std::memset(k6, 0, sizeof *k6);
    k6->proto = k.protocol;
    k6->src_seg = rte_cpu_to_be_16(srcSeg);
    k6->dst_seg = rte_cpu_to_be_16(dstSeg);
    std::memcpy(k6->src_ip, src, 16);
    std::memcpy(k6->dst_ip, dst, 16);
    k6->sport = rte_cpu_to_be_16(sport);
    k6->dport = rte_cpu_to_be_16(dport);
  }
}

}  // namespace goldgate::dataplane
