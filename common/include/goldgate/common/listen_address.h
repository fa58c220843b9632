// HOST:PORT listen addresses in configuration files (metrics endpoints).
#pragma once

#include <string>

namespace goldgate {

/// Whether `listen` is HOST:PORT (brackets around an IPv6 host), as prometheus-cpp's civetweb
/// reads it. "" and "off" are not addresses (the caller's "disabled").
inline bool validListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  const std::string port = listen.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return false;
  return std::stoul(port) <= 65535;
}

}  // namespace goldgate
