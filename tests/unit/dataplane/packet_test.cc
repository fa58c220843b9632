// Contract tests of parsePacket (dataplane/src/packet.cc) on hand-built frames: every supported
// shape yields the right metadata, every malformed shape its own DropReason, and no length of a
// frame makes the parser read outside it or accept a cut-short packet.
#include <catch2/catch.hpp>

#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "goldgate/dataplane/packet.h"

using namespace goldgate::dataplane;

namespace Catch {
template <>
struct StringMaker<DropReason> {
  static std::string convert(DropReason r) { return dropReasonName(r); }
};
}  // namespace Catch

namespace {

using Bytes = std::vector<uint8_t>;

void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put32(Bytes& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}
void set16(Bytes& b, size_t off, uint16_t v) {
  b[off] = static_cast<uint8_t>(v >> 8);
  b[off + 1] = static_cast<uint8_t>(v);
}
Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

constexpr uint8_t kDstMac[6] = {0x02, 0, 0, 0, 0, 0x02};
constexpr uint8_t kSrcMac[6] = {0x02, 0, 0, 0, 0, 0x01};
constexpr uint8_t kIp4Src[4] = {10, 0, 0, 1};
constexpr uint8_t kIp4Dst[4] = {10, 0, 0, 2};
constexpr uint8_t kIp6Src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
constexpr uint8_t kIp6Dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

constexpr uint16_t kEthIpv4 = 0x0800, kEthIpv6 = 0x86dd, kEthArp = 0x0806, kEthVlan = 0x8100, kEthQinQ = 0x88a8;

// Ethernet header; `tags` are (TPID, TCI) pairs placed before the EtherType, outermost first.
Bytes ethernet(uint16_t type, const std::vector<std::pair<uint16_t, uint16_t>>& tags = {}) {
  Bytes b(kDstMac, kDstMac + 6);
  b.insert(b.end(), kSrcMac, kSrcMac + 6);
  for (const auto& [tpid, tci] : tags) {
    put16(b, tpid);
    put16(b, tci);
  }
  put16(b, type);
  return b;
}

// IPv4 header of `ihlWords` 32-bit words (options zero-filled) followed by `payload`; the total
// length field covers exactly header and payload.
Bytes ipv4(uint8_t proto, const Bytes& payload, uint16_t fragField = 0, uint8_t ihlWords = 5) {
  Bytes b;
  b.push_back(static_cast<uint8_t>(0x40 | ihlWords));
  b.push_back(0);
  put16(b, static_cast<uint16_t>(ihlWords * 4 + payload.size()));
  put16(b, 0x1234);  // identification
  put16(b, fragField);
  b.push_back(64);
  b.push_back(proto);
  put16(b, 0);  // checksum: not the parser's business
  b.insert(b.end(), kIp4Src, kIp4Src + 4);
  b.insert(b.end(), kIp4Dst, kIp4Dst + 4);
  b.resize(ihlWords * 4u, 0);
  return cat(b, payload);
}

Bytes ipv6(uint8_t next, const Bytes& payload) {
  Bytes b = {0x60, 0, 0, 0};
  put16(b, static_cast<uint16_t>(payload.size()));
  b.push_back(next);
  b.push_back(64);
  b.insert(b.end(), kIp6Src, kIp6Src + 16);
  b.insert(b.end(), kIp6Dst, kIp6Dst + 16);
  return cat(b, payload);
}

// Hop-by-hop / routing / destination options header of (lenUnits + 1) * 8 bytes.
Bytes extHeader(uint8_t next, uint8_t lenUnits = 0) {
  Bytes b((lenUnits + 1u) * 8u, 0);
  b[0] = next;
  b[1] = lenUnits;
  return b;
}

// Authentication header: its length field counts 4-byte units minus 2 (RFC 4302).
Bytes authHeader(uint8_t next, uint8_t lenField) {
  Bytes b((lenField + 2u) * 4u, 0);
  b[0] = next;
  b[1] = lenField;
  return b;
}

Bytes fragHeader(uint8_t next, uint16_t offsetUnits, bool more, uint32_t id) {
  Bytes b = {next, 0};
  put16(b, static_cast<uint16_t>((offsetUnits << 3) | (more ? 1 : 0)));
  put32(b, id);
  return b;
}

Bytes tcp(uint16_t sport, uint16_t dport, uint8_t flags, uint8_t doffWords = 5) {
  Bytes b;
  put16(b, sport);
  put16(b, dport);
  put32(b, 1000);  // seq
  put32(b, 0);     // ack
  b.push_back(static_cast<uint8_t>(doffWords << 4));
  b.push_back(flags);
  put16(b, 65535);  // window
  put32(b, 0);      // checksum, urgent pointer
  b.resize(doffWords * 4u, 0);
  return b;
}

Bytes udp(uint16_t sport, uint16_t dport, size_t payload = 0) {
  Bytes b;
  put16(b, sport);
  put16(b, dport);
  put16(b, static_cast<uint16_t>(8 + payload));
  put16(b, 0);
  b.resize(8 + payload, 0xab);
  return b;
}

// ICMP or ICMPv6 message header: type, code 0, checksum, identifier, sequence.
Bytes icmp(uint8_t type, uint16_t id = 0) {
  Bytes b = {type, 0, 0, 0};
  put16(b, id);
  put16(b, 1);
  return b;
}

Bytes arp(uint16_t htype = 1, uint16_t ptype = kEthIpv4, uint8_t hlen = 6, uint8_t plen = 4) {
  Bytes b;
  put16(b, htype);
  put16(b, ptype);
  b.push_back(hlen);
  b.push_back(plen);
  put16(b, 1);  // request
  b.insert(b.end(), kSrcMac, kSrcMac + 6);
  b.insert(b.end(), kIp4Src, kIp4Src + 4);
  b.insert(b.end(), 6, 0);
  b.insert(b.end(), kIp4Dst, kIp4Dst + 4);
  return b;
}

DropReason parse(const Bytes& b, PacketMeta* m) { return parsePacket(b.data(), static_cast<uint32_t>(b.size()), m); }

DropReason parse(const Bytes& b) {
  PacketMeta m;
  return parse(b, &m);
}

// Offset of a pointer the parser returned into frame `b`.
ptrdiff_t at(const Bytes& b, const uint8_t* p) { return p - b.data(); }

}  // namespace

