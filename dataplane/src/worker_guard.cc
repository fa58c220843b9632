// What a port may send: checksums as the receiver checks them, the guards on VM ports, address
// ownership (anti-spoofing, ND) from VM ports and tunnel peers, and claims from the outside on a
// VM's addresses. Pass 1 of the worker (worker.cc) asks these before any state changes.
#include <rte_mbuf.h>

#include <cstring>

#include "worker.h"

namespace goldgate::dataplane {

DropReason Worker::checksums(rte_mbuf* m, const PacketMeta& pm) {
  if (!(pm.flags & kFlagIp)) return DropReason::kNone;
  // Offload-aware: a device that verified a checksum says so (GOOD / BAD); NONE means the data is
  // valid and the checksum field was left for the host to finish (a VM's checksum offload).
  const uint64_t ipf = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
  const uint64_t l4f = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
  const uint8_t* data = rte_pktmbuf_mtod(m, const uint8_t*);
  if (m->nb_segs > 1) {
    if (linear_.size() < rte_pktmbuf_pkt_len(m)) linear_.resize(rte_pktmbuf_pkt_len(m));
    data = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, rte_pktmbuf_pkt_len(m), linear_.data()));
    if (!data) return DropReason::kTruncatedL4;
  }
  if (ipf == RTE_MBUF_F_RX_IP_CKSUM_BAD || (ipf == RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN && !ipChecksumOk(data, pm)))
    return DropReason::kBadIpChecksum;
  // A fragment's L4 checksum covers the whole datagram: checked when it is gathered (inspected
  // connections), left to the receiver otherwise.
  if (pm.flags & kFlagFragment) return DropReason::kNone;
  if (l4f == RTE_MBUF_F_RX_L4_CKSUM_BAD || (l4f == RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN && !l4ChecksumOk(data, pm)))
    return DropReason::kBadL4Checksum;
  return DropReason::kNone;
}

// Addresses, from a VM port or a tunnel peer: the source (or ARP sender) must be the port's own;
// a port that binds none sends only address acquisition. ND from a VM is inspected too: the
// target of an advertisement, or of duplicate address detection, must be one of its addresses,
// and a link-layer address option must be its MAC (else it could take over a neighbour's address
// in other VMs' caches while its own source address is correct).
DropReason Worker::sourceCheck(const CompiledPolicy& pol, uint16_t in, const PacketMeta& pm, const uint8_t* data) {
  const bool acquisition = (pm.flags & (kFlagArp | kFlagNd)) ||
                           (pm.protocol == 17 && (pm.flags & kFlagL4) && (pm.dport == 67 || pm.dport == 547));
  bool ok = true;
  if (pm.flags & kFlagArp) ok = pol.sourceIpAllowed(in, 4, pm.arp_sender_ip, acquisition);
  else if (pm.flags & kFlagIp) ok = pol.sourceIpAllowed(in, pm.family, pm.src_ip, acquisition);
  if (!ok)
    return pol.isTunnel(in) && pol.boundToVm((pm.flags & kFlagArp) ? 4 : pm.family,
                                             (pm.flags & kFlagArp) ? pm.arp_sender_ip : pm.src_ip)
               ? DropReason::kSpoofedFromOutside
               : DropReason::kSpoofedIp;
  if (!(pm.flags & kFlagNd) || pol.isTunnel(in)) return DropReason::kNone;
  // ND in fragments: its options could go on in a fragment not read here (RFC 6980 has receivers
  // drop it).
  if (pm.flags & kFlagFragment) return DropReason::kNdSpoofed;
  const PortBinding& bind = pol.port(in);
  const uint8_t* target = nullptr;
  uint32_t opts = 0;
  if (!ndFields(pm, data, &target, &opts)) return DropReason::kNdSpoofed;
  static constexpr uint8_t kUnspecified[16] = {};
  const bool dad = pm.icmp_type == 135 && std::memcmp(pm.src_ip, kUnspecified, 16) == 0;
  const bool bound = !bind.ipv4.empty() || !bind.ipv6.empty();
  if (target && (pm.icmp_type == 136 || (dad && bound)) && !pol.sourceIpAllowed(in, 6, target))
    return DropReason::kNdSpoofed;
  const uint32_t end = ndEnd(pm);
  for (uint32_t o = opts; o + 2 <= end;) {
    const uint32_t olen = uint32_t{data[o + 1]} * 8;
    if (olen == 0 || o + olen > end) return DropReason::kNdSpoofed;  // receivers discard it whole
    if ((data[o] == 1 || data[o] == 2) && olen >= 8 && bind.mac && macOf(data + o + 2) != bind.mac)
      return DropReason::kNdSpoofed;
    o += olen;
  }
  return DropReason::kNone;
}

// From the uplink: ARP or ND that claims an address bound to a VM here (its sender, source or
// advertised target) is forged. IP packets are checked when they would open a connection (pass 3).
DropReason Worker::outsideClaim(const CompiledPolicy& pol, const PacketMeta& pm, const uint8_t* data) {
  if (pm.flags & kFlagArp)
    return pol.boundToVm(4, pm.arp_sender_ip) ? DropReason::kSpoofedFromOutside : DropReason::kNone;
  if (!(pm.flags & kFlagNd)) return DropReason::kNone;
  if (pol.boundToVm(6, pm.src_ip)) return DropReason::kSpoofedFromOutside;
  const uint8_t* target = nullptr;
  uint32_t opts = 0;
  if (pm.icmp_type == 136 && ndFields(pm, data, &target, &opts) && target && pol.boundToVm(6, target))
    return DropReason::kSpoofedFromOutside;
  return DropReason::kNone;
}

uint32_t Worker::ndEnd(const PacketMeta& pm) { return uint32_t{pm.l3_offset} + pm.l3_length; }

// The target address (NS, NA, redirect) and where the options start; false when the message is
// too short for its fixed part.
bool Worker::ndFields(const PacketMeta& pm, const uint8_t* data, const uint8_t** target, uint32_t* opts) {
  const uint32_t off = pm.l4_offset, end = ndEnd(pm);
  const uint32_t fixed = pm.icmp_type == 133 ? 8 : pm.icmp_type == 134 ? 16 : pm.icmp_type == 137 ? 40 : 24;
  if (off == 0 || off + fixed > end) return false;
  *target = (pm.icmp_type == 135 || pm.icmp_type == 136 || pm.icmp_type == 137) ? data + off + 8 : nullptr;
  *opts = off + fixed;
  return true;
}

DropReason Worker::vmGuard(const PacketMeta& pm, const uint8_t* data) {
  if (pm.flags & kFlagVlan) return DropReason::kTaggedFromVm;
  if (!(pm.flags & kFlagIp) || pm.l4_offset == 0) return DropReason::kNone;
  // ICMPv6 router advertisement (134) and redirect (137); ICMP redirect (5).
  if (pm.protocol == 58 && (pm.icmp_type == 134 || pm.icmp_type == 137)) return DropReason::kRouterGuard;
  if (pm.protocol == 1 && pm.icmp_type == 5) return DropReason::kRouterGuard;
  // DHCP (67 -> 68) and DHCPv6 (547 -> 546) server messages: a VM answering its neighbours' requests.
  if (pm.protocol == 17 && (pm.flags & kFlagL4) && !(pm.flags & kFlagLaterFragment) &&
      ((pm.sport == 67 && pm.dport == 68) || (pm.sport == 547 && pm.dport == 546)))
    return DropReason::kRouterGuard;
  (void)data;
  return DropReason::kNone;
}

}  // namespace goldgate::dataplane
