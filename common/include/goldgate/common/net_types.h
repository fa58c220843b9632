// Addresses and prefixes: MAC and IP addresses and CIDR prefixes as configuration, manifests and
// the compiled tables see them (shared by the switch, the host monitor, attestation and the CLI).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace goldgate {

/// An Ethernet address in wire order.
struct MacAddr {
  std::array<uint8_t, 6> bytes{};
  bool operator==(const MacAddr&) const = default;
  /// The address as a 48-bit integer (first byte most significant).
  uint64_t toU64() const;
  bool isMulticast() const { return (bytes[0] & 1) != 0; }
  std::string toString() const;
  /// Parses "aa:bb:cc:dd:ee:ff"; nullopt when malformed.
  static std::optional<MacAddr> parse(std::string_view text);
};

/// An IPv4 or IPv6 address in wire order; IPv4 uses the first four bytes.
struct IpAddr {
  uint8_t family = 0;  // 4 or 6
  std::array<uint8_t, 16> bytes{};
  auto operator<=>(const IpAddr&) const = default;
  std::string toString() const;
  /// Parses dotted IPv4 or RFC 4291 IPv6 text; nullopt when malformed.
  static std::optional<IpAddr> parse(std::string_view text);
  /// Builds from wire bytes (4 or 16 of them).
  static IpAddr fromBytes(uint8_t family, const uint8_t* wire);
};

/// An address prefix ("10.0.0.0/8", "2001:db8::/32").
struct Cidr {
  IpAddr addr;
  uint8_t length = 0;
  bool contains(const IpAddr& ip) const;
  std::string toString() const;
  /// Parses "addr/len" or a bare address (full length); nullopt when malformed or host bits set.
  static std::optional<Cidr> parse(std::string_view text);
};

}  // namespace goldgate