TEST_CASE("parsePacket: Ethernet/IPv4/TCP", "[packet]") {
  Bytes p = cat(ethernet(kEthIpv4), ipv4(6, tcp(40000, 443, kTcpSyn)));
  PacketMeta m;
  REQUIRE(parse(p, &m) == DropReason::kNone);
  CHECK(m.flags == (kFlagIp | kFlagL4));
  CHECK(m.ethertype == kEthIpv4);
  CHECK(m.vlan == 0);
  CHECK(m.family == 4);
  CHECK(m.protocol == 6);
  CHECK(m.l3_offset == 14);
  CHECK(m.l4_offset == 34);
  CHECK(m.l3_length == 40);
  CHECK(m.sport == 40000);
  CHECK(m.dport == 443);
  CHECK(m.tcp_flags == kTcpSyn);
  CHECK(m.frag_id == 0x1234);
  CHECK(at(p, m.dst_mac) == 0);
  CHECK(at(p, m.src_mac) == 6);
  CHECK(at(p, m.src_ip) == 26);
  CHECK(at(p, m.dst_ip) == 30);
  CHECK(std::memcmp(m.src_ip, kIp4Src, 4) == 0);
  CHECK(std::memcmp(m.dst_ip, kIp4Dst, 4) == 0);
  CHECK(m.arp_sender_mac == nullptr);
  CHECK(m.arp_sender_ip == nullptr);
}

TEST_CASE("parsePacket: TCP flags and data offset with options", "[packet]") {
  PacketMeta m;
  Bytes p = cat(ethernet(kEthIpv4), ipv4(6, tcp(80, 51000, kTcpSyn | kTcpAck, 8)));
  REQUIRE(parse(p, &m) == DropReason::kNone);
  CHECK(m.tcp_flags == (kTcpSyn | kTcpAck));
  CHECK(m.sport == 80);
  CHECK(m.dport == 51000);
  CHECK(m.l3_length == 20 + 32);
}

TEST_CASE("parsePacket: IPv4/UDP and SCTP ports", "[packet]") {
  PacketMeta m;
  Bytes p = cat(ethernet(kEthIpv4), ipv4(17, udp(5353, 53, 12)));
  REQUIRE(parse(p, &m) == DropReason::kNone);
  CHECK(m.flags == (kFlagIp | kFlagL4));
  CHECK(m.protocol == 17);
  CHECK(m.sport == 5353);
  CHECK(m.dport == 53);
  CHECK(m.l4_offset == 34);
  CHECK(m.tcp_flags == 0);

  Bytes sctp = cat(ethernet(kEthIpv4), ipv4(132, udp(2905, 2906)));  // common header starts with ports too
  REQUIRE(parse(sctp, &m) == DropReason::kNone);
  CHECK(m.protocol == 132);
  CHECK((m.flags & kFlagL4) != 0);
  CHECK(m.sport == 2905);
  CHECK(m.dport == 2906);
}

