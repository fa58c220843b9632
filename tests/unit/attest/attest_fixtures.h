// Fixed keys and a small valid manifest for the attest tests.
#pragma once

#include <string>

#include "goldgate/attest/keys.h"

namespace goldgate::test {

/// A deterministic Ed25519 key: the seed is 32 copies of `n`.
inline attest::PrivateKey fixedKey(char n) { return attest::PrivateKey::fromSeed(std::string(32, n)).value(); }

/// A valid manifest for app `app` at `version`, expiring at `expires`.
inline std::string manifestText(const std::string& app = "shop-web", int version = 3,
                                const std::string& expires = "2027-06-30T00:00:00Z") {
  return "schema: 1\napp: " + app + "\nversion: " + std::to_string(version) + "\nexpires: " + expires +
         "\napplies_to: {vms: [web1]}\nexecutables:\n  - path: /usr/sbin/nginx\n";
}

/// 2027-01-01T00:00:00Z: before the fixtures' expiry.
inline constexpr int64_t kNow = 1798761600;

}  // namespace goldgate::test
