// ESP (RFC 4303 / RFC 4106): sealing and opening, the anti-replay window with extended sequence
// numbers (including the 2^32 boundary), padding and next-header checks, ECN on decapsulation.
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "goldgate/crypto/esp.h"

using namespace goldgate::crypto;

namespace {

struct Fixture {
  uint8_t key[32];
  uint8_t salt[4] = {0xca, 0xfe, 0xba, 0xbe};
  std::unique_ptr<Gcm256> gcm;
  Fixture() {
    for (int i = 0; i < 32; ++i) key[i] = static_cast<uint8_t>(0x40 + i);
    gcm = makeGcm256(key, AeadEngine::kAuto).value();
  }
  // A sealed packet of `len` inner bytes (value b) with sequence `seq`.
  std::vector<uint8_t> seal(uint64_t seq, size_t len, bool esn = true, uint8_t b = 0x45, uint8_t nh = kNextHeaderIpv4) {
    std::vector<uint8_t> buf(kEspPrefixLen + len + kEspMaxTrailerLen);
    std::memset(buf.data() + kEspPrefixLen, b, len);
    size_t n = espSeal(*gcm, salt, 0x1001, esn, seq, nh, buf.data() + kEspPrefixLen, len);
    buf.resize(n);
    return buf;
  }
};

}  // namespace

TEST_CASE("ESP seals and opens inner packets of every padding length", "[crypto][esp]") {
  Fixture f;
  for (size_t len : {20u, 21u, 22u, 23u, 40u, 1400u, 1446u}) {
    ReplayWindow w;
    auto pkt = f.seal(7, len);
    INFO("inner length " << len);
    CHECK(pkt.size() == kEspPrefixLen + len + espTrailerLen(len));
    CHECK((pkt.size() - kEspPrefixLen - kEspIcvLen) % 4 == 0);
    CHECK(espSpi(pkt.data(), pkt.size()) == 0x1001);
    // The IV is the sequence number; the wire sequence field its low half.
    CHECK(pkt[7] == 7);
    CHECK(pkt[15] == 7);
    EspOpened o;
    REQUIRE(espOpen(*f.gcm, f.salt, true, w, pkt.data(), pkt.size(), &o) == EspError::kNone);
    CHECK(o.inner_len == len);
    CHECK(o.next_header == kNextHeaderIpv4);
    CHECK(o.seq == 7);
    CHECK(o.inner == pkt.data() + kEspPrefixLen);
    CHECK(std::all_of(o.inner, o.inner + len, [](uint8_t c) { return c == 0x45; }));
  }
}

TEST_CASE("ESP refuses tampering, truncation, replays and the wrong key", "[crypto][esp]") {
  Fixture f;
  auto good = f.seal(1, 100);
  ReplayWindow w;
  EspOpened o;
  for (size_t at : {0u, 5u, 9u, 20u, 60u}) {  // SPI, sequence, IV, ciphertext
    auto p = good;
    p[at] ^= 0x01;
    INFO("flipped byte " << at);
    CHECK(espOpen(*f.gcm, f.salt, true, w, p.data(), p.size(), &o) == EspError::kAuthentication);
  }
  auto p = good;
  p.back() ^= 0x80;  // ICV
  CHECK(espOpen(*f.gcm, f.salt, true, w, p.data(), p.size(), &o) == EspError::kAuthentication);
  CHECK(w.top() == 0);  // nothing forged moved the window
  p = good;
  CHECK(espOpen(*f.gcm, f.salt, true, w, p.data(), 30, &o) == EspError::kTruncated);
  CHECK(espOpen(*f.gcm, f.salt, true, w, p.data(), p.size() - 1, &o) == EspError::kTruncated);
  p = good;
  CHECK(espOpen(*f.gcm, f.salt, true, w, p.data(), p.size(), &o) == EspError::kNone);
  p = good;
  CHECK(espOpen(*f.gcm, f.salt, true, w, p.data(), p.size(), &o) == EspError::kReplay);
  // The wrong salt (half of the key material) fails authentication.
  uint8_t salt2[4] = {0, 0, 0, 0};
  ReplayWindow w2;
  p = good;
  CHECK(espOpen(*f.gcm, salt2, true, w2, p.data(), p.size(), &o) == EspError::kAuthentication);
  // ESN on one side only: the AAD differs, so the packet does not authenticate.
  p = f.seal(5, 64, false);
  CHECK(espOpen(*f.gcm, f.salt, true, w2, p.data(), p.size(), &o) == EspError::kAuthentication);
  p = f.seal(5, 64, false);
  CHECK(espOpen(*f.gcm, f.salt, false, w2, p.data(), p.size(), &o) == EspError::kNone);
}