TEST_CASE("parsePacket: ICMP echo uses the identifier as both ports; errors are flagged", "[packet]") {
  PacketMeta m;
  for (uint8_t type : {uint8_t{8}, uint8_t{0}, uint8_t{13}, uint8_t{14}}) {
    INFO("ICMP type " << int(type));
    Bytes p = cat(ethernet(kEthIpv4), ipv4(1, icmp(type, 0xbeef)));
    REQUIRE(parse(p, &m) == DropReason::kNone);
    CHECK(m.flags == (kFlagIp | kFlagL4));
    CHECK(m.icmp_type == type);
    CHECK(m.sport == 0xbeef);
    CHECK(m.dport == 0xbeef);
  }
  for (uint8_t type : {uint8_t{3}, uint8_t{4}, uint8_t{5}, uint8_t{11}, uint8_t{12}}) {
    INFO("ICMP type " << int(type));
    Bytes p = cat(ethernet(kEthIpv4), ipv4(1, cat(icmp(type), ipv4(17, udp(1, 2)))));
    REQUIRE(parse(p, &m) == DropReason::kNone);
    CHECK(m.flags == (kFlagIp | kFlagIcmpError | kFlagIcmpInner));
    CHECK(m.sport == 0);
    // The quoted packet's tuple, as its sender sent it.
    CHECK(m.inner_protocol == 17);
    CHECK(m.inner_sport == 1);
    CHECK(m.inner_dport == 2);
    CHECK(std::memcmp(m.inner_src_ip, kIp4Src, 4) == 0);
    CHECK(std::memcmp(m.inner_dst_ip, kIp4Dst, 4) == 0);
  }
  // A quote cut short (less than the IP header and 8 bytes of L4) is flagged but not parsed.
  Bytes cutShort = cat(ethernet(kEthIpv4), ipv4(1, cat(icmp(3), Bytes{0x45, 0, 0, 28})));
  REQUIRE(parse(cutShort, &m) == DropReason::kNone);
  CHECK(m.flags == (kFlagIp | kFlagIcmpError));
  // Quoting an ICMP echo gives its identifier as both ports.
  Bytes echoQuote = cat(ethernet(kEthIpv4), ipv4(1, cat(icmp(11), ipv4(1, icmp(8, 0x1234)))));
  REQUIRE(parse(echoQuote, &m) == DropReason::kNone);
  CHECK((m.flags & kFlagIcmpInner) != 0);
  CHECK(m.inner_protocol == 1);
  CHECK(m.inner_sport == 0x1234);
  Bytes advert = cat(ethernet(kEthIpv4), ipv4(1, icmp(9)));  // router advertisement: neither
  REQUIRE(parse(advert, &m) == DropReason::kNone);
  CHECK(m.flags == kFlagIp);
}

TEST_CASE("parsePacket: other IP protocols are accepted without ports", "[packet]") {
  PacketMeta m;
  Bytes gre = cat(ethernet(kEthIpv4), ipv4(47, Bytes(4, 0)));
  REQUIRE(parse(gre, &m) == DropReason::kNone);
  CHECK(m.flags == kFlagIp);
  CHECK(m.protocol == 47);
  CHECK(m.sport == 0);
  CHECK(m.dport == 0);
  CHECK(m.l4_offset == 34);
}

TEST_CASE("parsePacket: 802.1Q tag", "[packet]") {
  PacketMeta m;
  // TCI 0xa064: priority 5, VLAN 100. Only the 12-bit VLAN id is reported.
  Bytes p = cat(ethernet(kEthIpv4, {{kEthVlan, 0xa064}}), ipv4(17, udp(1000, 2000)));
  REQUIRE(parse(p, &m) == DropReason::kNone);
  CHECK(m.flags == (kFlagIp | kFlagL4 | kFlagVlan));
  CHECK(m.vlan == 100);
  CHECK(m.ethertype == kEthIpv4);
  CHECK(m.l3_offset == 18);
  CHECK(m.l4_offset == 38);
  CHECK(at(p, m.src_ip) == 30);
  CHECK(m.dport == 2000);
}

TEST_CASE("parsePacket: QinQ reports the outer VLAN", "[packet]") {
  PacketMeta m;
  Bytes p = cat(ethernet(kEthIpv4, {{kEthQinQ, 200}, {kEthVlan, 300}}), ipv4(6, tcp(1, 2, kTcpAck)));
  REQUIRE(parse(p, &m) == DropReason::kNone);
  CHECK(m.vlan == 200);
  CHECK((m.flags & kFlagVlan) != 0);
  CHECK(m.l3_offset == 22);
  CHECK(m.l4_offset == 42);
  CHECK(m.tcp_flags == kTcpAck);

  // Two 0x8100 tags (pre-802.1ad stacking) are accepted too.
  Bytes legacy = cat(ethernet(kEthIpv4, {{kEthVlan, 7}, {kEthVlan, 8}}), ipv4(6, tcp(1, 2, kTcpAck)));
  REQUIRE(parse(legacy, &m) == DropReason::kNone);
  CHECK(m.vlan == 7);
}

