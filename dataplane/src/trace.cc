#include "trace.h"

#include <cstdio>
#include <cstring>

#include "goldgate/common/net_types.h"
#include "goldgate/dataplane/conntrack.h"
#include "inspect.h"

namespace goldgate::dataplane {
namespace {

std::string macString(const uint8_t* m) {
  char b[18];
  std::snprintf(b, sizeof b, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return b;
}

uint64_t macValue(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 6; ++i) v = (v << 8) | p[i];
  return v;
}

std::string endpoint(const TraceRecord& r, const uint8_t* ip, uint16_t port) {
  std::string a = IpAddr::fromBytes(r.family, ip).toString();
  const bool ports = (r.protocol == 6 || r.protocol == 17 || r.protocol == 132) && !(r.flags & kFlagLaterFragment);
  if (!ports) return a;
  return (r.family == 6 ? "[" + a + "]" : a) + ":" + std::to_string(port);
}

std::string tcpFlagLetters(uint8_t f) {
  std::string s;
  const std::pair<uint8_t, char> names[] = {{0x02, 'S'}, {0x10, 'A'}, {0x01, 'F'},
                                            {0x04, 'R'}, {0x08, 'P'}, {0x20, 'U'}};
  for (auto [bit, c] : names)
    if (f & bit) s += c;
  return s.empty() ? "none" : s;
}

// The step of the packet path a drop reason belongs to.
const char* stageOf(DropReason r) {
  switch (r) {
    case DropReason::kPortClosed: return "port";
    case DropReason::kBadIpChecksum:
    case DropReason::kBadL4Checksum: return "checksums";
    case DropReason::kTaggedFromVm:
    case DropReason::kRouterGuard: return "guard";
    case DropReason::kSpoofedMac:
    case DropReason::kSpoofedIp:
    case DropReason::kNdSpoofed:
    case DropReason::kSpoofedFromOutside: return "source";
    case DropReason::kL2NotReachable:
    case DropReason::kIpMulticast: return "resolution";
    case DropReason::kTcpNoFlow:
    case DropReason::kWrongPort:
    case DropReason::kIcmpUnrelated:
    case DropReason::kFlowCut: return "conntrack";
    case DropReason::kUnknownDestination:
    case DropReason::kHairpin: return "destination";
    case DropReason::kPolicyDeny: return "rule";
    case DropReason::kFlowTableFull:
    case DropReason::kPortFlowLimit: return "flow-table";
    case DropReason::kFragmentNoFlow: return "fragment";
    case DropReason::kEspUnknownSa:
    case DropReason::kEspReplay:
    case DropReason::kEspAuthentication:
    case DropReason::kEspMalformed:
    case DropReason::kTunnelNoNeighbor:
    case DropReason::kTunnelTooBig:
    case DropReason::kTunnelSeqExhausted:
    case DropReason::kTunnelNoKeys:
    case DropReason::kUnderlayOther: return "tunnel";
    case DropReason::kTxFull: return "output";
    case DropReason::kDataPolicy:
    case DropReason::kInspectionGap:
    case DropReason::kUninspectedProtocol:
    case DropReason::kIpOptionsInspected:
    case DropReason::kFragmentUninspected:
    case DropReason::kTcpBadFlags:
    case DropReason::kTcpSynData:
    case DropReason::kTcpSynIsn:
    case DropReason::kTcpNoHandshake:
    case DropReason::kTcpNoAck:
    case DropReason::kTcpBadAck:
    case DropReason::kTcpOutOfWindow:
    case DropReason::kTcpPaws:
    case DropReason::kTcpRstInvalid:
    case DropReason::kTcpAfterFin:
    case DropReason::kTcpHoldFull: return "inspection";
    default: return "parse";
  }
}

// How far along the path a stage is: steps implied before it passed.
int stageRank(const std::string& s) {
  if (s == "port") return 0;
  if (s == "parse") return 1;
  if (s == "checksums") return 2;
  if (s == "guard") return 3;
  if (s == "source") return 4;
  return 5;
}

std::string portLabel(const CompiledPolicy& pol, uint16_t p) {
  if (p >= pol.portCount()) return "port #" + std::to_string(p);
  return pol.port(p).name;
}

std::string portDescription(const CompiledPolicy& pol, uint16_t p) {
  if (p >= pol.portCount()) return "port #" + std::to_string(p);
  const PortBinding& b = pol.port(p);
  std::string s = b.name;
  if (pol.isTunnel(p)) s += " (tunnel peer)";
  else if (pol.isUplink(p)) s += " (uplink)";
  else if (!b.vm.empty()) s += " (VM " + b.vm + ")";
  s += ", segment " + (pol.isUplink(p) ? std::string("external") : pol.segmentName(pol.portSegment(p)));
  if (b.quarantined) s += " (quarantined)";
  return s;
}

void setRule(proto::TraceResult& out, const CompiledPolicy& pol, uint32_t id, uint64_t gen) {
  auto* r = out.mutable_rule();
  r->set_id(id);
  if (gen != pol.generation() || id >= pol.ruleCount()) {
    r->set_name("rule #" + std::to_string(id) + " of policy version " + std::to_string(gen));
    return;
  }
  const RuleMeta& m = pol.rule(id);
  r->set_name(id == 0 ? "(default)" : m.name);
  r->set_file(m.loc.file);
  r->set_line(static_cast<uint32_t>(m.loc.line));
  r->set_action(std::string(m.action == Action::kAllow ? "allow" : "deny") + (m.log ? "-log" : ""));
}

std::string ruleWords(const proto::TraceRule& r) {
  if (r.id() == 0 && r.file().empty()) return "no rule matched: the default is deny";
  std::string s = "'" + r.name() + "'";
  if (!r.file().empty()) s += " at " + r.file() + ":" + std::to_string(r.line());
  if (!r.action().empty()) s += " (" + r.action() + ")";
  return s;
}

}  // namespace

bool traceMatches(const TraceFilter& f, const PacketMeta& pm) {
  if (f.protocol && pm.protocol != f.protocol) return false;
  if (f.family) {
    if (pm.family != f.family) return false;
    const size_t n = f.family == 4 ? 4 : 16;
    if (std::memcmp(pm.src_ip, f.host, n) != 0 && std::memcmp(pm.dst_ip, f.host, n) != 0) return false;
  }
  if (f.l4_port && pm.sport != f.l4_port && pm.dport != f.l4_port) return false;
  return true;
}

void traceSummarize(const PacketMeta& pm, uint32_t len, TraceRecord* r) {
  r->parsed = true;
  r->len = len;
  r->family = pm.family;
  r->protocol = pm.protocol;
  r->tcp_flags = pm.tcp_flags;
  r->icmp_type = pm.icmp_type;
  r->flags = pm.flags;
  r->sport = pm.sport;
  r->dport = pm.dport;
  r->vlan = pm.vlan;
  if (pm.src_mac) std::memcpy(r->src_mac, pm.src_mac, 6);
  if (pm.dst_mac) std::memcpy(r->dst_mac, pm.dst_mac, 6);
  const size_t n = pm.family == 4 ? 4 : pm.family == 6 ? 16 : 0;
  if (n && pm.src_ip) std::memcpy(r->src, pm.src_ip, n);
  if (n && pm.dst_ip) std::memcpy(r->dst, pm.dst_ip, n);
  if ((pm.flags & kFlagArp) && pm.arp_sender_ip) std::memcpy(r->src, pm.arp_sender_ip, 4);
}

proto::TraceResult renderTrace(const TraceRecord& r, const CompiledPolicy& pol, const char* source) {
  proto::TraceResult out;
  out.set_source(source);
  out.set_in_port(portLabel(pol, r.in));
  out.set_worker(r.worker);
  out.set_policy_version(r.policy_gen);
  // The packet in one line.
  std::string pkt;
  if (!r.parsed) {
    pkt = std::to_string(r.len) + " bytes that do not parse";
  } else if (r.flags & kFlagArp) {
    pkt = "ARP from " + IpAddr::fromBytes(4, r.src).toString() + " (" + macString(r.src_mac) + ")";
  } else if (r.family) {
    const bool named = r.protocol == 1 || r.protocol == 6 || r.protocol == 17 || r.protocol == 58 || r.protocol == 132;
    pkt = (named ? std::string(protocolName(r.protocol)) : "protocol " + std::to_string(r.protocol)) + " " +
          endpoint(r, r.src, r.sport) + " -> " + endpoint(r, r.dst, r.dport);
    if (r.protocol == 6) pkt += " [" + tcpFlagLetters(r.tcp_flags) + "]";
    if (r.protocol == 1 || r.protocol == 58) pkt += " type " + std::to_string(r.icmp_type);
    if (r.flags & kFlagLaterFragment) pkt += " (later fragment)";
    else if (r.flags & kFlagFragment) pkt += " (first fragment)";
    pkt += ", " + std::to_string(r.len) + " bytes";
  } else {
    pkt = "non-IP frame " + macString(r.src_mac) + " -> " + macString(r.dst_mac) + ", " + std::to_string(r.len) +
          " bytes";
  }
  if (r.vlan) pkt += ", VLAN " + std::to_string(r.vlan);
  out.set_packet(pkt);
  auto step = [&](const std::string& name, const std::string& result, const std::string& detail) {
    auto* s = out.add_steps();
    s->set_step(name);
    s->set_result(result);
    s->set_detail(detail);
  };
  // Where a drop happened decides which checks before it passed.
  std::string dropStage;
  for (uint32_t i = 0; i < r.nsteps; ++i)
    if (r.steps[i].kind == TraceKind::kDrop) dropStage = stageOf(static_cast<DropReason>(r.steps[i].value));
  const int reached = dropStage.empty() ? 99 : stageRank(dropStage);
  const bool uplink = r.in < pol.portCount() && pol.isUplink(r.in);
  const bool vmPort = r.in < pol.portCount() && !uplink && !pol.isTunnel(r.in);
  step("port", reached > 0 ? "open" : "closed", portDescription(pol, r.in));
  if (r.parsed) step("parse", "ok", pkt);
  if (r.parsed && reached > 2) step("checksums", "ok", "as the receiver checks them");
  if (r.parsed && vmPort && reached > 3) step("guard", "ok", "an untagged frame, no router or DHCP server message");
  if (r.parsed && reached > 4 && r.in < pol.portCount()) {
    const PortBinding& b = pol.port(r.in);
    if (vmPort) {
      std::string d = b.mac ? "MAC " + macString(r.src_mac) + " is the port's" : "the port binds no MAC";
      if (r.family || (r.flags & kFlagArp))
        d += "; " + IpAddr::fromBytes((r.flags & kFlagArp) ? 4 : r.family, r.src).toString() + " is its own";
      step("source", "ok", d);
    } else if (uplink) {
      step("source", "ok", "from the uplink: the source claims no VM's address here");
    } else {
      step("source", "ok", "from a tunnel peer: inside a zone behind it");
    }
  }
  uint32_t outputs = 0;
  bool reset = false;
  for (uint32_t i = 0; i < r.nsteps; ++i) {
    const TraceStepRecord& s = r.steps[i];
    switch (s.kind) {
      case TraceKind::kParsed: break;
      case TraceKind::kFlowHit: {
        setRule(out, pol, s.value, s.aux);
        step("conntrack", "hit",
             std::string("a tracked connection, ") + flowStateName(static_cast<FlowState>(s.a)) + ", admitted by " +
                 ruleWords(out.rule()) +
                 (s.aux == pol.generation() ? std::string(" under the policy in force")
                                            : " under policy version " + std::to_string(s.aux)));
        break;
      }
      case TraceKind::kFlowMiss: step("conntrack", "new", "no tracked connection: the policy decides"); break;
      case TraceKind::kFlowReopened:
        step("conntrack", "reopened", "a SYN on the 4-tuple of a closed connection: decided afresh");
        break;
      case TraceKind::kFlowRevalidated:
        setRule(out, pol, s.value, pol.generation());
        step("conntrack", "revalidated",
             "admitted under an older policy; this one still allows it: " + ruleWords(out.rule()));
        break;
      case TraceKind::kDestination: {
        const uint64_t mac = macValue(r.dst_mac);
        std::string via;
        if (mac && mac == pol.routerMac()) via = "to the router: the zone of the destination is behind a tunnel peer";
        else if (pol.staticPortForMac(mac) == s.port) via = "MAC " + macString(r.dst_mac) + " is bound to the port";
        else if (pol.isUplink(s.port))
          via = "MAC " + macString(r.dst_mac) + " is behind the uplink (learned or unknown)";
        else via = "MAC " + macString(r.dst_mac) + " learned on the port";
        step("destination", portLabel(pol, s.port), portDescription(pol, s.port) + ": " + via);
        break;
      }
      case TraceKind::kRule:
        setRule(out, pol, s.value, r.policy_gen);
        step("rule", s.a ? "allow" : "deny", ruleWords(out.rule()));
        break;
      case TraceKind::kFlowCreated: step("conntrack", "created", "the connection entered the flow table"); break;
      case TraceKind::kInspected:
        reset = s.a == 2;
        step("inspection",
             s.a == 0   ? "pass"
             : s.a == 1 ? "drop"
                        : "reset",
             s.a == 0   ? "payload inspected: nothing the data policy stops"
             : s.a == 1 ? "payload inspection refused the packet"
                        : "the data policy blocked the connection: both ends reset");
        break;
      case TraceKind::kFragmentFollows:
        step("fragment", "follows", "a later fragment follows its first fragment to " + portLabel(pol, s.port));
        break;
      case TraceKind::kOutput:
        ++outputs;
        out.add_out_ports(portLabel(pol, s.port));
        step("output", pol.isTunnel(s.port) ? "sealed" : "sent",
             pol.isTunnel(s.port) ? "into ESP (AES-256-GCM) toward peer " + portLabel(pol, s.port)
                                  : "on port " + portLabel(pol, s.port));
        break;
      case TraceKind::kDrop: {
        const auto why = static_cast<DropReason>(s.value);
        out.set_reason(dropReasonName(why));
        out.set_reason_help(dropReasonHelp(why));
        step(stageOf(why), "drop", std::string(dropReasonName(why)) + ": " + dropReasonHelp(why));
        break;
      }
      case TraceKind::kNote:
        switch (static_cast<TraceNote>(s.value)) {
          case TraceNote::kInspectedContent:
            step("inspection", "content",
                 "the connection is inspected: its payload meets the data classes and their policy between zones");
            break;
          case TraceNote::kWouldCreateFlow:
            step("conntrack", "would-create", "a packet like it creates the connection");
            break;
          case TraceNote::kPeerWithoutKeys:
            step("tunnel", "no-keys", "the peer has no keys agreed yet: its packets wait or are dropped");
            break;
        }
        break;
    }
  }
  if (!out.reason().empty()) out.set_verdict("drop");
  else if (reset) out.set_verdict("reset");
  else if (outputs > 1 || (outputs == 1 && r.parsed && (r.dst_mac[0] & 1))) out.set_verdict("flood");
  else if (outputs == 1) out.set_verdict("forward");
  else out.set_verdict("local");
  return out;
}

}  // namespace goldgate::dataplane