TEST_CASE("ESP refuses bad padding and an unknown next header from an authentic sender", "[crypto][esp]") {
  Fixture f;
  ReplayWindow w;
  EspOpened o;
  auto p = f.seal(1, 64, true, 0x45, 6);  // next header TCP: transport mode, not this tunnel's
  CHECK(espOpen(*f.gcm, f.salt, true, w, p.data(), p.size(), &o) == EspError::kNextHeader);
  // A packet built by hand with the SA's key: 60 inner bytes, padding "7 7" instead of "1 2".
  auto hand = [&](uint64_t seq, std::vector<uint8_t> plain) {
    std::vector<uint8_t> pkt(16 + plain.size() + 16);
    const uint8_t hdr[16] = {0, 0, 0x10, 0x01, 0, 0, 0, static_cast<uint8_t>(seq),
                             0, 0, 0,    0,    0, 0, 0, static_cast<uint8_t>(seq)};
    std::memcpy(pkt.data(), hdr, 16);
    uint8_t nonce[12], aad[12] = {0, 0, 0x10, 0x01, 0, 0, 0, 0, 0, 0, 0, static_cast<uint8_t>(seq)};
    std::memcpy(nonce, f.salt, 4);
    std::memcpy(nonce + 4, hdr + 8, 8);
    f.gcm->seal(nonce, aad, 12, plain.data(), pkt.data() + 16, plain.size(), pkt.data() + 16 + plain.size());
    return pkt;
  };
  std::vector<uint8_t> plain(60, 0x45);
  for (uint8_t b : {7, 7, 2, 4}) plain.push_back(b);
  auto bad = hand(2, plain);
  CHECK(espOpen(*f.gcm, f.salt, true, w, bad.data(), bad.size(), &o) == EspError::kPadding);
  plain[60] = 1, plain[61] = 2;  // the same packet with the default padding opens
  auto okPkt = hand(3, plain);
  REQUIRE(espOpen(*f.gcm, f.salt, true, w, okPkt.data(), okPkt.size(), &o) == EspError::kNone);
  CHECK(o.inner_len == 60);
  std::vector<uint8_t> huge(8, 0x45);  // pad length larger than the ciphertext
  huge.push_back(250), huge.push_back(4);
  huge.push_back(0), huge.push_back(0);
  auto tooLong = hand(4, huge);
  CHECK(espOpen(*f.gcm, f.salt, true, w, tooLong.data(), tooLong.size(), &o) != EspError::kNone);
}

TEST_CASE("Replay window: order, duplicates, age, and a window of at least 1,024", "[crypto][esp][replay]") {
  ReplayWindow w;
  uint64_t s = 0;
  CHECK_FALSE(w.check(0, true, &s));  // sequence numbers start at 1
  REQUIRE(w.check(1, true, &s));
  w.accept(s);
  CHECK_FALSE(w.check(1, true, &s));
  REQUIRE(w.check(5000, true, &s));
  w.accept(5000);
  // Anything within the window that was not seen is accepted, once; older is refused.
  for (uint32_t n : {5000u - ReplayWindow::kBits + 1, 4000u, 4999u}) {
    INFO(n);
    REQUIRE(w.check(n, true, &s));
    CHECK(s == n);
    w.accept(s);
    CHECK_FALSE(w.check(n, true, &s));
  }
  // Older than the window: without ESN refused; with ESN it reads as the next 2^32 subspace
  // (RFC 4303 A2.2), whose AAD then fails the ICV.
  CHECK_FALSE(w.check(5000u - ReplayWindow::kBits, false, &s));
  REQUIRE(w.check(5000u - ReplayWindow::kBits, true, &s));
  CHECK(s == (uint64_t{1} << 32) + 5000u - ReplayWindow::kBits);
  CHECK(ReplayWindow::kBits >= 1024);
  // Reordering by up to the window's size is tolerated: accept 1,024 numbers in reverse.
  ReplayWindow r;
  r.accept(20000);
  for (uint32_t n = 20000 - 1; n > 20000 - 1024; --n) {
    REQUIRE(r.check(n, true, &s));
    r.accept(s);
  }
  for (uint32_t n = 20000 - 1; n > 20000 - 1024; --n) CHECK_FALSE(r.check(n, true, &s));
  // A jump further than the window clears it.
  r.accept(20000 + 3 * ReplayWindow::kBits);
  CHECK(r.check(20000 + 3 * ReplayWindow::kBits - 1, true, &s));
}

