// Unit tests of the TCP normaliser (dataplane/tcp_normalizer.h) and the checksum helpers
// (packet.h): each segment a Linux receiver would discard is refused with its reason and changes
// nothing; what it takes passes.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "goldgate/dataplane/packet.h"
#include "goldgate/dataplane/tcp_normalizer.h"

using goldgate::dataplane::DropReason;
using goldgate::dataplane::TcpNormalizer;
using goldgate::dataplane::TcpSegment;
namespace dp = goldgate::dataplane;

namespace {

constexpr uint32_t kCli = 1000, kSrv = 900000;

TcpSegment seg(uint32_t seq, uint32_t ack, uint8_t flags, uint32_t len = 0, uint16_t win = 1000) {
  TcpSegment s;
  s.seq = seq, s.ack = ack, s.flags = flags, s.payload_len = len, s.window = win;
  return s;
}

// A connection through its handshake, both sides with window scale 4 and timestamps.
struct Conn {
  TcpNormalizer n;
  uint32_t rcv[2] = {kCli + 1, kSrv + 1};  // each direction's next in-order byte (as reassembly would have it)
  Conn() {
    TcpSegment syn = seg(kCli, 0, dp::kTcpSyn);
    syn.wscale = 4, syn.has_ts = true, syn.tsval = 100;
    REQUIRE(n.segment(0, syn, false, 0).drop == DropReason::kNone);
    TcpSegment sa = seg(kSrv, kCli + 1, dp::kTcpSyn | dp::kTcpAck, 0, 1000);
    sa.wscale = 4, sa.has_ts = true, sa.tsval = 5000;
    REQUIRE(n.segment(1, sa, false, 0).drop == DropReason::kNone);
    TcpSegment ack = seg(kCli + 1, kSrv + 1, dp::kTcpAck, 0, 1000);
    ack.has_ts = true, ack.tsval = 101;
    REQUIRE(n.segment(0, ack, true, rcv[0]).drop == DropReason::kNone);
  }
  // Client data: its window is the server's (1000 unscaled on the SYN-ACK).
  TcpNormalizer::Decision data(uint32_t seq, uint32_t len, uint8_t flags = dp::kTcpAck | dp::kTcpPsh,
                               uint32_t ack = kSrv + 1, uint32_t ts = 0) {
    TcpSegment s = seg(seq, ack, flags, len);
    if (ts) s.has_ts = true, s.tsval = ts;
    auto d = n.segment(0, s, true, rcv[0]);
    if (d.drop == DropReason::kNone && d.deliver && seq == rcv[0]) rcv[0] += len;
    return d;
  }
};

}  // namespace

TEST_CASE("normaliser: in-window data with a valid ACK passes and is delivered") {
  Conn c;
  auto d = c.data(kCli + 1, 500);
  CHECK(d.drop == DropReason::kNone);
  CHECK(d.deliver);
}

TEST_CASE("normaliser: data before the receiver's SYN-ACK is refused") {
  TcpNormalizer n;
  REQUIRE(n.segment(0, seg(kCli, 0, dp::kTcpSyn), false, 0).drop == DropReason::kNone);
  CHECK(n.segment(0, seg(kCli + 1, 0, dp::kTcpAck | dp::kTcpPsh, 10), true, kCli + 1).drop ==
        DropReason::kTcpNoHandshake);
}

TEST_CASE("normaliser: each segment a Linux receiver discards is refused with its reason") {
  Conn c;
  SECTION("no ACK flag") { CHECK(c.data(kCli + 1, 10, dp::kTcpPsh).drop == DropReason::kTcpNoAck); }
  SECTION("ACK of data never sent") {
    CHECK(c.data(kCli + 1, 10, dp::kTcpAck, kSrv + 100).drop == DropReason::kTcpBadAck);
  }
  SECTION("ACK older than the window") {
    REQUIRE(c.n.segment(1, seg(kSrv + 1, kCli + 1, dp::kTcpAck, 100000), true, kSrv + 1).drop == DropReason::kNone);
    TcpSegment upd = seg(kCli + 1, kSrv + 100001, dp::kTcpAck, 0, 10);  // the client acknowledges it all
    REQUIRE(c.n.segment(0, upd, true, c.rcv[0]).drop == DropReason::kNone);
    CHECK(c.data(kCli + 1, 10, dp::kTcpAck, kSrv + 1).drop ==
          DropReason::kTcpBadAck);  // 100000 back: more than its largest window (16000)
  }
  SECTION("beyond the receiver's window (1000 on its SYN-ACK)") {
    CHECK(c.data(kCli + 1 + 1000, 10).drop == DropReason::kTcpOutOfWindow);
    CHECK(c.data(kCli + 1 + (1u << 30), 10).drop == DropReason::kTcpOutOfWindow);
    CHECK(c.data(kCli + 1 + 999, 10).drop == DropReason::kNone);  // starts inside: taken
  }
  SECTION("a PAWS-old timestamp") {
    REQUIRE(c.data(kCli + 1, 10, dp::kTcpAck, kSrv + 1, 500).drop == DropReason::kNone);
    CHECK(c.data(kCli + 11, 10, dp::kTcpAck, kSrv + 1, 400).drop == DropReason::kTcpPaws);
    CHECK(c.data(kCli + 11, 10, dp::kTcpAck, kSrv + 1, 499).drop == DropReason::kNone);  // within PAWS's slack of 1
  }
  SECTION("a second SYN with another ISN") {
    CHECK(c.n.segment(0, seg(kCli + 77, 0, dp::kTcpSyn), true, c.rcv[0]).drop == DropReason::kTcpSynIsn);
    CHECK(c.n.segment(0, seg(kCli, 0, dp::kTcpSyn), true, c.rcv[0]).drop == DropReason::kNone);  // a retransmission
  }
  SECTION("data on a SYN, SYN with RST") {
    TcpNormalizer n;
    CHECK(n.segment(0, seg(kCli, 0, dp::kTcpSyn, 20), false, 0).drop == DropReason::kTcpSynData);
    CHECK(n.segment(0, seg(kCli, 0, dp::kTcpSyn | dp::kTcpRst), false, 0).drop == DropReason::kTcpBadFlags);
  }
  SECTION("a SYN-ACK acknowledging another SYN") {
    TcpNormalizer n;
    REQUIRE(n.segment(0, seg(kCli, 0, dp::kTcpSyn), false, 0).drop == DropReason::kNone);
    CHECK(n.segment(1, seg(kSrv, kCli + 5, dp::kTcpSyn | dp::kTcpAck), false, 0).drop == DropReason::kTcpBadAck);
  }
}

