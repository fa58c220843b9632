// Payload inspection on the worker: a packet of an allowed flow through the inspector (its TCP
// stream normalised first), the alerts its findings raise, the verdict applied (drop, or the
// segment rewritten into a reset toward its receiver and a reset sent back to its sender), and the
// headers of inspected packets made to mean one thing to the switch and the receiver.
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include <algorithm>
#include <cstring>

#include "goldgate/common/endian.h"
#include "worker.h"

namespace goldgate::dataplane {

Inspector::Verdict Worker::inspectPayload(const CompiledPolicy& pol, int32_t pos, const Flow& f, const FlowKey& k,
                                          int dir, const PacketMeta& pm, const uint8_t* l4, size_t l4len, uint16_t in,
                                          size_t* plen, DropReason* why) {
  // The L4 header is complete here (the parser checked it, or the gathered datagram was).
  const size_t hdr = pm.protocol == 6 ? static_cast<size_t>((l4[12] >> 4) * 4) : 8;  // UDP, ICMP echo: 8
  // UDP: the datagram is what its length field says (checked against the IP length with the
  // checksum); bytes after it are not delivered, so they are not inspected either.
  if (pm.protocol == 17) l4len = std::min<size_t>(l4len, loadBe16(l4 + 4));
  *plen = l4len > hdr ? l4len - hdr : 0;
  // Every TCP segment goes to the normaliser (pure ACKs carry the windows it checks against).
  TcpSegment seg;
  if (pm.protocol == 6) parseTcpSegment(l4, hdr, *plen, &seg);
  else if (*plen == 0) return Inspector::kPass;
  const bool o = f.orig_is_a;
  inspect_events_.clear();
  Inspector::Verdict v = inspector_->packet(pol.inspectPlan(), pos, o ? k.addr_a : k.addr_b, o ? k.addr_b : k.addr_a,
                                            k.family, pm.protocol, dir, f.port[0], f.port[1], l4 + hdr, *plen,
                                            pm.protocol == 6 ? &seg : nullptr, inspect_events_, why);
  for (const auto& e : inspect_events_) {
    if (e.kind == InspectEvent::kFinding && e.class_index < WorkerStats::kFindingClasses &&
        e.action < WorkerStats::kFindingActions)
      bump(stats_.findings[e.class_index][e.action], 1);
    AlertRecord a{};
    a.kind = e.kind == InspectEvent::kFinding   ? AlertRecord::kDataFinding
             : e.kind == InspectEvent::kGap     ? AlertRecord::kInspectionGap
             : e.kind == InspectEvent::kEvasion ? AlertRecord::kInspectionEvasion
             : e.kind == InspectEvent::kOpaque  ? AlertRecord::kInspectionOpaque
                                                : AlertRecord::kInspectionOverload;
    a.family = pm.family;
    a.protocol = pm.protocol;
    a.port = static_cast<uint8_t>(in);
    a.policy_gen = pol.generation();
    a.sport = pm.sport;
    a.dport = pm.dport;
    std::memcpy(a.src, pm.src_ip, pm.family == 4 ? 4 : 16);
    std::memcpy(a.dst, pm.dst_ip, pm.family == 4 ? 4 : 16);
    std::memcpy(a.src_mac, pm.src_mac, 6);
    a.action = e.action;
    a.zone_src = e.zone_src;
    a.zone_dst = e.zone_dst;
    a.confidence_pct = static_cast<uint8_t>(e.confidence_pct);
    a.count = static_cast<uint32_t>(std::min<uint64_t>(e.count, UINT32_MAX));
    a.offset = e.offset;
    std::memcpy(a.masked, e.masked, sizeof a.masked);
    std::memcpy(a.class_name, e.class_name, sizeof a.class_name);
    std::memcpy(a.path, e.path, sizeof a.path);
    std::memcpy(a.detail, e.detail, sizeof a.detail);
    std::memcpy(a.alpn, e.alpn, sizeof a.alpn);
    a.category = e.category;
    a.reason = e.reason;
    a.tls_version = e.tls_version;
    enqueueAlert(a);
  }
  return v;
}

int Worker::inspect(const CompiledPolicy& pol, int32_t pos, const Flow& f, const FlowKey& k, int dir,
                    const PacketMeta& pm, rte_mbuf* m, uint16_t in, uint64_t now) {
  if (inspector_->blocked(pos)) {
    drop(m, DropReason::kDataPolicy, in);
    return kInspectDropped;
  }
  // The first fragment of a datagram: the datagram is gathered and inspected when it is whole
  // (worker_frag.cc). A fragment that is the whole datagram (an IPv6 atomic fragment) is a packet.
  if ((pm.flags & kFlagFragment) && (pm.flags & kFlagMoreFragments)) return gatherFirst(f, k, dir, pm, m, in, now);
  // Receivers differ on IPv4 options (and drop bad ones): not passed unread.
  if (pm.family == 4 && (rte_pktmbuf_mtod(m, const uint8_t*)[pm.l3_offset] & 0x0f) != 5) {
    drop(m, DropReason::kIpOptionsInspected, in);
    return kInspectDropped;
  }
  normalizeHeaders(m, pm);
  const uint8_t* data = rte_pktmbuf_mtod(m, const uint8_t*);
  if (m->nb_segs > 1) {  // a chained mbuf (jumbo frame): inspect a linear copy of the whole packet
    if (linear_.size() < rte_pktmbuf_pkt_len(m)) linear_.resize(rte_pktmbuf_pkt_len(m));
    data = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, rte_pktmbuf_pkt_len(m), linear_.data()));
    if (!data) return kInspectPass;
  }
  const size_t end = static_cast<size_t>(pm.l3_offset) + pm.l3_length;
  size_t plen = 0;
  DropReason refused = DropReason::kNone;
  const Inspector::Verdict v = inspectPayload(pol, pos, f, k, dir, pm, data + pm.l4_offset,
                                              end > pm.l4_offset ? end - pm.l4_offset : 0, in, &plen, &refused);
  if (v == Inspector::kPass) return kInspectPass;
  if (v == Inspector::kDrop) {  // this segment only: what its receiver would discard
    drop(m, refused, in);
    return kInspectDropped;
  }
  const DropReason why = v == Inspector::kBlock ? DropReason::kDataPolicy : DropReason::kInspectionGap;
  // The segment that completed the match never leaves. For TCP both sides are reset: the sender
  // by a new segment, the receiver by this one rewritten into a RST, so it goes out in its place
  // (after the segments before it, with the sequence number the receiver expects next).
  if (pm.protocol == 6 && m->nb_segs == 1) {
    sendReset(pm, m, plen, true, in);
    if (makeReset(rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_mtod(m, const uint8_t*), pm, plen, false)) {
      rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_pkt_len(m) - (pm.l4_offset + 20u)));
      countDrop(why, in);
      return kInspectReset;
    }
  }
  drop(m, why, in);
  return kInspectDropped;
}

