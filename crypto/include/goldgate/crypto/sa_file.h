// Static security associations from a key file, for interop and simple set-ups:
//
//   sas:
//     - peer: site-b          # a peer in goldgate.yaml `tunnel.peers`
//       direction: out        # out: we encrypt with it; in: we accept it
//       spi: 0x00001001       # 256 .. 2^32-1 (0 and 1..255 are reserved, RFC 4303)
//       key: 0x<72 hex digits> # rfc4106(gcm(aes)): 32-byte AES key + 4-byte salt, as `ip xfrm` takes it
//       esn: true             # 64-bit extended sequence numbers (default true)
//
// The file must not be readable or writable by group or others (0600 or tighter); a wider file
// is refused. Keys are erased from memory when the SA objects holding them are destroyed.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "goldgate/common/result.h"

namespace goldgate::crypto {

struct StaticSa {
  enum class Direction : uint8_t { kOut, kIn };
  std::string peer;
  Direction direction = Direction::kOut;
  uint32_t spi = 0;
  std::array<uint8_t, 36> key{};  // AES-256 key, then the 4-byte salt
  bool esn = true;
  int line = 0;

  StaticSa() = default;
  StaticSa(const StaticSa&) = default;
  StaticSa& operator=(const StaticSa&) = default;
  ~StaticSa();
};

/// Reads `path` (refused if group or others may read or write it). Errors: "path:line: reason".
Result<std::vector<StaticSa>> loadStaticSas(const std::string& path);
/// Parses key-file text; `name` is used in messages. Used by tests and fuzzing.
Result<std::vector<StaticSa>> parseStaticSas(const std::string& text, const std::string& name);

}  // namespace goldgate::crypto