TEST_CASE("parsePacket: IPv4 options move the L4 header", "[packet]") {
  PacketMeta m;
  Bytes p = cat(ethernet(kEthIpv4), ipv4(17, udp(4000, 5000), 0, 6));
  REQUIRE(parse(p, &m) == DropReason::kNone);
  CHECK(m.l4_offset == 14 + 24);
  CHECK(m.sport == 4000);
  CHECK(m.dport == 5000);

  Bytes maxOptions = cat(ethernet(kEthIpv4), ipv4(6, tcp(4001, 5001, kTcpSyn), 0, 15));
  REQUIRE(parse(maxOptions, &m) == DropReason::kNone);
  CHECK(m.l4_offset == 14 + 60);
  CHECK(m.sport == 4001);
  CHECK(m.l3_length == 60 + 20);
}

TEST_CASE("parsePacket: IPv4 fragments", "[packet]") {
  PacketMeta m;
  SECTION("first fragment (MF, offset 0) carries the L4 header") {
    Bytes p = cat(ethernet(kEthIpv4), ipv4(17, udp(53, 40000, 100), 0x2000));
    REQUIRE(parse(p, &m) == DropReason::kNone);
    CHECK(m.flags == (kFlagIp | kFlagFragment | kFlagMoreFragments | kFlagL4));
    CHECK(m.frag_offset == 0);
    CHECK(m.frag_id == 0x1234);
    CHECK(m.sport == 53);
  }
  SECTION("middle fragment (MF, offset != 0) has no L4 header") {
    Bytes p = cat(ethernet(kEthIpv4), ipv4(17, Bytes(3, 0xee), 0x2000 | 185));
    REQUIRE(parse(p, &m) == DropReason::kNone);
    CHECK(m.flags == (kFlagIp | kFlagFragment | kFlagMoreFragments | kFlagLaterFragment));
    CHECK(m.frag_offset == 185);
    CHECK(m.protocol == 17);
    CHECK(m.l4_offset == 34);
    CHECK(m.sport == 0);
    CHECK(m.frag_id == 0x1234);
  }
  SECTION("last fragment (offset != 0, no MF) has no L4 header") {
    Bytes p = cat(ethernet(kEthIpv4), ipv4(6, Bytes(1, 0), 370));
    REQUIRE(parse(p, &m) == DropReason::kNone);
    CHECK(m.flags == (kFlagIp | kFlagFragment | kFlagLaterFragment));  // the last: no MF
    CHECK(m.frag_offset == 370);
    CHECK(m.protocol == 6);
  }
  SECTION("don't-fragment alone is not a fragment") {
    Bytes p = cat(ethernet(kEthIpv4), ipv4(6, tcp(1, 2, kTcpSyn), 0x4000));
    REQUIRE(parse(p, &m) == DropReason::kNone);
    CHECK(m.flags == (kFlagIp | kFlagL4));
  }
}

TEST_CASE("parsePacket: Ethernet padding is not part of the IP packet", "[packet]") {
  PacketMeta m;
  Bytes p = cat(ethernet(kEthIpv4), ipv4(17, udp(1, 2)));
  p.resize(60, 0);  // minimum frame size
  REQUIRE(parse(p, &m) == DropReason::kNone);
  CHECK(m.l3_length == 28);

  // A TCP header that runs past the IP total length is truncated even if the frame goes on.
  Bytes cut = cat(ethernet(kEthIpv4), ipv4(6, tcp(1, 2, kTcpSyn)));
  set16(cut, 14 + 2, 20 + 10);
  CHECK(parse(cut) == DropReason::kTruncatedL4);
}

TEST_CASE("parsePacket: IPv6/TCP", "[packet]") {
  PacketMeta m;
  Bytes p = cat(ethernet(kEthIpv6), ipv6(6, tcp(50000, 22, kTcpSyn)));
  REQUIRE(parse(p, &m) == DropReason::kNone);
  CHECK(m.flags == (kFlagIp | kFlagL4));
  CHECK(m.family == 6);
  CHECK(m.ethertype == kEthIpv6);
  CHECK(m.protocol == 6);
  CHECK(m.l3_offset == 14);
  CHECK(m.l4_offset == 54);
  CHECK(m.l3_length == 60);
  CHECK(at(p, m.src_ip) == 22);
  CHECK(at(p, m.dst_ip) == 38);
  CHECK(std::memcmp(m.src_ip, kIp6Src, 16) == 0);
  CHECK(std::memcmp(m.dst_ip, kIp6Dst, 16) == 0);
  CHECK(m.sport == 50000);
  CHECK(m.dport == 22);
}