// Cuts an ICMP / ICMPv6 error down to its quoted IP header and the first 8 bytes after it (RFC 792:
// what the sender needs to find the connection; path MTU discovery and TCP need no more), drops an
// RFC 4884 length (no extension follows any more), and fixes the lengths and checksums. False when
// the packet cannot be cut here (a chained mbuf): the caller drops it rather than pass it unread.
bool Worker::boundIcmpQuote(rte_mbuf* m, const PacketMeta& pm) {
  const uint32_t icmpLen = uint32_t{pm.l3_offset} + pm.l3_length - pm.l4_offset;
  uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
  const uint32_t q = pm.l4_offset + 8u;
  const uint32_t innerHdr = pm.family == 4 ? (d[q] & 0x0fu) * 4u : 40u;
  const uint32_t keep = 8 + innerHdr + 8;
  if (icmpLen <= keep) return true;
  if (m->nb_segs > 1) return false;
  const uint32_t cut = icmpLen - keep;
  uint8_t* l3 = d + pm.l3_offset;
  uint8_t* icmp = d + pm.l4_offset;
  if (pm.family == 4) {
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(l3);
    ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(pm.l3_length - cut));
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    // RFC 4884 length: destination unreachable, time exceeded, parameter problem only (a redirect
    // carries its gateway there).
    if (pm.icmp_type == 3 || pm.icmp_type == 11 || pm.icmp_type == 12) icmp[5] = 0;
  } else {
    const uint16_t payload = static_cast<uint16_t>((uint16_t{l3[4]} << 8 | l3[5]) - cut);
    l3[4] = static_cast<uint8_t>(payload >> 8);
    l3[5] = static_cast<uint8_t>(payload);
    if (pm.icmp_type == 1 || pm.icmp_type == 3) icmp[4] = 0;  // RFC 4884 length
  }
  icmp[2] = icmp[3] = 0;
  const uint16_t c = l4Checksum(pm.family, pm.protocol, pm.src_ip, pm.dst_ip, icmp, keep);
  icmp[2] = static_cast<uint8_t>(c >> 8);
  icmp[3] = static_cast<uint8_t>(c);
  rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - (pm.l4_offset + keep)));
  bump(stats_.icmp_quotes_cut, 1);
  return true;
}

