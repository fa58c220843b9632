// Packet parsing for the hot path: Ethernet, 802.1Q, IPv4 (options, fragments), IPv6 (extension
// headers), TCP, UDP, ICMP, ICMPv6. Works on raw bytes, so it is tested and fuzzed without DPDK.
#pragma once

#include <cstddef>
#include <cstdint>

namespace goldgate::dataplane {

/// Why a packet was dropped. Every drop in the switch is counted under one of these.
enum class DropReason : uint8_t {
  kNone = 0,
  kTruncatedEthernet,
  kTruncatedVlan,
  kUnsupportedEthertype,
  kTruncatedIp,
  kBadIpVersion,
  kBadIpHeaderLength,
  kBadIpTotalLength,
  kTooManyExtensionHeaders,
  kTruncatedL4,
  kBadTcpHeaderLength,
  kSpoofedMac,
  kSpoofedIp,
  kPolicyDeny,
  kTcpNoFlow,
  kWrongPort,
  kIcmpUnrelated,
  kFlowTableFull,
  kFlowCut,
  kFragmentNoFlow,
  kIpMulticast,
  kUnknownDestination,
  kHairpin,
  kL2NotReachable,
  kPortClosed,
  kTxFull,
  kDataPolicy,           // a data class the policy does not let through (the flow is reset)
  kInspectionGap,        // a flow whose payload could not be inspected, for a class that fails closed
  kEspUnknownSa,         // ESP to the underlay address with an SPI no inbound SA has (or from the wrong peer)
  kEspReplay,            // ESP sequence number already seen or older than the replay window
  kEspAuthentication,    // ESP whose ICV does not verify: tampered, injected, or the wrong key
  kEspMalformed,         // authentic ESP with bad padding, next header or inner packet, or CE on a non-ECN packet
  kTunnelNoNeighbor,     // a tunnel's next hop on the underlay has not answered ARP / ND yet
  kTunnelTooBig,         // too big for the tunnel after encapsulation (ICMP "too big" sent back)
  kTunnelSeqExhausted,   // the outbound SA has used its whole sequence space (a rekey is overdue)
  kTunnelNoKeys,         // toward a peer that has no keys (its key service is down or never agreed)
  kUnderlayOther,        // to the underlay address but neither ESP, ARP nor ND
  kFragmentUninspected,  // a fragment of an inspected flow that could not be gathered (overlap, hold full)
  // Checksums and the TCP normaliser (tcp_normalizer.h): what the receiver would discard, the
  // switch discards before it changes any state or reaches inspection.
  kBadIpChecksum,
  kBadL4Checksum,
  kIpOptionsInspected,
  kTcpBadFlags,
  kTcpSynData,
  kTcpSynIsn,
  kTcpNoHandshake,
  kTcpNoAck,
  kTcpBadAck,
  kTcpOutOfWindow,
  kTcpPaws,
  kTcpRstInvalid,
  kTcpAfterFin,
  kTcpHoldFull,
  kUninspectedProtocol,
  kTaggedFromVm,
  kRouterGuard,
  kPortFlowLimit,
  kNdSpoofed,           // NS / NA from a VM whose target or link-layer address option is not its binding
  kSpoofedFromOutside,  // from the uplink or a tunnel peer with a source address bound to a VM here
  kCount
};

/// Name of a drop reason as shown by goldgatectl ("spoofed_ip").
const char* dropReasonName(DropReason r);
/// One line saying what a non-zero count of this reason means.
const char* dropReasonHelp(DropReason r);

enum PacketFlags : uint16_t {
  kFlagIp = 1 << 0,             // IPv4 or IPv6
  kFlagFragment = 1 << 1,       // any fragment (first or later)
  kFlagLaterFragment = 1 << 2,  // offset != 0: no L4 header here
  kFlagArp = 1 << 3,
  kFlagNd = 1 << 4,  // ICMPv6 router/neighbour solicitation/advertisement, redirect
  kFlagL4 = 1 << 5,  // sport/dport (or ICMP id) are valid
  kFlagVlan = 1 << 6,
  kFlagIcmpError = 1 << 7,      // ICMP/ICMPv6 error message (carries an inner packet)
  kFlagIcmpInner = 1 << 8,      // ... and its inner header parsed: inner_* are valid
  kFlagMoreFragments = 1 << 9,  // a fragment that is not its datagram's last (MF / M set)
};

/// What the parser learned about one packet. Addresses are in wire order.
struct PacketMeta {
  uint16_t flags;
  uint16_t ethertype;  // inner EtherType after VLAN tags
  uint16_t vlan;       // outermost VLAN id (0 = untagged)
  uint16_t l3_offset;
  uint16_t l4_offset;
  uint16_t l3_length;  // IP total length including header (from the header, checked against frame)
  uint8_t family;      // 0 = not IP, 4, 6
  uint8_t protocol;    // L4 protocol (after extension headers)
  uint8_t tcp_flags;
  uint8_t icmp_type;
  uint16_t sport;  // host order; ICMP echo: identifier in both
  uint16_t dport;
  uint32_t frag_id;      // IPv4 identification / IPv6 fragment identification
  uint16_t frag_offset;  // fragments: where this one's bytes start in the datagram's payload, in bytes / 8
  const uint8_t* src_mac;
  const uint8_t* dst_mac;
  const uint8_t* src_ip;  // 4 or 16 bytes
  const uint8_t* dst_ip;
  // ARP: sender MAC/IP for anti-spoofing.
  const uint8_t* arp_sender_mac;
  const uint8_t* arp_sender_ip;
  // ICMP errors: the offending packet's header, as its sender sent it (same family as the outer).
  const uint8_t* inner_src_ip;
  const uint8_t* inner_dst_ip;
  uint16_t inner_sport;
  uint16_t inner_dport;
  uint8_t inner_protocol;
};

enum TcpFlags : uint8_t { kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08, kTcpAck = 0x10 };

/// The Internet checksum's one's-complement sum of `len` bytes at `p` (RFC 1071), added to `sum`
/// and folded to 16 bits (not inverted). Pure; any alignment.
uint16_t onesSum(const uint8_t* p, size_t len, uint32_t sum = 0);

/// Whether the IPv4 header checksum of a parsed packet (`data` its first byte) is right. True for IPv6.
bool ipChecksumOk(const uint8_t* data, const PacketMeta& m);

/// Whether the L4 checksum of a parsed, unfragmented TCP, UDP, ICMP or ICMPv6 packet (`data` its
/// first byte) is right, as its receiver checks it: over the pseudo-header and the L4 bytes the IP
/// length covers. A UDP checksum of zero over IPv4 means "none" (true); over IPv6 it is invalid.
/// True for other protocols (nothing to check).
bool l4ChecksumOk(const uint8_t* data, const PacketMeta& m);

/// The same for an L4 message `l4` of `len` bytes (a gathered datagram) between `src` and `dst`.
bool l4ChecksumOk(uint8_t family, uint8_t protocol, const uint8_t* src, const uint8_t* dst, const uint8_t* l4,
                  size_t len);

/// The checksum to write into a TCP/UDP/ICMPv6 header (host order; ICMP: no pseudo-header) whose
/// checksum field is zero, over `len` L4 bytes at `l4`.
uint16_t l4Checksum(uint8_t family, uint8_t protocol, const uint8_t* src, const uint8_t* dst, const uint8_t* l4,
                    size_t len);

/// Parses `len` bytes at `data`. Returns kNone and fills `meta` on success, or the reason the
/// packet is malformed (it must then be dropped). Never reads outside [data, data+len).
/// Thread-safe (pure function).
DropReason parsePacket(const uint8_t* data, uint32_t len, PacketMeta* meta);

}  // namespace goldgate::dataplane
