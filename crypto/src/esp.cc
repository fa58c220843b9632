#include "goldgate/crypto/esp.h"

#include <algorithm>
#include <cstring>

namespace goldgate::crypto {
namespace {

void put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

uint32_t get32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

size_t makeAad(uint8_t* aad, uint32_t spi, bool esn, uint64_t seq) {
  put32(aad, spi);
  if (esn) {
    put32(aad + 4, static_cast<uint32_t>(seq >> 32));
    put32(aad + 8, static_cast<uint32_t>(seq));
    return 12;
  }
  put32(aad + 4, static_cast<uint32_t>(seq));
  return 8;
}

}  // namespace

bool ReplayWindow::check(uint32_t seqLow, bool esn, uint64_t* seq) const {
  uint64_t s;
  if (!esn) {
    s = seqLow;
  } else {
    // RFC 4303 Appendix A2.2: which 2^32 subspace the low bits belong to, judged from the window.
    const uint32_t tl = static_cast<uint32_t>(top_), th = static_cast<uint32_t>(top_ >> 32);
    const uint32_t bottom = tl - (kBits - 1);  // modulo 2^32
    uint64_t sh;
    if (tl >= kBits - 1) {
      sh = seqLow >= bottom ? th : uint64_t{th} + 1;
    } else {
      if (seqLow >= bottom) {
        if (th == 0) return false;  // before the first sequence number
        sh = th - 1;
      } else {
        sh = th;
      }
    }
    s = (sh << 32) | seqLow;
  }
  if (s == 0) return false;
  *seq = s;
  if (s > top_) return true;
  if (top_ - s >= kBits) return false;
  return !((bits_[(s / 64) % (kBits / 64)] >> (s % 64)) & 1);
}

void ReplayWindow::accept(uint64_t seq) {
  if (seq > top_) {
    const uint64_t shift = seq - top_;
    if (shift >= kBits) {
      std::memset(bits_, 0, sizeof bits_);
    } else {
      // Clear the bits of the numbers the window slides past (top_+1 .. seq), a word at a time.
      uint64_t n = top_ + 1, left = shift;
      while (left > 0) {
        const uint64_t bit = n % 64;
        const uint64_t span = std::min<uint64_t>(64 - bit, left);
        const uint64_t mask = span == 64 ? ~uint64_t{0} : ((uint64_t{1} << span) - 1) << bit;
        bits_[(n / 64) % (kBits / 64)] &= ~mask;
        n += span;  // wraps past 2^64 - 1 only on the last step
        left -= span;
      }
    }
    top_ = seq;
  }
  bits_[(seq / 64) % (kBits / 64)] |= uint64_t{1} << (seq % 64);
}

void ReplayWindow::resumeAt(uint64_t top) {
  top_ = top;
  std::memset(bits_, 0xff, sizeof bits_);
}

size_t espSeal(Gcm256& gcm, const uint8_t* salt, uint32_t spi, bool esn, uint64_t seq, uint8_t nextHeader,
               uint8_t* inner, size_t len) {
  uint8_t* esp = inner - kEspPrefixLen;
  put32(esp, spi);
  put32(esp + 4, static_cast<uint32_t>(seq));
  put32(esp + 8, static_cast<uint32_t>(seq >> 32));  // IV: the full sequence number, unique per key
  put32(esp + 12, static_cast<uint32_t>(seq));
  const size_t pad = (4 - (len + 2) % 4) % 4;
  uint8_t* t = inner + len;
  for (size_t i = 0; i < pad; ++i) t[i] = static_cast<uint8_t>(i + 1);  // RFC 4303 §2.4 default padding
  t[pad] = static_cast<uint8_t>(pad);
  t[pad + 1] = nextHeader;
  const size_t ctLen = len + pad + 2;
  uint8_t nonce[Gcm256::kNonceLen];
  std::memcpy(nonce, salt, 4);
  std::memcpy(nonce + 4, esp + 8, 8);
  uint8_t aad[12];
  const size_t aadLen = makeAad(aad, spi, esn, seq);
  gcm.seal(nonce, aad, aadLen, inner, inner, ctLen, inner + ctLen);
  return kEspPrefixLen + ctLen + kEspIcvLen;
}

uint32_t espSpi(const uint8_t* esp, size_t len) { return len >= kEspHeaderLen ? get32(esp) : 0; }

EspError espOpen(Gcm256& gcm, const uint8_t* salt, bool esn, ReplayWindow& window, uint8_t* esp, size_t len,
                 EspOpened* out) {
  // Header, IV, at least the pad length and next header bytes, the ICV; the ciphertext is a
  // multiple of 4 bytes (RFC 4303 §2.4).
  if (len < kEspPrefixLen + 4 + kEspIcvLen || (len - kEspPrefixLen - kEspIcvLen) % 4 != 0) return EspError::kTruncated;
  uint64_t seq = 0;
  if (!window.check(get32(esp + 4), esn, &seq)) return EspError::kReplay;
  const size_t ctLen = len - kEspPrefixLen - kEspIcvLen;
  uint8_t nonce[Gcm256::kNonceLen];
  std::memcpy(nonce, salt, 4);
  std::memcpy(nonce + 4, esp + 8, 8);
  uint8_t aad[12];
  const size_t aadLen = makeAad(aad, get32(esp), esn, seq);
  uint8_t* ct = esp + kEspPrefixLen;
  if (!gcm.open(nonce, aad, aadLen, ct, ct, ctLen, ct + ctLen)) return EspError::kAuthentication;
  // Authentic from here on: the sender holds the key. The window moves even if the contents are
  // then refused, so the same packet cannot be tried again.
  window.accept(seq);
  const uint8_t pad = ct[ctLen - 2];
  const uint8_t nh = ct[ctLen - 1];
  if (static_cast<size_t>(pad) + 2 > ctLen) return EspError::kPadding;
  const size_t innerLen = ctLen - 2 - pad;
  for (uint8_t i = 0; i < pad; ++i)
    if (ct[innerLen + i] != i + 1) return EspError::kPadding;
  if (nh != kNextHeaderIpv4 && nh != kNextHeaderIpv6) return EspError::kNextHeader;
  out->inner = ct;
  out->inner_len = innerLen;
  out->next_header = nh;
  out->seq = seq;
  return EspError::kNone;
}

const char* espErrorName(EspError e) {
  switch (e) {
    case EspError::kNone: return "none";
    case EspError::kTruncated: return "truncated";
    case EspError::kReplay: return "replay";
    case EspError::kAuthentication: return "authentication";
    case EspError::kPadding: return "padding";
    case EspError::kNextHeader: return "next_header";
  }
  return "?";
}

}  // namespace goldgate::crypto