void Worker::normalizeHeaders(rte_mbuf* m, const PacketMeta& pm) {
  if (m->nb_segs > 1) return;
  uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t* l3 = d + pm.l3_offset;
  bool l4dirty = false;
  // A hop limit too low to reach the receiver would let the switch read bytes the receiver never
  // gets (a router drops them first): raised to a floor, as Snort's normaliser does.
  if (pm.family == 4 && l3[8] < kInspectMinTtl) {
    l3[8] = kInspectMinTtl;
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(l3);
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
  } else if (pm.family == 6 && l3[7] < kInspectMinTtl) {
    l3[7] = kInspectMinTtl;
  }
  // Urgent data: Linux takes the urgent byte out of the stream; cleared, it stays in the stream
  // the switch inspects and the receiver reads.
  if (pm.protocol == 6 && !(pm.flags & kFlagFragment) && (pm.tcp_flags & kTcpUrg)) {
    uint8_t* tcp = d + pm.l4_offset;
    tcp[13] &= static_cast<uint8_t>(~kTcpUrg);
    tcp[18] = tcp[19] = 0;
    l4dirty = true;
  }
  if (l4dirty) {
    auto* th = reinterpret_cast<rte_tcp_hdr*>(d + pm.l4_offset);
    th->cksum = 0;
    const size_t len = static_cast<size_t>(pm.l3_offset) + pm.l3_length - pm.l4_offset;  // the frame may be padded
    th->cksum = rte_cpu_to_be_16(l4Checksum(pm.family, pm.protocol, pm.src_ip, pm.dst_ip, d + pm.l4_offset, len));
  }
}

// A TCP RST written into `d` from the headers of packet `s` (which may be `d` itself when not
// swapping): toward its receiver (same addresses, its sequence number), or back to its sender
// (addresses swapped, sequence = the packet's acknowledgement). False for headers not rebuilt here
// (IPv4 options, IPv6 extension headers).
bool Worker::makeReset(uint8_t* d, const uint8_t* s, const PacketMeta& pm, size_t payloadLen, bool toSender) {
  const uint8_t* sl3 = s + pm.l3_offset;
  if (pm.family == 4 ? (sl3[0] & 0xf) != 5 : pm.l4_offset != pm.l3_offset + 40) return false;
  uint8_t* l3 = d + pm.l3_offset;
  uint8_t* tcp = d + pm.l4_offset;
  const uint8_t* stcp = s + pm.l4_offset;
  uint32_t seq = loadBe32(stcp + 4), ack = loadBe32(stcp + 8);
  uint32_t segLen =
      static_cast<uint32_t>(payloadLen) + ((pm.tcp_flags & kTcpSyn) ? 1 : 0) + ((pm.tcp_flags & kTcpFin) ? 1 : 0);
  auto put32 = [](uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 24), p[1] = static_cast<uint8_t>(v >> 16), p[2] = static_cast<uint8_t>(v >> 8),
    p[3] = static_cast<uint8_t>(v);
  };
  if (toSender) {
    std::memcpy(d, s + 6, 6);  // Ethernet: swapped
    std::memcpy(d + 6, s, 6);
    const int alen = pm.family == 4 ? 4 : 16;
    const size_t srcOff = pm.family == 4 ? 12 : 8;
    std::memcpy(l3 + srcOff, sl3 + srcOff + alen, alen);
    std::memcpy(l3 + srcOff + alen, sl3 + srcOff, alen);
    tcp[0] = stcp[2], tcp[1] = stcp[3], tcp[2] = stcp[0], tcp[3] = stcp[1];
    put32(tcp + 4, ack);
    put32(tcp + 8, seq + segLen);
  } else {
    put32(tcp + 4, seq);
    put32(tcp + 8, ack);
  }
  tcp[12] = 5 << 4;
  tcp[13] = kTcpRst | kTcpAck;
  for (int b = 14; b < 20; ++b) tcp[b] = 0;  // window, checksum (below), urgent pointer
  if (pm.family == 4) {
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(l3);
    ip->total_length = rte_cpu_to_be_16(40);
    ip->time_to_live = 64;
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    reinterpret_cast<rte_tcp_hdr*>(tcp)->cksum = rte_ipv4_udptcp_cksum(ip, tcp);
  } else {
    auto* ip6 = reinterpret_cast<rte_ipv6_hdr*>(l3);
    ip6->payload_len = rte_cpu_to_be_16(20);
    ip6->hop_limits = 64;
    reinterpret_cast<rte_tcp_hdr*>(tcp)->cksum = rte_ipv6_udptcp_cksum(ip6, tcp);
  }
  return true;
}

void Worker::sendReset(const PacketMeta& pm, rte_mbuf* m, size_t payloadLen, bool toSender, uint16_t port) {
  if (!shared_->pool) return;
  rte_mbuf* r = rte_pktmbuf_alloc(shared_->pool);
  if (!r) return;
  auto* d = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(r, static_cast<uint16_t>(pm.l4_offset + 20u)));
  const uint8_t* s = rte_pktmbuf_mtod(m, const uint8_t*);
  if (!d) {
    rte_pktmbuf_free(r);
    return;
  }
  std::memcpy(d, s, pm.l4_offset + 20u);
  if (!makeReset(d, s, pm, payloadLen, toSender)) {
    rte_pktmbuf_free(r);
    return;
  }
  send(port, r);
}

}  // namespace goldgate::dataplane
