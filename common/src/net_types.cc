#include "goldgate/common/net_types.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>

namespace goldgate {

uint64_t MacAddr::toU64() const {
  uint64_t v = 0;
  for (uint8_t b : bytes) v = (v << 8) | b;
  return v;
}

std::string MacAddr::toString() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2], bytes[3], bytes[4],
                bytes[5]);
  return buf;
}

std::optional<MacAddr> MacAddr::parse(std::string_view text) {
  if (text.size() != 17) return std::nullopt;
  MacAddr m;
  for (int i = 0; i < 6; ++i) {
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = hex(text[i * 3]), lo = hex(text[i * 3 + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    if (i < 5 && text[i * 3 + 2] != ':') return std::nullopt;
    m.bytes[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return m;
}

std::string IpAddr::toString() const {
  char buf[INET6_ADDRSTRLEN];
  if (family == 4) return inet_ntop(AF_INET, bytes.data(), buf, sizeof buf) ? buf : "?";
  if (family == 6) return inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf) ? buf : "?";
  return "-";
}

std::optional<IpAddr> IpAddr::parse(std::string_view text) {
  std::string s(text);
  IpAddr ip;
  if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) == 1) {
    ip.family = 4;
    return ip;
  }
  if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) == 1) {
    ip.family = 6;
    return ip;
  }
  return std::nullopt;
}

IpAddr IpAddr::fromBytes(uint8_t family, const uint8_t* wire) {
  IpAddr ip;
  ip.family = family;
  std::memcpy(ip.bytes.data(), wire, family == 4 ? 4 : 16);
  return ip;
}

bool Cidr::contains(const IpAddr& ip) const {
  if (ip.family != addr.family) return false;
  int full = length / 8, rest = length % 8;
  if (std::memcmp(ip.bytes.data(), addr.bytes.data(), full) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (ip.bytes[full] & mask) == (addr.bytes[full] & mask);
}

std::string Cidr::toString() const { return addr.toString() + "/" + std::to_string(length); }

std::optional<Cidr> Cidr::parse(std::string_view text) {
  Cidr c;
  auto slash = text.find('/');
  auto ip = IpAddr::parse(text.substr(0, slash));
  if (!ip) return std::nullopt;
  c.addr = *ip;
  int max = ip->family == 4 ? 32 : 128;
  if (slash == std::string_view::npos) {
    c.length = static_cast<uint8_t>(max);
    return c;
  }
  auto lenText = text.substr(slash + 1);
  if (lenText.empty() || lenText.size() > 3) return std::nullopt;
  int len = 0;
  for (char ch : lenText) {
    if (ch < '0' || ch > '9') return std::nullopt;
    len = len * 10 + (ch - '0');
  }
  if (len > max) return std::nullopt;
  c.length = static_cast<uint8_t>(len);
  // Host bits must be zero: "10.1.2.3/8" is almost always a typo.
  for (int bit = len; bit < max; ++bit)
    if (c.addr.bytes[bit / 8] & (0x80 >> (bit % 8))) return std::nullopt;
  return c;
}

}  // namespace goldgate
