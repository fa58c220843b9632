// Network-order integer types that cannot be mixed up with host order by accident.
#pragma once

#include <cstdint>
#include <cstring>

namespace goldgate {

/// A big-endian (network order) value of type T. Convert with value() / make().
template <typename T>
class BigEndian {
 public:
  constexpr BigEndian() = default;
  static constexpr BigEndian make(T host) {
    BigEndian b;
    b.raw_ = swap(host);
    return b;
  }
  static constexpr BigEndian fromRaw(T raw) {
    BigEndian b;
    b.raw_ = raw;
    return b;
  }
  constexpr T value() const { return swap(raw_); }
  constexpr T raw() const { return raw_; }
  constexpr bool operator==(const BigEndian&) const = default;

 private:
  static constexpr T swap(T v) {
    if constexpr (sizeof(T) == 1) return v;
    if constexpr (sizeof(T) == 2) return static_cast<T>(__builtin_bswap16(v));
    if constexpr (sizeof(T) == 4) return static_cast<T>(__builtin_bswap32(v));
    if constexpr (sizeof(T) == 8) return static_cast<T>(__builtin_bswap64(v));
  }
  T raw_ = 0;
};

using be16 = BigEndian<uint16_t>;
using be32 = BigEndian<uint32_t>;
static_assert(sizeof(be16) == 2 && sizeof(be32) == 4);

/// Reads a big-endian 16/32-bit value from possibly unaligned bytes.
inline uint16_t loadBe16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t loadBe32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
/// Writes a big-endian 16/32-bit value to possibly unaligned bytes.
inline void storeBe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void storeBe32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}

}  // namespace goldgate
