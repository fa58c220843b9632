// libFuzzer target: manifests and their envelopes. A manifest file and its .sig come from whoever
// can write to the host's manifest folder. Every input is tried three ways:
//   - as manifest YAML: a manifest or a "fuzz.yaml:line: reason" error; a manifest must survive
//     manifestToYaml and parse back equal;
//   - as a DSSE envelope over a fixed manifest, verified with a fixed key: a Verified or a
//     Rejection, never a crash; it can verify only if it carries that key's real signature;
//   - as manifest bytes signed with the fixed key: verification must agree with the parser.
#include <google/protobuf/util/message_differencer.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "goldgate/attest/dsse.h"
#include "goldgate/attest/manifest.h"
#include "goldgate/attest/verify.h"

using namespace goldgate;
using namespace goldgate::attest;

namespace {

// The manifest the seed envelope (corpus/manifest/envelope.json) signs, and the key that signed
// it: the Ed25519 seed of 32 bytes 0x11.
const char* kFile = "schema: 1\napp: fuzz\nversion: 1\nexpires: 2030-01-01\napplies_to: {vms: [f]}\n";
constexpr int64_t kNow = 1800000000;  // 2027-01-15

const PrivateKey& fixedKey() {
  static const PrivateKey key = PrivateKey::fromSeed(std::string(32, '\x11')).value();
  return key;
}

const TrustPolicy& policy() {
  static const TrustPolicy p{{fixedKey().publicKey()}, 1};
  return p;
}

void asManifest(const std::string& in) {
  auto m = parseManifest(in, "fuzz.yaml");
  if (!m) {
    if (m.error().message.rfind("fuzz.yaml:", 0) != 0) std::abort();
    return;
  }
  std::string yaml = manifestToYaml(*m);
  auto again = parseManifest(yaml, "again.yaml");
  if (!again) std::abort();
  if (!google::protobuf::util::MessageDifferencer::Equals(*m, *again)) std::abort();
  if (manifestToYaml(*again) != yaml) std::abort();
}

void asEnvelope(const std::string& in) {
  auto v = verifyManifest(kFile, in, policy(), kNow, "fuzz.yaml");
  if (!v && v.error().message.rfind("fuzz.yaml: ", 0) != 0) std::abort();
  if (v && (v->signers.size() != 1 || v->manifest.app() != "fuzz")) std::abort();
}

void signedInput(const std::string& in) {
  if (in.size() > kMaxManifestBytes) return;
  auto env = signEnvelope(in, fixedKey(), nullptr);
  if (!env) std::abort();
  auto v = verifyManifest(in, *env, policy(), kNow, "fuzz.yaml");
  auto m = parseManifest(in, "fuzz.yaml");
  if (v.has_value() != (m.has_value() && m->expires_unix() > kNow)) std::abort();
  if (!v && v.error().reason != RejectReason::kInvalid && v.error().reason != RejectReason::kExpired) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  asManifest(in);
  asEnvelope(in);
  signedInput(in);
  return 0;
}
