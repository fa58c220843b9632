// Fuzz target: ESP from the underlay, and static SA key files. Whatever arrives, opening must not
// crash or read outside the packet; a packet that opens must be exactly one the key's holder
// sealed; the replay window never accepts a sequence number twice. The first byte picks the mode:
//   0: the input is an ESP packet (starting at the SPI), opened with a fixed SA;
//   1: a packet is sealed from the input, one of its bytes changed as the input says, then opened:
//      any change must be refused;
//   2: the input is a key file.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "goldgate/crypto/esp.h"
#include "goldgate/crypto/sa_file.h"

using namespace goldgate::crypto;

namespace {

Gcm256& cipher() {
  static std::unique_ptr<Gcm256> g = [] {
    uint8_t key[32];
    for (int i = 0; i < 32; ++i) key[i] = static_cast<uint8_t>(i);
    return makeGcm256(key, AeadEngine::kAuto).value();
  }();
  return *g;
}
const uint8_t kSalt[4] = {1, 2, 3, 4};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0] % 3;
  data++, size--;
  if (mode == 0) {
    std::vector<uint8_t> buf(data, data + size);
    ReplayWindow w;
    EspOpened o;
    const bool esn = size % 2;
    if (espOpen(cipher(), kSalt, esn, w, buf.data(), buf.size(), &o) == EspError::kNone) {
      // Only a holder of the key could have made this: the fuzzer cannot forge a 128-bit tag.
      if (o.inner < buf.data() || o.inner + o.inner_len > buf.data() + buf.size()) abort();
      std::vector<uint8_t> again(data, data + size);
      if (espOpen(cipher(), kSalt, esn, w, again.data(), again.size(), &o) != EspError::kReplay) abort();
    }
    return 0;
  }
  if (mode == 1) {
    if (size < 4) return 0;
    const size_t at = (size_t{data[0]} << 8 | data[1]);
    const uint8_t flip = data[2] ? data[2] : 1;
    const uint8_t* inner = data + 3;
    const size_t len = std::min<size_t>(size - 3, 2000);
    std::vector<uint8_t> buf(kEspPrefixLen + len + kEspMaxTrailerLen);
    std::memcpy(buf.data() + kEspPrefixLen, inner, len);
    const size_t n = espSeal(cipher(), kSalt, 0x1234, true, 1 + len, kNextHeaderIpv4, buf.data() + kEspPrefixLen, len);
    buf.resize(n);
    ReplayWindow w;
    EspOpened o;
    std::vector<uint8_t> copy = buf;
    copy[at % n] ^= flip;
    if (espOpen(cipher(), kSalt, true, w, copy.data(), copy.size(), &o) == EspError::kNone)
      abort();  // a change got through
    if (espOpen(cipher(), kSalt, true, w, buf.data(), buf.size(), &o) != EspError::kNone) abort();
    if (o.inner_len != len || std::memcmp(o.inner, inner, len) != 0) abort();
    return 0;
  }
  auto r = parseStaticSas(std::string(reinterpret_cast<const char*>(data), size), "fuzz.yaml");
  if (r)
    for (const auto& sa : *r)
      if (sa.spi < 256) abort();
  return 0;
}