TEST_CASE("parsePacket: IPv6 hop-by-hop and fragment extension headers", "[packet]") {
  PacketMeta m;
  SECTION("first fragment: L4 header found after both") {
    Bytes p =
        cat(ethernet(kEthIpv6), ipv6(0, cat(cat(extHeader(44), fragHeader(17, 0, true, 0xdeadbeef)), udp(5353, 53))));
    REQUIRE(parse(p, &m) == DropReason::kNone);
    CHECK(m.flags == (kFlagIp | kFlagFragment | kFlagMoreFragments | kFlagL4));
    CHECK(m.frag_offset == 0);
    CHECK(m.protocol == 17);
    CHECK(m.l4_offset == 14 + 40 + 8 + 8);
    CHECK(m.frag_id == 0xdeadbeef);
    CHECK(m.sport == 5353);
    CHECK(m.dport == 53);
    CHECK(m.l3_length == 40 + 8 + 8 + 8);
  }
  SECTION("later fragment: protocol from the fragment header, no L4") {
    Bytes p = cat(ethernet(kEthIpv6), ipv6(0, cat(cat(extHeader(44, 1), fragHeader(6, 100, false, 7)), Bytes(3, 0))));
    REQUIRE(parse(p, &m) == DropReason::kNone);
    CHECK(m.flags == (kFlagIp | kFlagFragment | kFlagLaterFragment));
    CHECK(m.frag_offset == 100);
    CHECK(m.protocol == 6);
    CHECK(m.l4_offset == 14 + 40 + 16 + 8);
    CHECK(m.frag_id == 7);
  }
  SECTION("routing and destination options headers are skipped by their length") {
    Bytes p = cat(ethernet(kEthIpv6), ipv6(43, cat(cat(extHeader(60, 2), extHeader(6, 0)), tcp(7, 8, kTcpSyn))));
    REQUIRE(parse(p, &m) == DropReason::kNone);
    CHECK(m.protocol == 6);
    CHECK(m.l4_offset == 14 + 40 + 24 + 8);
    CHECK(m.sport == 7);
  }
  SECTION("authentication header length counts 4-byte units") {
    Bytes p = cat(ethernet(kEthIpv6), ipv6(51, cat(authHeader(6, 4), tcp(9, 10, kTcpSyn))));
    REQUIRE(parse(p, &m) == DropReason::kNone);
    CHECK(m.l4_offset == 14 + 40 + 24);
    CHECK(m.sport == 9);
    CHECK(m.dport == 10);
  }
  SECTION("exactly eight extension headers are accepted") {
    Bytes chain = tcp(11, 12, kTcpSyn);
    for (int i = 0; i < 8; ++i) chain = cat(extHeader(i == 0 ? 6 : 60), chain);
    Bytes p = cat(ethernet(kEthIpv6), ipv6(60, chain));
    REQUIRE(parse(p, &m) == DropReason::kNone);
    CHECK(m.l4_offset == 14 + 40 + 64);
    CHECK(m.sport == 11);
  }
}

TEST_CASE("parsePacket: ICMPv6", "[packet]") {
  PacketMeta m;
  for (uint8_t type = 133; type <= 137; ++type) {
    INFO("ICMPv6 type " << int(type));
    Bytes p = cat(ethernet(kEthIpv6), ipv6(58, cat(icmp(type), Bytes(16, 0))));
    REQUIRE(parse(p, &m) == DropReason::kNone);
    CHECK(m.flags == (kFlagIp | kFlagNd));
    CHECK(m.icmp_type == type);
    CHECK(m.protocol == 58);
  }
  Bytes echo = cat(ethernet(kEthIpv6), ipv6(58, icmp(128, 0x4242)));
  REQUIRE(parse(echo, &m) == DropReason::kNone);
  CHECK(m.flags == (kFlagIp | kFlagL4));
  CHECK(m.sport == 0x4242);
  CHECK(m.dport == 0x4242);

  Bytes unreachable = cat(ethernet(kEthIpv6), ipv6(58, cat(icmp(1), ipv6(17, udp(1, 2)))));
  REQUIRE(parse(unreachable, &m) == DropReason::kNone);
  CHECK(m.flags == (kFlagIp | kFlagIcmpError | kFlagIcmpInner));
  CHECK(m.inner_protocol == 17);
  CHECK(m.inner_sport == 1);
  CHECK(m.inner_dport == 2);
  CHECK(std::memcmp(m.inner_src_ip, kIp6Src, 16) == 0);

  Bytes mld = cat(ethernet(kEthIpv6), ipv6(0, cat(extHeader(58), cat(icmp(143), Bytes(8, 0)))));
  REQUIRE(parse(mld, &m) == DropReason::kNone);
  CHECK(m.flags == kFlagIp);  // MLDv2 report: neither ND nor error nor echo
  CHECK(m.icmp_type == 143);
}

