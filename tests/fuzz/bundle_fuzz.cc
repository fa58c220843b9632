// libFuzzer target: fleet policy bundles as a host reads them from etcd, where anyone with write
// access to the store (or its disk) can put anything. Every input is tried two ways:
//   - as a bundle envelope, verified with a fixed trusted key: a VerifiedBundle or a Rejection,
//     never a crash; it can verify only with that key's real signature;
//   - as bundle payload JSON signed with the fixed key: verification must agree with the file
//     checks (a payload whose files are not valid never verifies).
#include <cstdint>
#include <string>

#include "goldgate/attest/dsse.h"
#include "goldgate/fleet/bundle.h"

using namespace goldgate;

namespace {

constexpr int64_t kNow = 1800000000;  // 2027-01-15

const attest::PrivateKey& fixedKey() {
  static const attest::PrivateKey key = attest::PrivateKey::fromSeed(std::string(32, '\x22')).value();
  return key;
}

const attest::TrustPolicy& trust() {
  static const attest::TrustPolicy p{{fixedKey().publicKey()}, 1};
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  (void)fleet::verifyBundle(in, trust(), kNow, 0, 0, "fuzz");
  // The same bytes as a payload, really signed: whatever the JSON holds, it is checked.
  auto b = fleet::bundleFromJson(in);
  if (b) {
    const bool filesOk = fleet::checkBundleFiles(*b).has_value();
    const std::string payload = fleet::bundleToJson(*b);
    auto env = attest::signEnvelope(payload, fixedKey(), nullptr, fleet::kBundlePayloadType);
    if (env) {
      auto v = fleet::verifyBundle(*env, trust(), kNow, 0, 0, "fuzz");
      if (v && !filesOk) std::abort();  // a bundle with bad paths must never verify
      if (v && (b->version() == 0 || b->expires_unix() <= kNow)) std::abort();
    }
  }
  return 0;
}