TEST_CASE("Replay window: extended sequence numbers across the 2^32 boundary", "[crypto][esp][replay]") {
  ReplayWindow w;
  uint64_t s = 0;
  const uint64_t base = (uint64_t{1} << 32) - 10;
  w.accept(base);
  // Low halves just past the wrap belong to the next subspace.
  REQUIRE(w.check(5, true, &s));
  CHECK(s == (uint64_t{1} << 32) + 5);
  w.accept(s);
  // Late packets from before the wrap are still in the window (top's low half is small now).
  REQUIRE(w.check(0xfffffff8u, true, &s));
  CHECK(s == base + 2);
  w.accept(s);
  CHECK_FALSE(w.check(0xfffffff8u, true, &s));
  CHECK_FALSE(w.check(5, true, &s));  // replay of the post-wrap packet
  // Without ESN a 32-bit number never wraps into the next subspace.
  ReplayWindow n;
  n.accept(0xfffffff0u);
  REQUIRE(n.check(0xfffffff1u, false, &s));
  CHECK(s == 0xfffffff1u);
  CHECK_FALSE(n.check(3, false, &s));
  // A fresh window cannot place a low half just below 2^32: it would be before the start.
  ReplayWindow fresh;
  CHECK_FALSE(fresh.check(0xfffffffdu, true, &s));
  // Sealing and opening across the wrap end to end.
  Fixture f;
  ReplayWindow rw;
  rw.accept((uint64_t{1} << 32) - 4);  // the SA has been in use: its window is near the boundary
  EspOpened o;
  for (uint64_t q = (uint64_t{1} << 32) - 3; q < (uint64_t{1} << 32) + 3; ++q) {
    auto p = f.seal(q, 40);
    REQUIRE(espOpen(*f.gcm, f.salt, true, rw, p.data(), p.size(), &o) == EspError::kNone);
    CHECK(o.seq == q);
  }
}

TEST_CASE("ECN on decapsulation follows RFC 6040", "[crypto][esp]") {
  // outer Not-ECT/ECT: inner unchanged
  CHECK(innerTosAfterDecap(0x00, 0xb8 | 2) == (0xb8 | 2));
  CHECK(innerTosAfterDecap(0x02, 0x02) == 0x02);
  // outer CE: inner ECT becomes CE, inner Not-ECT is dropped
  CHECK(innerTosAfterDecap(0x03, 0x02) == 0x03);
  CHECK(innerTosAfterDecap(0x03, 0x01) == 0x03);
  CHECK(innerTosAfterDecap(0x03, 0x00) == -1);
  CHECK(innerTosAfterDecap(0x03, 0x03) == 0x03);
  // outer ECT(1) over inner ECT(0): ECT(1); every other ECT combination keeps the inner value
  CHECK(innerTosAfterDecap(0x01, 0xb8 | 2) == (0xb8 | 1));
  CHECK(innerTosAfterDecap(0x02, 0x01) == 0x01);
  CHECK(innerTosAfterDecap(0x01, 0x00) == 0x00);
  CHECK(innerTosAfterDecap(0x02, 0x03) == 0x03);
  // encapsulation copies DSCP and ECN
  CHECK(outerTos(0xb9) == 0xb9);
}
