#include "goldgate/dataplane/packet.h"

#include <cstring>

#include "goldgate/common/cpu_dispatch.h"
#include "goldgate/common/endian.h"

namespace goldgate::dataplane {
namespace {

constexpr uint16_t kEthVlan = 0x8100, kEthQinQ = 0x88a8, kEthIpv4 = 0x0800, kEthIpv6 = 0x86dd, kEthArp = 0x0806;
constexpr int kMaxExtHeaders = 8;

// The packet quoted in an ICMP error: its addresses, protocol and ports (or echo id). Leaves
// kFlagIcmpInner clear when the quote is too short or not the same IP version.
void parseIcmpInner(const uint8_t* data, uint32_t off, uint32_t end, PacketMeta* m) {
  if (end <= off) return;
  const uint8_t* ip = data + off;
  uint32_t avail = end - off, l4;
  uint8_t proto;
  if (m->family == 4) {
    if (avail < 20 || (ip[0] >> 4) != 4) return;
    l4 = (ip[0] & 0x0f) * 4u;
    if (l4 < 20) return;
    proto = ip[9];
    m->inner_src_ip = ip + 12;
    m->inner_dst_ip = ip + 16;
  } else {
    if (avail < 40 || (ip[0] >> 4) != 6) return;
    l4 = 40;  // extension headers in a quoted packet are not followed
    proto = ip[6];
    m->inner_src_ip = ip + 8;
    m->inner_dst_ip = ip + 24;
  }
  if (avail < l4 + 8) return;
  const uint8_t* p = ip + l4;
  if (proto == 6 || proto == 17 || proto == 132) {
    m->inner_sport = loadBe16(p);
    m->inner_dport = loadBe16(p + 2);
  } else if ((proto == 1 && (p[0] == 8 || p[0] == 0)) || (proto == 58 && (p[0] == 128 || p[0] == 129))) {
    m->inner_sport = m->inner_dport = loadBe16(p + 4);
  } else {
    return;
  }
  m->inner_protocol = proto;
  m->flags |= kFlagIcmpInner;
}

DropReason parseL4(const uint8_t* data, uint32_t len, uint32_t off, uint32_t end, PacketMeta* m) {
  m->l4_offset = static_cast<uint16_t>(off);
  uint32_t avail = end > off ? end - off : 0;
  switch (m->protocol) {
    case 6: {
      if (avail < 20) return DropReason::kTruncatedL4;
      uint32_t doff = (data[off + 12] >> 4) * 4u;
      if (doff < 20 || doff > avail) return DropReason::kBadTcpHeaderLength;
      m->sport = loadBe16(data + off);
      m->dport = loadBe16(data + off + 2);
      m->tcp_flags = data[off + 13];
      m->flags |= kFlagL4;
      return DropReason::kNone;
    }
    case 17:
    case 132: {
      if (avail < 8) return DropReason::kTruncatedL4;
      m->sport = loadBe16(data + off);
      m->dport = loadBe16(data + off + 2);
      m->flags |= kFlagL4;
      return DropReason::kNone;
    }
    case 1: {
      if (avail < 8) return DropReason::kTruncatedL4;
      uint8_t type = data[off];
      m->icmp_type = type;
      if (type == 0 || type == 8 || type == 13 || type == 14) {  // echo / timestamp: id is the "port"
        m->sport = m->dport = loadBe16(data + off + 4);
        m->flags |= kFlagL4;
      } else if (type == 3 || type == 4 || type == 5 || type == 11 || type == 12) {
        m->flags |= kFlagIcmpError;
        parseIcmpInner(data, off + 8, end, m);
      }
      return DropReason::kNone;
    }
    case 58: {
      if (avail < 8) return DropReason::kTruncatedL4;
      uint8_t type = data[off];
      m->icmp_type = type;
      if (type == 128 || type == 129) {
        m->sport = m->dport = loadBe16(data + off + 4);
        m->flags |= kFlagL4;
      } else if (type >= 133 && type <= 137) {
        m->flags |= kFlagNd;
      } else if (type < 128) {
        m->flags |= kFlagIcmpError;
        parseIcmpInner(data, off + 8, end, m);
      }
      return DropReason::kNone;
    }
    default: (void)len; return DropReason::kNone;  // other protocols: classified by protocol only
  }
}

DropReason parseIpv4(const uint8_t* data, uint32_t len, uint32_t off, PacketMeta* m) {
  if (len - off < 20) return DropReason::kTruncatedIp;
  const uint8_t* ip = data + off;
  if ((ip[0] >> 4) != 4) return DropReason::kBadIpVersion;
  uint32_t ihl = (ip[0] & 0x0f) * 4u;
  if (ihl < 20 || ihl > len - off) return DropReason::kBadIpHeaderLength;
  uint32_t total = loadBe16(ip + 2);
  if (total < ihl || total > len - off) return DropReason::kBadIpTotalLength;
  m->family = 4;
  m->flags |= kFlagIp;
  m->protocol = ip[9];
  m->src_ip = ip + 12;
  m->dst_ip = ip + 16;
  m->l3_length = static_cast<uint16_t>(total);
  uint16_t frag = loadBe16(ip + 6);
  uint16_t offset = frag & 0x1fff;
  bool more = (frag & 0x2000) != 0;
  m->frag_id = loadBe16(ip + 4);
  if (offset != 0 || more) {
    m->flags |= kFlagFragment | (more ? kFlagMoreFragments : 0);
    m->frag_offset = offset;
    if (offset != 0) {
      m->flags |= kFlagLaterFragment;
      m->l4_offset = static_cast<uint16_t>(off + ihl);
      return DropReason::kNone;
    }
  }
  return parseL4(data, len, off + ihl, off + total, m);
}

DropReason parseIpv6(const uint8_t* data, uint32_t len, uint32_t off, PacketMeta* m) {
  if (len - off < 40) return DropReason::kTruncatedIp;
  const uint8_t* ip = data + off;
  if ((ip[0] >> 4) != 6) return DropReason::kBadIpVersion;
  uint32_t payload = loadBe16(ip + 4);
  if (payload > len - off - 40) return DropReason::kBadIpTotalLength;
  uint32_t end = off + 40 + payload;
  m->family = 6;
  m->flags |= kFlagIp;
  m->src_ip = ip + 8;
  m->dst_ip = ip + 24;
  m->l3_length = static_cast<uint16_t>(40 + payload);
  uint8_t next = ip[6];
  uint32_t pos = off + 40;
  for (int i = 0;; ++i) {
    if (next != 0 && next != 43 && next != 44 && next != 60 && next != 51) break;
    if (i == kMaxExtHeaders) return DropReason::kTooManyExtensionHeaders;
    if (end - pos < 8) return DropReason::kTruncatedIp;
    const uint8_t* h = data + pos;
    if (next == 44) {  // fragment header: fixed 8 bytes
      uint16_t fo = loadBe16(h + 2);
      m->flags |= kFlagFragment | ((fo & 1) ? kFlagMoreFragments : 0);
      m->frag_offset = static_cast<uint16_t>(fo >> 3);
      m->frag_id = loadBe32(h + 4);
      next = h[0];
      pos += 8;
      if ((fo >> 3) != 0) {
        m->flags |= kFlagLaterFragment;
        m->protocol = next;
        m->l4_offset = static_cast<uint16_t>(pos);
        return DropReason::kNone;
      }
      continue;
    }
    uint32_t hlen = next == 51 ? (h[1] + 2u) * 4u : (h[1] + 1u) * 8u;
    if (hlen > end - pos) return DropReason::kTruncatedIp;
    next = h[0];
    pos += hlen;
  }
  m->protocol = next;
  return parseL4(data, len, pos, end, m);
}

}  // namespace

GOLDGATE_CPU_CLONES DropReason parsePacket(const uint8_t* data, uint32_t len, PacketMeta* m) {
  std::memset(m, 0, sizeof *m);
  if (len < 14) return DropReason::kTruncatedEthernet;
  m->dst_mac = data;
  m->src_mac = data + 6;
  uint32_t off = 12;
  uint16_t type = loadBe16(data + off);
  off += 2;
  for (int tags = 0; type == kEthVlan || type == kEthQinQ; ++tags) {
    if (tags == 2 || len - off < 4) return DropReason::kTruncatedVlan;
    if (tags == 0) m->vlan = loadBe16(data + off) & 0x0fff;
    m->flags |= kFlagVlan;
    type = loadBe16(data + off + 2);
    off += 4;
  }
  m->ethertype = type;
  m->l3_offset = static_cast<uint16_t>(off);
  switch (type) {
    case kEthIpv4: return parseIpv4(data, len, off, m);
    case kEthIpv6: return parseIpv6(data, len, off, m);
    case kEthArp: {
      // Ethernet/IPv4 ARP only: htype 1, ptype 0x0800, hlen 6, plen 4.
      if (len - off < 28) return DropReason::kTruncatedIp;
      const uint8_t* a = data + off;
      if (loadBe16(a) != 1 || loadBe16(a + 2) != kEthIpv4 || a[4] != 6 || a[5] != 4)
        return DropReason::kUnsupportedEthertype;
      m->flags |= kFlagArp;
      m->arp_sender_mac = a + 8;
      m->arp_sender_ip = a + 14;
      return DropReason::kNone;
    }
    default: return DropReason::kUnsupportedEthertype;
  }
}

GOLDGATE_CPU_CLONES uint16_t onesSum(const uint8_t* p, size_t len, uint32_t sum) {
  // 32-bit halves of 8-byte words into a 64-bit accumulator: no carries lost for any packet size.
  uint64_t acc = sum;
  while (len >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    acc += (w & 0xffffffffu) + (w >> 32);
    p += 8, len -= 8;
  }
  if (len >= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    acc += w;
    p += 4, len -= 4;
  }
  if (len >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    acc += w;
    p += 2, len -= 2;
  }
  if (len) {
    uint16_t w = 0;
    std::memcpy(&w, p, 1);  // the odd byte is the high byte of a word in wire order
    acc += w;
  }
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  // Summed in host (little-endian) order: swap to wire order (the sum commutes with byte swap).
  return static_cast<uint16_t>(__builtin_bswap16(static_cast<uint16_t>(acc)));
}

bool ipChecksumOk(const uint8_t* data, const PacketMeta& m) {
  if (m.family != 4) return true;
  const uint8_t* ip = data + m.l3_offset;
  return onesSum(ip, (ip[0] & 0x0f) * 4u) == 0xffff;
}

namespace {
// The one's-complement sum of the pseudo-header (none for ICMP) and the L4 bytes, in wire order.
uint16_t l4Sum(uint8_t family, uint8_t protocol, const uint8_t* src, const uint8_t* dst, const uint8_t* l4,
               size_t len) {
  if (protocol == 1) return onesSum(l4, len);
  const int alen = family == 4 ? 4 : 16;
  uint8_t pseudo[40] = {};
  std::memcpy(pseudo, src, alen);
  std::memcpy(pseudo + alen, dst, alen);
  size_t plen;
  if (family == 4) {
    pseudo[9] = protocol;
    pseudo[10] = static_cast<uint8_t>(len >> 8);
    pseudo[11] = static_cast<uint8_t>(len);
    plen = 12;
  } else {
    pseudo[34] = static_cast<uint8_t>(len >> 8);
    pseudo[35] = static_cast<uint8_t>(len);
    pseudo[39] = protocol;
    plen = 40;
  }
  // The pseudo-header's sum, back in the summing order, carried into the L4 bytes' sum.
  return onesSum(l4, len, __builtin_bswap16(onesSum(pseudo, plen)));
}
}  // namespace

uint16_t l4Checksum(uint8_t family, uint8_t protocol, const uint8_t* src, const uint8_t* dst, const uint8_t* l4,
                    size_t len) {
  const uint16_t c = static_cast<uint16_t>(~l4Sum(family, protocol, src, dst, l4, len));
  return protocol == 17 && c == 0 ? 0xffff : c;  // UDP sends a computed zero as all ones
}

bool l4ChecksumOk(uint8_t family, uint8_t protocol, const uint8_t* src, const uint8_t* dst, const uint8_t* l4,
                  size_t len) {
  if (protocol != 6 && protocol != 17 && protocol != 1 && protocol != 58) return true;
  if (protocol == 17) {
    // The receiver reads the UDP length: shorter than the IP payload, the rest is not the datagram's;
    // longer (or below the header), the datagram is discarded.
    if (len < 8) return false;
    const size_t ulen = (static_cast<size_t>(l4[4]) << 8) | l4[5];
    if (ulen < 8 || ulen > len) return false;
    len = ulen;
    if (l4[6] == 0 && l4[7] == 0) return family == 4;
  }
  if ((protocol == 1 && family != 4) || (protocol == 58 && family != 6)) return false;
  return l4Sum(family, protocol, src, dst, l4, len) == 0xffff;
}

bool l4ChecksumOk(const uint8_t* data, const PacketMeta& m) {
  const size_t end = static_cast<size_t>(m.l3_offset) + m.l3_length;
  if (end <= m.l4_offset) return true;
  return l4ChecksumOk(m.family, m.protocol, m.src_ip, m.dst_ip, data + m.l4_offset, end - m.l4_offset);
}

const char* dropReasonName(DropReason r) {
  switch (r) {
    case DropReason::kNone: return "none";
    case DropReason::kTruncatedEthernet: return "truncated_ethernet";
    case DropReason::kTruncatedVlan: return "truncated_vlan";
    case DropReason::kUnsupportedEthertype: return "unsupported_ethertype";
    case DropReason::kTruncatedIp: return "truncated_ip";
    case DropReason::kBadIpVersion: return "bad_ip_version";
    case DropReason::kBadIpHeaderLength: return "bad_ip_header_length";
    case DropReason::kBadIpTotalLength: return "bad_ip_total_length";
    case DropReason::kTooManyExtensionHeaders: return "too_many_ipv6_ext_headers";
    case DropReason::kTruncatedL4: return "truncated_l4";
    case DropReason::kBadTcpHeaderLength: return "bad_tcp_header_length";
    case DropReason::kSpoofedMac: return "spoofed_mac";
    case DropReason::kSpoofedIp: return "spoofed_ip";
    case DropReason::kPolicyDeny: return "policy_deny";
    case DropReason::kTcpNoFlow: return "tcp_no_flow";
    case DropReason::kWrongPort: return "flow_wrong_port";
    case DropReason::kIcmpUnrelated: return "icmp_error_unrelated";
    case DropReason::kFlowTableFull: return "flow_table_full";
    case DropReason::kFlowCut: return "flow_cut";
    case DropReason::kDataPolicy: return "data_policy";
    case DropReason::kInspectionGap: return "inspection_gap";
    case DropReason::kEspUnknownSa: return "esp_unknown_sa";
    case DropReason::kEspReplay: return "esp_replay";
    case DropReason::kEspAuthentication: return "esp_authentication";
    case DropReason::kEspMalformed: return "esp_malformed";
    case DropReason::kTunnelNoNeighbor: return "tunnel_no_neighbor";
    case DropReason::kTunnelTooBig: return "tunnel_too_big";
    case DropReason::kTunnelSeqExhausted: return "tunnel_seq_exhausted";
    case DropReason::kTunnelNoKeys: return "tunnel_no_keys";
    case DropReason::kUnderlayOther: return "underlay_other";
    case DropReason::kFragmentUninspected: return "fragment_uninspected";
    case DropReason::kFragmentNoFlow: return "fragment_no_first";
    case DropReason::kBadIpChecksum: return "bad_ip_checksum";
    case DropReason::kBadL4Checksum: return "bad_l4_checksum";
    case DropReason::kIpOptionsInspected: return "ip_options_inspected";
    case DropReason::kTcpBadFlags: return "tcp_bad_flags";
    case DropReason::kTcpSynData: return "tcp_syn_data";
    case DropReason::kTcpSynIsn: return "tcp_syn_other_isn";
    case DropReason::kTcpNoHandshake: return "tcp_before_handshake";
    case DropReason::kTcpNoAck: return "tcp_no_ack";
    case DropReason::kTcpBadAck: return "tcp_bad_ack";
    case DropReason::kTcpOutOfWindow: return "tcp_out_of_window";
    case DropReason::kTcpPaws: return "tcp_paws";
    case DropReason::kTcpRstInvalid: return "tcp_rst_out_of_window";
    case DropReason::kTcpAfterFin: return "tcp_after_fin";
    case DropReason::kTcpHoldFull: return "tcp_hold_full";
    case DropReason::kUninspectedProtocol: return "uninspected_protocol";
    case DropReason::kTaggedFromVm: return "tagged_from_vm";
    case DropReason::kRouterGuard: return "router_guard";
    case DropReason::kNdSpoofed: return "nd_spoofed";
    case DropReason::kSpoofedFromOutside: return "spoofed_from_outside";
    case DropReason::kPortFlowLimit: return "port_flow_limit";
    case DropReason::kIpMulticast: return "ip_multicast";
    case DropReason::kUnknownDestination: return "unknown_destination";
    case DropReason::kHairpin: return "hairpin";
    case DropReason::kL2NotReachable: return "l2_not_reachable";
    case DropReason::kPortClosed: return "port_closed";
    case DropReason::kTxFull: return "tx_full";
    case DropReason::kCount: break;
  }
  return "unknown";
}

const char* dropReasonHelp(DropReason r) {
  switch (r) {
    case DropReason::kNone: return "not a drop";
    case DropReason::kTruncatedEthernet: return "frames shorter than an Ethernet header: a broken sender or device";
    case DropReason::kTruncatedVlan: return "802.1Q tag cut short or more than two tags";
    case DropReason::kUnsupportedEthertype:
      return "neither IPv4, IPv6 nor Ethernet/IPv4 ARP (e.g. LLDP, STP): not switched";
    case DropReason::kTruncatedIp: return "IP header or extension header runs past the frame";
    case DropReason::kBadIpVersion: return "IP version field disagrees with the EtherType";
    case DropReason::kBadIpHeaderLength: return "IPv4 IHL below 5 or past the frame";
    case DropReason::kBadIpTotalLength: return "IP length field larger than the frame or smaller than the header";
    case DropReason::kTooManyExtensionHeaders:
      return "more than 8 IPv6 extension headers: evasion attempt or broken sender";
    case DropReason::kTruncatedL4: return "TCP/UDP/ICMP header cut short";
    case DropReason::kBadTcpHeaderLength: return "TCP data offset below 5 or past the packet";
    case DropReason::kSpoofedMac: return "a VM sent from a MAC address it is not bound to";
    case DropReason::kSpoofedIp: return "a VM sent from an IP address (or ARP sender) it is not bound to";
    case DropReason::kPolicyDeny: return "a new connection that no allow rule admits (rule or default deny)";
    case DropReason::kIcmpUnrelated:
      return "ICMP error quoting a connection the switch does not track (or cannot parse)";
    case DropReason::kWrongPort:
      return "packet of a tracked connection from a port other than that side's (spoofed from elsewhere, or the VM "
             "moved)";
    case DropReason::kTcpNoFlow:
      return "TCP segment other than SYN with no tracked connection (e.g. after a restart, or a scan)";
    case DropReason::kFlowTableFull: return "new connection refused because the flow table is full (fail closed)";
    case DropReason::kFlowCut: return "packet of a connection that a policy reload or quarantine no longer allows";
    case DropReason::kDataPolicy:
      return "segment carrying a data class its zones may not receive (or later packets of that reset connection)";
    case DropReason::kInspectionGap:
      return "packet of a connection whose payload could not be inspected, for a data class that fails closed";
    case DropReason::kEspUnknownSa:
      return "ESP with an SPI no inbound SA has, or from an address other than its peer's";
    case DropReason::kEspReplay:
      return "ESP sequence number seen before or older than the replay window (replayed or badly late)";
    case DropReason::kEspAuthentication:
      return "ESP whose integrity check failed: tampered, injected, or sealed with another key";
    case DropReason::kEspMalformed:
      return "authentic ESP with bad padding or next header, or ECN CE on a packet whose sender does not do ECN";
    case DropReason::kTunnelNoNeighbor:
      return "tunnel traffic while the underlay next hop has not answered ARP / ND yet";
    case DropReason::kTunnelTooBig:
      return "packet too big for the tunnel after encapsulation; ICMP too big sent to its sender";
    case DropReason::kTunnelSeqExhausted: return "the outbound SA ran out of sequence numbers: new keys are needed";
    case DropReason::kTunnelNoKeys: return "toward a peer without keys (key service down, or keys expired): blocked";
    case DropReason::kUnderlayOther: return "packet to the underlay address that is neither ESP, ARP nor ND";
    case DropReason::kFragmentNoFlow:
      return "non-first IP fragment whose first fragment was not admitted (or came later)";
    case DropReason::kFragmentUninspected:
      return "IP fragment of an inspected connection that could not be gathered for inspection (overlapping fragments, "
             "or the worker's fragment hold full): dropped rather than passed unread";
    case DropReason::kBadIpChecksum:
      return "IPv4 header checksum wrong: the receiver would discard it, so the switch does (insertion attempt or a "
             "broken sender)";
    case DropReason::kBadL4Checksum:
      return "TCP/UDP/ICMP checksum wrong: discarded before it can change any state (insertion attempt, or a sender "
             "whose checksum offload is left unfinished: turn tx offload off on af_packet peers)";
    case DropReason::kIpOptionsInspected:
      return "IPv4 packet with options on an inspected connection: receivers treat options differently, so it is not "
             "passed unread";
    case DropReason::kTcpBadFlags: return "SYN with RST or FIN on an inspected connection: discarded by receivers";
    case DropReason::kTcpSynData:
      return "data on a SYN of an inspected connection: receivers without Fast Open discard it and the sender sends it "
             "again";
    case DropReason::kTcpSynIsn:
      return "a second SYN with another initial sequence number: would move where the switch reads the stream "
             "(desynchronisation attempt)";
    case DropReason::kTcpNoHandshake:
      return "data before the receiver answered the SYN: it would discard it (insertion attempt)";
    case DropReason::kTcpNoAck:
      return "TCP segment without ACK after the handshake: receivers discard it (insertion attempt)";
    case DropReason::kTcpBadAck:
      return "TCP segment acknowledging data never sent, or older than the window: receivers discard it (insertion "
             "attempt)";
    case DropReason::kTcpOutOfWindow:
      return "TCP segment beyond the receiver's advertised window: receivers discard it (insertion or "
             "desynchronisation attempt)";
    case DropReason::kTcpPaws:
      return "TCP segment with a timestamp older than the last one accepted (PAWS): receivers discard it (insertion "
             "attempt)";
    case DropReason::kTcpRstInvalid:
      return "RST outside the receiver's window: receivers ignore it, so it does not end the connection here either";
    case DropReason::kTcpAfterFin:
      return "TCP data past the sender's FIN, or a FIN at another place: receivers do not take it";
    case DropReason::kTcpHoldFull:
      return "out-of-order TCP segment the switch cannot hold for inspection (hold bound reached): dropped so the "
             "sender sends it again, never skipped unread";
    case DropReason::kUninspectedProtocol:
      return "an IP protocol the switch cannot inspect, on a connection between zones under inspection (allow it with "
             "`uninspected: true` on the rule)";
    case DropReason::kTaggedFromVm: return "802.1Q / 802.1ad tagged frame from a VM port: VM ports are access ports";
    case DropReason::kRouterGuard:
      return "router advertisement, ICMP redirect or DHCP server reply from a VM port (RA / DHCP guard)";
    case DropReason::kNdSpoofed:
      return "neighbour solicitation or advertisement from a VM whose target address or link-layer address option is "
             "not the port's binding (ND inspection)";
    case DropReason::kSpoofedFromOutside:
      return "from the uplink or a tunnel peer with a source address bound to a VM of this switch (or ARP / ND "
             "claiming one): forged";
    case DropReason::kPortFlowLimit:
      return "new connection refused: the VM port has used its share of the flow table (flow_table.per_port), so it "
             "cannot crowd out other VMs";
    case DropReason::kIpMulticast: return "IP multicast/broadcast data (other than ARP/ND) is not switched";
    case DropReason::kUnknownDestination: return "unicast to a MAC the switch does not know, arriving on the uplink";
    case DropReason::kHairpin: return "destination is the port the packet came from";
    case DropReason::kL2NotReachable: return "ARP/ND toward a port the sender's segment may not reach";
    case DropReason::kPortClosed: return "packet from a port that belongs to no segment yet (closed until assigned)";
    case DropReason::kTxFull: return "the output device refused the packet (queue full or link down)";
    case DropReason::kCount: break;
  }
  return "";
}

}  // namespace goldgate::dataplane