TEST_CASE("normaliser: a RST resets only at the next expected byte; in the window it changes nothing") {
  Conn c;
  auto exact = c.n.segment(0, seg(kCli + 1, 0, dp::kTcpRst), true, c.rcv[0]);
  CHECK(exact.drop == DropReason::kNone);
  CHECK(exact.reset);
  auto inWindow = c.n.segment(0, seg(kCli + 50, 0, dp::kTcpRst), true, c.rcv[0]);
  CHECK(inWindow.drop == DropReason::kNone);
  CHECK_FALSE(inWindow.reset);
  CHECK(c.n.segment(0, seg(kCli + 5000000, 0, dp::kTcpRst), true, c.rcv[0]).drop == DropReason::kTcpRstInvalid);
}

TEST_CASE("normaliser: a FIN ends its direction where the in-order stream reaches it; nothing passes after it") {
  Conn c;
  REQUIRE(c.data(kCli + 101, 50, dp::kTcpAck | dp::kTcpFin).drop == DropReason::kNone);  // out of order: 1..100 missing
  CHECK_FALSE(c.n.finished(0, c.rcv[0]));
  REQUIRE(c.data(kCli + 1, 100).drop == DropReason::kNone);
  CHECK(c.n.finished(0, kCli + 151));
  CHECK(c.data(kCli + 151, 10).drop == DropReason::kTcpAfterFin);
  CHECK(c.data(kCli + 120, 10, dp::kTcpAck | dp::kTcpFin).drop == DropReason::kTcpAfterFin);  // a FIN elsewhere
  // An out-of-window FIN changes nothing.
  Conn d;
  CHECK(d.data(kCli + 5000000, 0, dp::kTcpAck | dp::kTcpFin).drop == DropReason::kTcpOutOfWindow);
  CHECK_FALSE(d.n.finished(0, kCli + 5000000));
}

TEST_CASE("normaliser: window scaling applies after the handshake, and only when both sides offered it") {
  Conn c;
  // The server advertises 1000 << 4 after the handshake.
  REQUIRE(c.n.segment(1, seg(kSrv + 1, kCli + 1, dp::kTcpAck, 0, 1000), true, kSrv + 1).drop == DropReason::kNone);
  CHECK(c.data(kCli + 1 + 15000, 10).drop == DropReason::kNone);
  CHECK(c.data(kCli + 1 + 16000, 10).drop == DropReason::kTcpOutOfWindow);
  TcpNormalizer n;  // no scale on the SYN: the SYN-ACK's scale is not applied
  REQUIRE(n.segment(0, seg(kCli, 0, dp::kTcpSyn), false, 0).drop == DropReason::kNone);
  TcpSegment sa = seg(kSrv, kCli + 1, dp::kTcpSyn | dp::kTcpAck, 0, 1000);
  sa.wscale = 4;
  REQUIRE(n.segment(1, sa, false, 0).drop == DropReason::kNone);
  REQUIRE(n.segment(0, seg(kCli + 1, kSrv + 1, dp::kTcpAck), true, kCli + 1).drop == DropReason::kNone);
  REQUIRE(n.segment(1, seg(kSrv + 1, kCli + 1, dp::kTcpAck, 0, 1000), true, kSrv + 1).drop == DropReason::kNone);
  CHECK(n.segment(0, seg(kCli + 1 + 1500, kSrv + 1, dp::kTcpAck, 10), true, kCli + 1).drop ==
        DropReason::kTcpOutOfWindow);
}

