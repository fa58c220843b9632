#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstring>

#include "goldgate/alerts/alert_log.h"

namespace goldgate::alerts {

std::string communityId(uint8_t family, const uint8_t* src, const uint8_t* dst, uint8_t proto, uint16_t sport,
                        uint16_t dport) {
  if (proto != 6 && proto != 17 && proto != 132) return "";
  const int alen = family == 4 ? 4 : 16;
  // Order the endpoints so both directions give the same ID (spec: smaller address first).
  int c = std::memcmp(src, dst, alen);
  if (c > 0 || (c == 0 && sport > dport)) {
    std::swap(src, dst);
    std::swap(sport, dport);
  }
  uint8_t buf[2 + 16 + 16 + 2 + 4];
  size_t n = 0;
  buf[n++] = 0;  // seed 0, big-endian
  buf[n++] = 0;
  std::memcpy(buf + n, src, alen);
  n += alen;
  std::memcpy(buf + n, dst, alen);
  n += alen;
  buf[n++] = proto;
  buf[n++] = 0;
  buf[n++] = static_cast<uint8_t>(sport >> 8);
  buf[n++] = static_cast<uint8_t>(sport);
  buf[n++] = static_cast<uint8_t>(dport >> 8);
  buf[n++] = static_cast<uint8_t>(dport);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(buf, n, digest);
  unsigned char b64[64];
  int len = EVP_EncodeBlock(b64, digest, SHA_DIGEST_LENGTH);
  return "1:" + std::string(reinterpret_cast<char*>(b64), len);
}

}  // namespace goldgate::alerts
