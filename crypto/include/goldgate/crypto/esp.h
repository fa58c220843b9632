// ESP in tunnel mode (RFC 4303) with AES-256-GCM (RFC 4106): sealing and opening packets in
// place, 64-bit extended sequence numbers, the anti-replay window, and the outer header's
// DSCP / ECN rules (RFC 4301 §5.1.2, RFC 6040). Works on byte buffers, so it is tested and fuzzed
// without DPDK; the switch calls it on mbuf data.
//
// Wire layout of what espSeal writes (offsets from the SPI):
//   0 SPI | 4 sequence (low 32 bits) | 8 IV (8 bytes: the 64-bit sequence number) |
//   16 inner packet | padding 1,2,3… | pad length | next header | ICV (16 bytes)
// AAD: SPI, [sequence high 32 bits when ESN], sequence low 32 bits (RFC 4106 §5).
// Nonce: the SA's 4-byte salt followed by the IV (RFC 4106 §4).
#pragma once

#include <cstddef>
#include <cstdint>

#include "goldgate/crypto/gcm.h"

namespace goldgate::crypto {

constexpr size_t kEspHeaderLen = 8;  // SPI + sequence
constexpr size_t kEspIvLen = 8;
constexpr size_t kEspIcvLen = 16;
constexpr size_t kEspPrefixLen = kEspHeaderLen + kEspIvLen;  // bytes written before the inner packet
constexpr size_t kEspMaxTrailerLen = 3 + 2 + kEspIcvLen;     // bytes written after it, at most
constexpr uint8_t kNextHeaderIpv4 = 4;
constexpr uint8_t kNextHeaderIpv6 = 41;

/// Bytes added after an inner packet of `len` bytes: padding to 4-byte alignment, the pad length
/// and next header bytes, and the ICV.
constexpr size_t espTrailerLen(size_t len) { return ((4 - (len + 2) % 4) % 4) + 2 + kEspIcvLen; }

/// The anti-replay window of an inbound SA: 64-bit sequence numbers inferred from the low 32 bits
/// on the wire as RFC 4303 Appendix A2 describes. check() is side-effect free; accept() is called
/// only after the ICV verified, so a forged packet never moves the window.
class ReplayWindow {
 public:
  static constexpr uint32_t kBits = 2048;  // packets; RFC 4303 asks for at least 32 (64 recommended)

  /// With ESN: infers the full number of `seqLow`; without: the number is `seqLow`. False if the
  /// packet is a replay, older than the window, or would need a number before the start.
  bool check(uint32_t seqLow, bool esn, uint64_t* seq) const;
  void accept(uint64_t seq);
  /// Resumes after a restart: every number up to `top` counts as seen.
  void resumeAt(uint64_t top);
  uint64_t top() const { return top_; }

 private:
  uint64_t top_ = 0;                // highest sequence number accepted (0: none yet)
  uint64_t bits_[kBits / 64] = {};  // bit (n mod kBits) set: n was accepted
};

/// Seals the inner packet of `len` bytes at `inner` in place. kEspPrefixLen bytes before `inner`
/// and espTrailerLen(len) bytes after it must be writable. Returns the ESP packet's length, which
/// starts at inner - kEspPrefixLen. `seq` must be >= 1 and never repeat under one key.
size_t espSeal(Gcm256& gcm, const uint8_t* salt, uint32_t spi, bool esn, uint64_t seq, uint8_t nextHeader,
               uint8_t* inner, size_t len);

enum class EspError : uint8_t { kNone, kTruncated, kReplay, kAuthentication, kPadding, kNextHeader };
const char* espErrorName(EspError e);

/// What espOpen found.
struct EspOpened {
  uint8_t* inner = nullptr;  // the decrypted inner packet, inside the input buffer
  size_t inner_len = 0;
  uint8_t next_header = 0;
  uint64_t seq = 0;
};

/// Reads the SPI of an ESP packet of `len` bytes (0 if shorter than a header).
uint32_t espSpi(const uint8_t* esp, size_t len);

/// Verifies and decrypts in place the ESP packet of `len` bytes at `esp` (starting at the SPI;
/// the caller found the SA by that SPI). On kNone the replay window has accepted the sequence
/// number. On kTruncated, kReplay or kAuthentication nothing about the SA changed; on kPadding or
/// kNextHeader the packet was authentic, so its sequence number is spent (it cannot be tried
/// again). On any error the buffer's contents are undefined.
EspError espOpen(Gcm256& gcm, const uint8_t* salt, bool esn, ReplayWindow& window, uint8_t* esp, size_t len,
                 EspOpened* out);

/// The outer header's traffic class on encapsulation: DSCP copied from the inner packet
/// (RFC 4301 §5.1.2.1) and ECN copied too (RFC 6040 normal mode).
constexpr uint8_t outerTos(uint8_t innerTos) { return innerTos; }

/// The inner header's traffic class after decapsulation (RFC 6040 §4.2, Figure 4), or -1: drop
/// (CE on the outside of a packet whose sender does not do ECN). ECN codepoints: 0 Not-ECT,
/// 1 ECT(1), 2 ECT(0), 3 CE.
constexpr int innerTosAfterDecap(uint8_t outerTos, uint8_t innerTos) {
  const uint8_t outerEcn = outerTos & 3, innerEcn = innerTos & 3;
  if (innerEcn == 0) return outerEcn == 3 ? -1 : innerTos;         // Not-ECT stays, unless marked CE
  if (outerEcn == 3) return innerTos | 3;                          // CE is passed on
  if (outerEcn == 1 && innerEcn == 2) return (innerTos & ~3) | 1;  // ECT(1) outside wins over ECT(0)
  return innerTos;
}

}  // namespace goldgate::crypto