TEST_CASE("normaliser: a connection picked up mid-stream is followed from its first segments") {
  TcpNormalizer n;
  auto d = n.segment(0, seg(5000, 7000, dp::kTcpAck | dp::kTcpPsh, 100), false, 0);
  CHECK(d.drop == DropReason::kNone);
  CHECK(d.deliver);
  CHECK_FALSE(n.fromHandshake());
  CHECK(n.segment(1, seg(7000, 5100, dp::kTcpAck | dp::kTcpPsh, 100), false, 0).drop == DropReason::kNone);
}

TEST_CASE("parseTcpSegment reads options as Linux does") {
  uint8_t h[60] = {};
  h[12] = 15 << 4;  // 60-byte header
  h[13] = dp::kTcpSyn;
  // NOP, window scale 20 (clamped to 14), timestamp, then a malformed option: parsing stops there.
  const uint8_t opts[] = {1, 3, 3, 20, 8, 10, 0, 0, 1, 0, 0, 0, 0, 0, 8, 1};
  std::memcpy(h + 20, opts, sizeof opts);
  TcpSegment s;
  dp::parseTcpSegment(h, 60, 0, &s);
  CHECK(s.wscale == 14);
  CHECK(s.has_ts);
  CHECK(s.tsval == 256);
  h[13] = dp::kTcpAck;  // window scale counts only on a SYN
  dp::parseTcpSegment(h, 60, 0, &s);
  CHECK(s.wscale == -1);
  const uint8_t badLen[] = {8, 12, 0, 0, 0, 1, 0, 0, 0, 0};  // a timestamp of the wrong length is ignored
  std::memset(h + 20, 0, 40);
  std::memcpy(h + 20, badLen, sizeof badLen);
  dp::parseTcpSegment(h, 60, 0, &s);
  CHECK_FALSE(s.has_ts);
}

TEST_CASE("checksums: a valid TCP, UDP and ICMP packet verifies; one flipped bit does not") {
  // IPv4 + TCP with payload, checksums computed by the helpers themselves, then checked by a
  // reference sum written here independently (RFC 1071, word by word).
  std::vector<uint8_t> p(14 + 20 + 20 + 7, 0);
  p[12] = 0x08;
  uint8_t* ip = p.data() + 14;
  ip[0] = 0x45, ip[2] = 0, ip[3] = 20 + 20 + 7, ip[8] = 64, ip[9] = 6;
  const uint8_t src[4] = {10, 0, 0, 1}, dst[4] = {203, 0, 113, 9};
  std::memcpy(ip + 12, src, 4), std::memcpy(ip + 16, dst, 4);
  auto refSum = [](const uint8_t* d, size_t n, uint32_t s) {
    for (size_t i = 0; i + 1 < n; i += 2) s += (d[i] << 8) | d[i + 1];
    if (n & 1) s += d[n - 1] << 8;
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return static_cast<uint16_t>(s);
  };
  uint16_t ic = static_cast<uint16_t>(~refSum(ip, 20, 0));
  ip[10] = static_cast<uint8_t>(ic >> 8), ip[11] = static_cast<uint8_t>(ic);
  uint8_t* tcp = ip + 20;
  tcp[12] = 5 << 4, tcp[13] = dp::kTcpAck;
  std::memcpy(tcp + 20, "abcdefg", 7);
  const uint16_t c = dp::l4Checksum(4, 6, src, dst, tcp, 27);
  uint8_t pseudo[12] = {10, 0, 0, 1, 203, 0, 113, 9, 0, 6, 0, 27};
  tcp[16] = static_cast<uint8_t>(c >> 8), tcp[17] = static_cast<uint8_t>(c);
  CHECK(refSum(tcp, 27, refSum(pseudo, 12, 0)) == 0xffff);
  dp::PacketMeta m{};
  REQUIRE(dp::parsePacket(p.data(), static_cast<uint32_t>(p.size()), &m) == DropReason::kNone);
  CHECK(dp::ipChecksumOk(p.data(), m));
  CHECK(dp::l4ChecksumOk(p.data(), m));
  p[14 + 20 + 25] ^= 0x10;
  CHECK_FALSE(dp::l4ChecksumOk(p.data(), m));
  p[14 + 20 + 25] ^= 0x10;
  ip[8] = 1;  // TTL changed without the header checksum
  CHECK_FALSE(dp::ipChecksumOk(p.data(), m));
  // UDP: a zero checksum is "none" over IPv4; a length field past the IP payload is refused.
  uint8_t udp[12] = {0, 53, 0, 53, 0, 12, 0, 0, 'q', 'u', 'e', 'r'};
  CHECK(dp::l4ChecksumOk(4, 17, src, dst, udp, 12));
  CHECK_FALSE(dp::l4ChecksumOk(6, 17, src, dst, udp, 12));
  udp[5] = 20;
  CHECK_FALSE(dp::l4ChecksumOk(4, 17, src, dst, udp, 12));
}
