// goldgatectl trace on the control thread: captures armed, collected and stopped through the
// workers' mailboxes, and a described packet explained against the policy in force (trace.h).
#include <rte_cycles.h>

#include <algorithm>
#include <cstring>

#include "goldgate/common/endian.h"
#include "goldgate/common/net_types.h"
#include "switch_impl.h"

namespace goldgate::dataplane {
namespace {

constexpr uint32_t kTraceDefault = 10;

Result<uint8_t> protocolOf(const std::string& s) {
  if (s.empty() || s == "tcp") return uint8_t{6};
  if (s == "udp") return uint8_t{17};
  if (s == "icmp") return uint8_t{1};
  if (s == "icmpv6") return uint8_t{58};
  if (s == "sctp") return uint8_t{132};
  if (!s.empty() && s.size() <= 3 && s.find_first_not_of("0123456789") == std::string::npos && std::stoul(s) <= 255)
    return static_cast<uint8_t>(std::stoul(s));
  return makeError(Error::Code::kInvalidArgument, "protocol: '" + s + "' is not tcp, udp, icmp, icmpv6, sctp or 0-255");
}

Result<uint8_t> tcpFlagsOf(const std::string& s) {
  if (s.empty()) return uint8_t{kTcpSyn};
  uint8_t f = 0;
  for (char c : s) {
    switch (c) {
      case 'S': f |= kTcpSyn; break;
      case 'A': f |= kTcpAck; break;
      case 'F': f |= kTcpFin; break;
      case 'R': f |= kTcpRst; break;
      case 'P': f |= kTcpPsh; break;
      case 'U': f |= 0x20; break;
      default:
        return makeError(Error::Code::kInvalidArgument,
                         std::string("tcp flags: '") + c + "' is not one of S, A, F, R, P, U");
    }
  }
  return f;
}

void putMac(uint8_t* p, uint64_t mac) {
  for (int i = 0; i < 6; ++i) p[i] = static_cast<uint8_t>(mac >> (40 - 8 * i));
}

// An unknown unicast MAC: where a VM sends what leaves through its gateway.
constexpr uint64_t kUnknownMac = 0x060000000001ull;

// The frame a described packet is: Ethernet (and a VLAN tag), IPv4 or IPv6, the L4 header with
// correct checksums, `payload` zero bytes.
std::vector<uint8_t> buildFrame(uint64_t srcMac, uint64_t dstMac, uint16_t vlan, const IpAddr& src, const IpAddr& dst,
                                uint8_t proto, uint16_t sport, uint16_t dport, uint8_t tcpFlags, uint8_t icmpType,
                                uint32_t payload) {
  const size_t l2 = vlan ? 18 : 14, l3 = src.family == 4 ? 20 : 40;
  const size_t l4 = proto == 6 ? 20 : (proto == 17 || proto == 1 || proto == 58) ? 8 : 0;
  std::vector<uint8_t> f(l2 + l3 + l4 + payload, 0);
  putMac(f.data(), dstMac);
  putMac(f.data() + 6, srcMac);
  uint8_t* p = f.data() + 12;
  if (vlan) {
    storeBe16(p, 0x8100);
    storeBe16(p + 2, vlan & 0x0fff);
    p += 4;
  }
  storeBe16(p, src.family == 4 ? 0x0800 : 0x86dd);
  uint8_t* ip = f.data() + l2;
  const size_t l4len = l4 + payload;
  if (src.family == 4) {
    ip[0] = 0x45;
    storeBe16(ip + 2, static_cast<uint16_t>(l3 + l4len));
    ip[8] = 64;
    ip[9] = proto;
    std::memcpy(ip + 12, src.bytes.data(), 4);
    std::memcpy(ip + 16, dst.bytes.data(), 4);
    storeBe16(ip + 10, static_cast<uint16_t>(~onesSum(ip, 20)));
  } else {
    ip[0] = 0x60;
    storeBe16(ip + 4, static_cast<uint16_t>(l4len));
    ip[6] = proto;
    ip[7] = 64;
    std::memcpy(ip + 8, src.bytes.data(), 16);
    std::memcpy(ip + 24, dst.bytes.data(), 16);
  }
  uint8_t* t = ip + l3;
  if (proto == 6) {
    storeBe16(t, sport);
    storeBe16(t + 2, dport);
    storeBe32(t + 4, 1000);
    if (tcpFlags & kTcpAck) storeBe32(t + 8, 1);
    t[12] = 5 << 4;
    t[13] = tcpFlags;
    storeBe16(t + 14, 65535);
  } else if (proto == 17) {
    storeBe16(t, sport);
    storeBe16(t + 2, dport);
    storeBe16(t + 4, static_cast<uint16_t>(l4len));
  } else if (proto == 1 || proto == 58) {
    t[0] = icmpType;
    storeBe16(t + 4, sport);  // echo identifier
    storeBe16(t + 6, 1);
  }
  if (l4) {
    const size_t sumAt = proto == 6 ? 16 : proto == 17 ? 6 : 2;
    storeBe16(t + sumAt, l4Checksum(src.family, proto, src.bytes.data(), dst.bytes.data(), t, l4len));
  }
  return f;
}

}  // namespace

int SwitchImpl::portIndex(const std::string& name) const {
  const CompiledPolicy* pol = publisher_.policy();
  for (uint32_t p = 0; p < pol->portCount(); ++p)
    if (pol->port(static_cast<uint16_t>(p)).name == name) return static_cast<int>(p);
  return -1;
}

proto::Response SwitchImpl::trace(const proto::TraceRequest& req) {
  proto::Response resp;
  resp.set_ok(true);
  auto fail = [&](const std::string& why) {
    resp.set_ok(false);
    resp.set_error(why);
    return resp;
  };
  const CompiledPolicy* pol = publisher_.policy();
  auto* out = resp.mutable_trace();
  switch (req.op_case()) {
    case proto::TraceRequest::kPacket: {
      auto r = explain(req.packet());
      if (!r) return fail(r.error().message);
      *out->add_results() = std::move(*r);
      return resp;
    }
    case proto::TraceRequest::kArm: {
      const auto& f = req.arm();
      TraceFilter tf;
      tf.port = portIndex(f.port());
      if (tf.port < 0) return fail("trace: no port '" + f.port() + "' (goldgatectl status lists them)");
      if (f.protocol() > 255) return fail("trace: protocol " + std::to_string(f.protocol()) + " is not 0-255");
      tf.protocol = static_cast<uint8_t>(f.protocol());
      if (!f.host().empty()) {
        auto ip = IpAddr::parse(f.host());
        if (!ip) return fail("trace: host '" + f.host() + "' is not an IPv4 or IPv6 address");
        tf.family = ip->family;
        std::memcpy(tf.host, ip->bytes.data(), ip->family == 4 ? 4 : 16);
      }
      if (f.l4_port() > 65535) return fail("trace: port number " + std::to_string(f.l4_port()) + " is not 0-65535");
      tf.l4_port = static_cast<uint16_t>(f.l4_port());
      const uint32_t count = req.count() ? req.count() : kTraceDefault;
      if (count > Worker::kTraceMax)
        return fail("trace: at most " + std::to_string(Worker::kTraceMax) + " packets a capture");
      uint32_t armed = 0;
      for (const auto& w : workers_) {
        w->mailbox().trace_filter = tf;
        w->mailbox().trace_count = count;
        uint64_t matched = 0;
        if (askWorker(*w, Mailbox::Cmd::kTraceArm, FlowQuery{}, nullptr, &matched) && matched) ++armed;
      }
      if (!armed) return fail("trace: no worker took the capture (is the switch stopping?)");
      trace_wanted_ = count;
      trace_recorded_ = 0;
      out->set_armed(true);
      out->set_wanted(count);
      return resp;
    }
    case proto::TraceRequest::kCollect: {
      bool armed = false;
      const uint64_t hz = rte_get_tsc_hz(), now = rte_rdtsc();
      std::vector<std::pair<uint64_t, proto::TraceResult>> got;
      for (const auto& w : workers_) {
        std::vector<TraceRecord> recs;
        recs.reserve(Worker::kTraceMax);
        w->mailbox().trace_out = &recs;
        uint64_t left = 0;
        const bool ok = askWorker(*w, Mailbox::Cmd::kTraceCollect, FlowQuery{}, nullptr, &left);
        w->mailbox().trace_out = nullptr;
        if (!ok) continue;
        armed = armed || left > 0;
        for (const auto& r : recs) {
          auto t = renderTrace(r, *pol, "captured");
          t.set_age_us(now > r.tsc ? (now - r.tsc) * 1000000 / hz : 0);
          got.emplace_back(r.tsc, std::move(t));
        }
      }
      // Workers record side by side: in arrival order across them.
      std::stable_sort(got.begin(), got.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      for (auto& [tsc, t] : got) *out->add_results() = std::move(t);
      trace_recorded_ += static_cast<uint32_t>(got.size());
      // With several workers each may record up to the count: the capture ends when all of them
      // together have.
      if (trace_recorded_ >= trace_wanted_ && armed) {
        for (const auto& w : workers_) {
          uint64_t m = 0;
          askWorker(*w, Mailbox::Cmd::kTraceDisarm, FlowQuery{}, nullptr, &m);
        }
        armed = false;
      }
      out->set_armed(armed);
      out->set_recorded(trace_recorded_);
      out->set_wanted(trace_wanted_);
      return resp;
    }
    case proto::TraceRequest::kDisarm: {
      for (const auto& w : workers_) {
        uint64_t m = 0;
        askWorker(*w, Mailbox::Cmd::kTraceDisarm, FlowQuery{}, nullptr, &m);
      }
      out->set_armed(false);
      out->set_recorded(trace_recorded_);
      out->set_wanted(trace_wanted_);
      return resp;
    }
    default: return fail("trace: nothing asked (packet, arm, collect or disarm)");
  }
}

Result<proto::TraceResult> SwitchImpl::explain(const proto::TracePacket& tp) {
  const CompiledPolicy& pol = *publisher_.policy();
  auto bad = [](const std::string& why) { return makeError(Error::Code::kInvalidArgument, "trace: " + why); };
  const int inPort = portIndex(tp.in_port());
  if (inPort < 0) return bad("no port '" + tp.in_port() + "' (goldgatectl status lists them)");
  const auto in = static_cast<uint16_t>(inPort);
  if (pol.isTunnel(in))
    return bad("'" + tp.in_port() + "' is a tunnel peer: its packets arrive sealed; trace them with --capture");
  if (tp.dst().empty()) return bad("a destination address is needed");
  auto dst = IpAddr::parse(tp.dst());
  if (!dst) return bad("destination '" + tp.dst() + "' is not an IPv4 or IPv6 address");
  const PortBinding& bind = pol.port(in);
  std::optional<IpAddr> src;
  if (!tp.src().empty()) {
    src = IpAddr::parse(tp.src());
    if (!src) return bad("source '" + tp.src() + "' is not an IPv4 or IPv6 address");
  } else if (dst->family == 4 && !bind.ipv4.empty()) {
    src = IpAddr::fromBytes(4, reinterpret_cast<const uint8_t*>(&bind.ipv4.front()));
  } else if (dst->family == 6 && !bind.ipv6.empty()) {
    src = IpAddr::fromBytes(6, bind.ipv6.front().data());
  } else {
    return bad("port '" + tp.in_port() + "' binds no IPv" + std::to_string(dst->family) + " address: give --src");
  }
  if (src->family != dst->family) return bad("source and destination are of different families");
  auto proto = protocolOf(tp.protocol());
  if (!proto) return bad(proto.error().message);
  auto flags = tcpFlagsOf(tp.tcp_flags());
  if (!flags) return bad(flags.error().message);
  if (tp.sport() > 65535 || tp.dport() > 65535) return bad("ports are 0-65535");
  if (tp.payload() > 9000) return bad("payload: at most 9000 bytes");
  // A connection's first packet never comes from port 0: the first ephemeral port unless given.
  const uint32_t sport = tp.sport() || (*proto != 6 && *proto != 17) ? tp.sport() : 49152;
  if (tp.vlan() > 4095) return bad("vlan: 0-4095");
  uint64_t srcMac = bind.mac ? bind.mac : 0x020000000099ull, dstMac = 0;
  if (!tp.src_mac().empty()) {
    auto m = MacAddr::parse(tp.src_mac());
    if (!m) return bad("source MAC '" + tp.src_mac() + "' is not a MAC address");
    srcMac = macOf(m->bytes.data());
  }
  if (!tp.dst_mac().empty()) {
    auto m = MacAddr::parse(tp.dst_mac());
    if (!m) return bad("destination MAC '" + tp.dst_mac() + "' is not a MAC address");
    dstMac = macOf(m->bytes.data());
  } else if (int p = pol.portForIp(dst->family, dst->bytes.data()); p >= 0 && pol.port(static_cast<uint16_t>(p)).mac) {
    dstMac = pol.port(static_cast<uint16_t>(p)).mac;
  } else if (pol.routerMac() && pol.tunnelPortFor(dst->family, dst->bytes.data()) >= 0) {
    dstMac = pol.routerMac();
  } else {
    dstMac = kUnknownMac;
  }
  const uint8_t icmpType = tp.icmp_type() ? static_cast<uint8_t>(tp.icmp_type()) : (*proto == 58 ? 128 : 8);
  const std::vector<uint8_t> frame =
      buildFrame(srcMac, dstMac, static_cast<uint16_t>(tp.vlan()), *src, *dst, *proto, static_cast<uint16_t>(sport),
                 static_cast<uint16_t>(tp.dport()), *flags, icmpType, tp.payload());

  TraceRecord r;
  r.in = in;
  r.len = static_cast<uint32_t>(frame.size());
  r.policy_gen = pol.generation();
  // The worker's passes, in their order (worker.cc), without forwarding and without changing state.
  auto finish = [&](DropReason why) {
    if (why != DropReason::kNone) r.add(TraceKind::kDrop, 0, in, static_cast<uint32_t>(why));
    return renderTrace(r, pol, "described");
  };
  PacketMeta pm;
  const DropReason malformed = parsePacket(frame.data(), r.len, &pm);
  if (malformed == DropReason::kNone) {
    traceSummarize(pm, r.len, &r);
    r.add(TraceKind::kParsed);
  }
  if (!pol.isUplink(in) && pol.portSegment(in) == kSegUnassigned) return finish(DropReason::kPortClosed);
  if (malformed != DropReason::kNone) return finish(malformed);
  const bool uplink = pol.isUplink(in);
  if (!uplink) {
    if (DropReason why = Worker::vmGuard(pm, frame.data()); why != DropReason::kNone) return finish(why);
  }
  if (bind.mac && macOf(pm.src_mac) != bind.mac) return finish(DropReason::kSpoofedMac);
  const DropReason spoof =
      uplink ? Worker::outsideClaim(pol, pm, frame.data()) : Worker::sourceCheck(pol, in, pm, frame.data());
  if (spoof != DropReason::kNone) return finish(spoof);
  if (pm.dst_mac[0] & 1) return finish(DropReason::kIpMulticast);
  if ((pm.flags & kFlagIcmpError) && !(pm.flags & kFlagIcmpInner)) return finish(DropReason::kIcmpUnrelated);
  FlowKey key;
  const bool srcIsA = makeFlowKey(pm, &key);
  // The connection, in whichever worker holds it, and where the destination MAC was learned.
  const Flow* found = nullptr;
  Flow flow{};
  int learned = -1;
  for (const auto& w : workers_) {
    Mailbox& mb = w->mailbox();
    mb.probe_key = key;
    mb.probe_mac = macOf(pm.dst_mac);
    uint64_t m = 0;
    if (!askWorker(*w, Mailbox::Cmd::kProbe, FlowQuery{}, nullptr, &m)) continue;
    if (learned < 0) learned = mb.probe_fdb;
    if (mb.probe_pos >= 0 && !found) {
      flow = mb.probe_flow;
      found = &flow;
    }
  }
  const auto* plan = pol.inspectPlan().get();
  if (found) {
    r.add(TraceKind::kFlowHit, static_cast<uint8_t>(flow.state), 0, flow.rule, flow.policy_gen);
    if (pm.protocol == 6 && tcpOpens(pm.tcp_flags) && tcpReusable(flow)) {
      r.add(TraceKind::kFlowReopened);
      found = nullptr;
    }
  }
  if (found) {
    const int dir = (srcIsA == flow.orig_is_a) ? 0 : 1;
    if (in != flow.port[dir]) return finish(DropReason::kWrongPort);
    if (flow.policy_gen != pol.generation()) {
      const uint16_t srcSeg = pol.portSegment(flow.port[0]);
      const uint16_t dstSeg = pol.isUplink(flow.port[1]) ? kSegExternal : pol.portSegment(flow.port[1]);
      AclKey4 k4;
      AclKey6 k6;
      aclKeyFromFlow(key, flow.orig_is_a, srcSeg, dstSeg, &k4, &k6);
      uint32_t rule = 0;
      const uint8_t* kp =
          key.family == 4 ? reinterpret_cast<const uint8_t*>(&k4) : reinterpret_cast<const uint8_t*>(&k6);
      if (srcSeg != kSegUnassigned && dstSeg != kSegUnassigned) {
        if (key.family == 4) pol.classify4(&kp, &rule, 1);
        else pol.classify6(&kp, &rule, 1);
      }
      if (!pol.ruleAllows(rule)) return finish(DropReason::kFlowCut);
      r.add(TraceKind::kFlowRevalidated, 0, 0, rule);
    }
    const uint16_t outPort = flow.port[dir ^ 1];
    if (plan && Worker::readable(pm) && plan->inspects(flow.port[0], flow.port[1]))
      r.add(TraceKind::kNote, 0, 0, static_cast<uint32_t>(TraceNote::kInspectedContent));
    r.add(TraceKind::kOutput, 0, outPort);
    return finish(DropReason::kNone);
  }
  r.add(TraceKind::kFlowMiss);
  if (pm.protocol == 6 && !tcpOpens(pm.tcp_flags)) return finish(DropReason::kTcpNoFlow);
  if (uplink && pol.boundToVm(pm.family, pm.src_ip)) return finish(DropReason::kSpoofedFromOutside);
  // Where the destination is (Worker::outPortFor).
  int o = -1;
  const uint64_t mac = macOf(pm.dst_mac);
  if (mac && mac == pol.routerMac()) o = pol.tunnelPortFor(pm.family, pm.dst_ip);
  else if ((o = pol.staticPortForMac(mac)) < 0 && (o = learned) < 0 && !uplink)
    o = pol.uplinkMask() ? __builtin_ctz(pol.uplinkMask()) : -1;
  if (o < 0) return finish(DropReason::kUnknownDestination);
  if (o == in) return finish(DropReason::kHairpin);
  const auto out = static_cast<uint16_t>(o);
  r.add(TraceKind::kDestination, 0, out);
  const uint16_t srcSeg = pol.portSegment(in);
  const uint16_t dstSeg = pol.isUplink(out) ? kSegExternal : pol.portSegment(out);
  AclKey4 k4;
  AclKey6 k6;
  aclKeyFromFlow(key, srcIsA, srcSeg, dstSeg, &k4, &k6);
  uint32_t rule = 0;
  const uint8_t* kp = key.family == 4 ? reinterpret_cast<const uint8_t*>(&k4) : reinterpret_cast<const uint8_t*>(&k6);
  if (key.family == 4) pol.classify4(&kp, &rule, 1);
  else pol.classify6(&kp, &rule, 1);
  r.add(TraceKind::kRule, pol.ruleAllows(rule) ? 1 : 0, 0, rule);
  if (!pol.ruleAllows(rule)) return finish(DropReason::kPolicyDeny);
  if (plan && !Worker::readable(pm) && !pol.ruleUninspected(rule) && plan->inspects(in, out))
    return finish(DropReason::kUninspectedProtocol);
  r.add(TraceKind::kNote, 0, 0, static_cast<uint32_t>(TraceNote::kWouldCreateFlow));
  if (plan && Worker::readable(pm) && plan->inspects(in, out))
    r.add(TraceKind::kNote, 0, 0, static_cast<uint32_t>(TraceNote::kInspectedContent));
  r.add(TraceKind::kOutput, 0, out);
  if (pol.isTunnel(out) && tunnel_) {
    for (uint32_t i = 0; i < tunnel_->peerCount(); ++i)
      if (tunnel_->peer(i).port == out && !tunnel_->outboundOf(i).present)
        r.add(TraceKind::kNote, 0, 0, static_cast<uint32_t>(TraceNote::kPeerWithoutKeys));
  }
  return finish(DropReason::kNone);
}

}  // namespace goldgate::dataplane