TEST_CASE("parsePacket: ARP", "[packet]") {
  PacketMeta m;
  Bytes p = cat(ethernet(kEthArp), arp());
  REQUIRE(parse(p, &m) == DropReason::kNone);
  CHECK(m.flags == kFlagArp);
  CHECK(m.family == 0);
  CHECK(m.ethertype == kEthArp);
  CHECK(m.l3_offset == 14);
  CHECK(at(p, m.arp_sender_mac) == 14 + 8);
  CHECK(at(p, m.arp_sender_ip) == 14 + 14);
  CHECK(std::memcmp(m.arp_sender_mac, kSrcMac, 6) == 0);
  CHECK(std::memcmp(m.arp_sender_ip, kIp4Src, 4) == 0);
  CHECK(m.src_ip == nullptr);

  Bytes tagged = cat(ethernet(kEthArp, {{kEthVlan, 10}}), arp());
  REQUIRE(parse(tagged, &m) == DropReason::kNone);
  CHECK(m.flags == (kFlagArp | kFlagVlan));
  CHECK(at(tagged, m.arp_sender_ip) == 18 + 14);

  CHECK(parse(cat(ethernet(kEthArp), arp(6))) == DropReason::kUnsupportedEthertype);  // not Ethernet
  CHECK(parse(cat(ethernet(kEthArp), arp(1, kEthIpv6))) == DropReason::kUnsupportedEthertype);
  CHECK(parse(cat(ethernet(kEthArp), arp(1, kEthIpv4, 8))) == DropReason::kUnsupportedEthertype);
  CHECK(parse(cat(ethernet(kEthArp), arp(1, kEthIpv4, 6, 16))) == DropReason::kUnsupportedEthertype);
  Bytes shortArp = cat(ethernet(kEthArp), arp());
  shortArp.pop_back();
  CHECK(parse(shortArp) == DropReason::kTruncatedIp);
}

TEST_CASE("parsePacket: malformed frames give their specific drop reason", "[packet]") {
  const Bytes tcp4 = cat(ethernet(kEthIpv4), ipv4(6, tcp(1, 2, kTcpSyn)));

  SECTION("truncated Ethernet") {
    CHECK(parse(Bytes{}) == DropReason::kTruncatedEthernet);
    CHECK(parse(Bytes(tcp4.begin(), tcp4.begin() + 13)) == DropReason::kTruncatedEthernet);
  }
  SECTION("truncated or too many VLAN tags") {
    Bytes tag = ethernet(kEthIpv4, {{kEthVlan, 5}});
    CHECK(parse(Bytes(tag.begin(), tag.end() - 1)) == DropReason::kTruncatedVlan);
    Bytes outerOnly = ethernet(kEthVlan);
    CHECK(parse(outerOnly) == DropReason::kTruncatedVlan);
    Bytes three = cat(ethernet(kEthIpv4, {{kEthQinQ, 1}, {kEthVlan, 2}, {kEthVlan, 3}}), ipv4(6, tcp(1, 2, kTcpSyn)));
    CHECK(parse(three) == DropReason::kTruncatedVlan);
  }
  SECTION("truncated IP header") {
    CHECK(parse(Bytes(tcp4.begin(), tcp4.begin() + 14 + 19)) == DropReason::kTruncatedIp);
    Bytes v6 = cat(ethernet(kEthIpv6), ipv6(59, {}));
    CHECK(parse(v6) == DropReason::kNone);  // no next header, empty payload: well-formed
    CHECK(parse(Bytes(v6.begin(), v6.end() - 1)) == DropReason::kTruncatedIp);
    Bytes tagged = ethernet(kEthIpv4, {{kEthVlan, 5}});
    CHECK(parse(tagged) == DropReason::kTruncatedIp);
  }
  SECTION("truncated IPv6 extension header") {
    CHECK(parse(cat(ethernet(kEthIpv6), ipv6(0, Bytes(4, 0)))) == DropReason::kTruncatedIp);
    // Hop-by-hop claims 16 bytes, 8 are there.
    CHECK(parse(cat(ethernet(kEthIpv6), ipv6(0, Bytes{6, 1, 0, 0, 0, 0, 0, 0}))) == DropReason::kTruncatedIp);
    CHECK(parse(cat(ethernet(kEthIpv6), ipv6(44, Bytes{6, 0, 0, 0}))) == DropReason::kTruncatedIp);
    CHECK(parse(cat(ethernet(kEthIpv6), ipv6(51, Bytes{6, 4, 0, 0, 0, 0, 0, 0}))) == DropReason::kTruncatedIp);
  }
  SECTION("wrong IP version for the EtherType") {
    Bytes v4in6 = cat(ethernet(kEthIpv6), ipv6(6, tcp(1, 2, kTcpSyn)));
    v4in6[14] = 0x45;
    CHECK(parse(v4in6) == DropReason::kBadIpVersion);
    Bytes v6in4 = tcp4;
    v6in4[14] = 0x65;
    CHECK(parse(v6in4) == DropReason::kBadIpVersion);
  }
  SECTION("bad IPv4 header length") {
    Bytes ihl4 = tcp4;
    ihl4[14] = 0x44;
    CHECK(parse(ihl4) == DropReason::kBadIpHeaderLength);
    Bytes ihl0 = tcp4;
    ihl0[14] = 0x40;
    CHECK(parse(ihl0) == DropReason::kBadIpHeaderLength);
    Bytes pastFrame = cat(ethernet(kEthIpv4), ipv4(17, udp(1, 2)));
    pastFrame[14] = 0x4f;  // 60-byte header in a 28-byte packet
    CHECK(parse(pastFrame) == DropReason::kBadIpHeaderLength);
  }
  SECTION("IP total length larger than the frame, or smaller than the header") {
    Bytes tooLong = tcp4;
    set16(tooLong, 14 + 2, 41);
    CHECK(parse(tooLong) == DropReason::kBadIpTotalLength);
    Bytes tooShort = tcp4;
    set16(tooShort, 14 + 2, 19);
    CHECK(parse(tooShort) == DropReason::kBadIpTotalLength);
    Bytes v6 = cat(ethernet(kEthIpv6), ipv6(6, tcp(1, 2, kTcpSyn)));
    set16(v6, 14 + 4, 21);
    CHECK(parse(v6) == DropReason::kBadIpTotalLength);
  }
  SECTION("truncated L4 header") {
    Bytes tcp19 = tcp(1, 2, kTcpSyn);
    tcp19.pop_back();
    CHECK(parse(cat(ethernet(kEthIpv4), ipv4(6, tcp19))) == DropReason::kTruncatedL4);
    CHECK(parse(cat(ethernet(kEthIpv6), ipv6(6, tcp19))) == DropReason::kTruncatedL4);
    Bytes udp7 = udp(1, 2);
    udp7.pop_back();
    CHECK(parse(cat(ethernet(kEthIpv4), ipv4(17, udp7))) == DropReason::kTruncatedL4);
    CHECK(parse(cat(ethernet(kEthIpv4), ipv4(132, udp7))) == DropReason::kTruncatedL4);
    Bytes icmp7 = icmp(8, 1);
    icmp7.pop_back();
    CHECK(parse(cat(ethernet(kEthIpv4), ipv4(1, icmp7))) == DropReason::kTruncatedL4);
    CHECK(parse(cat(ethernet(kEthIpv6), ipv6(58, icmp7))) == DropReason::kTruncatedL4);
  }
  SECTION("bad TCP data offset") {
    Bytes doff4 = tcp(1, 2, kTcpSyn);
    doff4[12] = 4 << 4;  // 16 bytes: below the minimum header
    CHECK(parse(cat(ethernet(kEthIpv4), ipv4(6, doff4))) == DropReason::kBadTcpHeaderLength);
    Bytes doff0 = tcp(1, 2, kTcpSyn);
    doff0[12] = 0;
    CHECK(parse(cat(ethernet(kEthIpv4), ipv4(6, doff0))) == DropReason::kBadTcpHeaderLength);
    Bytes doff6 = tcp(1, 2, kTcpSyn);
    doff6[12] = 6 << 4;  // claims 24 bytes, 20 present
    CHECK(parse(cat(ethernet(kEthIpv4), ipv4(6, doff6))) == DropReason::kBadTcpHeaderLength);
    CHECK(parse(cat(ethernet(kEthIpv6), ipv6(6, doff6))) == DropReason::kBadTcpHeaderLength);
  }
  SECTION("more than eight IPv6 extension headers") {
    Bytes chain = tcp(1, 2, kTcpSyn);
    for (int i = 0; i < 9; ++i) chain = cat(extHeader(i == 0 ? 6 : 60), chain);
    CHECK(parse(cat(ethernet(kEthIpv6), ipv6(0, chain))) == DropReason::kTooManyExtensionHeaders);
    // Fragment headers count too.
    Bytes frags = udp(1, 2);
    for (int i = 0; i < 9; ++i) frags = cat(fragHeader(i == 0 ? 17 : 44, 0, true, 1), frags);
    CHECK(parse(cat(ethernet(kEthIpv6), ipv6(44, frags))) == DropReason::kTooManyExtensionHeaders);
  }
  SECTION("unsupported EtherType") {
    CHECK(parse(cat(ethernet(0x88cc), Bytes(46, 0))) == DropReason::kUnsupportedEthertype);  // LLDP
    CHECK(parse(cat(ethernet(0x88cc, {{kEthVlan, 1}}), Bytes(46, 0))) == DropReason::kUnsupportedEthertype);
    CHECK(parse(ethernet(0x0000)) == DropReason::kUnsupportedEthertype);
  }
}

namespace {

// Parses the first `len` bytes of `full` from a buffer of exactly `len` bytes, so that a sanitizer
// build catches any read past the end.
DropReason parsePrefix(const Bytes& full, uint32_t len, PacketMeta* m) {
  std::unique_ptr<uint8_t[]> buf(new uint8_t[len ? len : 1]);
  std::memcpy(buf.get(), full.data(), len);
  return parsePacket(buf.get(), len, m);
}

}  // namespace

TEST_CASE("parsePacket: every truncation of a valid frame is rejected with a sane reason", "[packet]") {
  const std::vector<std::pair<const char*, Bytes>> frames = {
      {"vlan ipv4 options tcp", cat(ethernet(kEthIpv4, {{kEthVlan, 9}}), ipv4(6, tcp(1, 2, kTcpSyn, 6), 0, 7))},
      {"ipv6 hbh frag udp",
       cat(ethernet(kEthIpv6), ipv6(0, cat(cat(extHeader(44), fragHeader(17, 0, true, 5)), udp(1, 2, 3))))},
      {"ipv6 icmpv6 ns", cat(ethernet(kEthIpv6), ipv6(58, cat(icmp(135), Bytes(16, 0))))},
      {"arp", cat(ethernet(kEthArp), arp())},
  };
  const std::set<DropReason> sane = {DropReason::kTruncatedEthernet, DropReason::kTruncatedVlan,
                                     DropReason::kTruncatedIp, DropReason::kBadIpHeaderLength,
                                     DropReason::kBadIpTotalLength};
  for (const auto& [name, frame] : frames) {
    INFO(name);
    PacketMeta m;
    REQUIRE(parsePrefix(frame, static_cast<uint32_t>(frame.size()), &m) == DropReason::kNone);
    for (uint32_t len = 0; len < frame.size(); ++len) {
      INFO("length " << len << " of " << frame.size());
      DropReason r = parsePrefix(frame, len, &m);
      CHECK(sane.count(r) == 1);
      if (len < 14) CHECK(r == DropReason::kTruncatedEthernet);
    }
  }
}

TEST_CASE("parsePacket: mutated frames never yield offsets outside the frame", "[packet]") {
  const std::vector<Bytes> seeds = {
      cat(ethernet(kEthIpv4, {{kEthVlan, 9}}), ipv4(6, tcp(1, 2, kTcpSyn, 6), 0, 7)),
      cat(ethernet(kEthIpv6), ipv6(0, cat(cat(extHeader(44), fragHeader(17, 0, true, 5)), udp(1, 2, 3)))),
      cat(ethernet(kEthIpv4), ipv4(1, icmp(8, 3))),
      cat(ethernet(kEthArp), arp()),
  };
  std::mt19937 rng(20240611);  // fixed seed: the same frames every run
  uint32_t accepted = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    Bytes f = seeds[iter % seeds.size()];
    int flips = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < flips; ++k) f[rng() % f.size()] = static_cast<uint8_t>(rng());
    // Half of the frames whole, half cut at a random length.
    uint32_t len = static_cast<uint32_t>((rng() & 1) ? f.size() : rng() % (f.size() + 1));
    PacketMeta m;
    if (parsePrefix(f, len, &m) != DropReason::kNone) continue;
    ++accepted;
    INFO("iteration " << iter);
    REQUIRE(m.l3_offset <= len);
    if (m.flags & kFlagIp) REQUIRE(uint32_t{m.l3_offset} + m.l3_length <= len);
    if (m.flags & kFlagL4) REQUIRE(uint32_t{m.l4_offset} + 8 <= len);
    if ((m.flags & kFlagL4) && m.protocol == 6) REQUIRE(uint32_t{m.l4_offset} + 20 <= len);
    if (m.flags & kFlagArp) REQUIRE(uint32_t{m.l3_offset} + 28 <= len);
  }
  CHECK(accepted > 1000);  // the invariants were exercised, not skipped
}

TEST_CASE("every drop reason has a distinct name and a help line", "[packet]") {
  std::set<std::string> names;
  for (int i = 0; i < static_cast<int>(DropReason::kCount); ++i) {
    auto r = static_cast<DropReason>(i);
    INFO("reason " << i);
    CHECK(std::string(dropReasonName(r)) != "unknown");
    CHECK(std::strlen(dropReasonHelp(r)) > 0);
    names.insert(dropReasonName(r));
  }
  CHECK(names.size() == static_cast<size_t>(DropReason::kCount));
  CHECK(std::string(dropReasonName(DropReason::kTooManyExtensionHeaders)) == "too_many_ipv6_ext_headers");
}
