// Verification of a signed manifest, in the order attest/README.md gives: cheapest and least
// trusting first, the manifest parsed only once its bytes are known to be signed.
#include "goldgate/attest/verify.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "goldgate/attest/dsse.h"
#include "goldgate/attest/manifest.h"

namespace goldgate::attest {

std::string_view reasonName(RejectReason r) {
  switch (r) {
    case RejectReason::kUnsigned: return "unsigned";
    case RejectReason::kMalformed: return "malformed";
    case RejectReason::kTampered: return "tampered";
    case RejectReason::kUnknownKey: return "unknown-key";
    case RejectReason::kThreshold: return "threshold";
    case RejectReason::kExpired: return "expired";
    case RejectReason::kInvalid: return "invalid";
    case RejectReason::kRollback: return "rollback";
  }
  return "malformed";
}

Rejection reject(RejectReason reason, const std::string& file, const std::string& detail) {
  return Rejection{reason, file + ": " + std::string(reasonName(reason)) + ": " + detail};
}

std::string signaturePathOf(const std::string& manifestPath) { return manifestPath + ".sig"; }

Rejection unsignedManifest(const std::string& file) {
  return reject(RejectReason::kUnsigned, file, "no signature envelope (" + signaturePathOf(file) + ")");
}

Result<std::vector<std::string>, Rejection> verifySignatures(const proto::DsseEnvelope& env, const TrustPolicy& policy,
                                                             const std::string& file) {
  const std::string message = pae(env.payload_type(), env.payload());
  std::set<std::string> signers;
  for (const auto& s : env.signatures()) {
    bool named = false;
    for (const auto& k : policy.keys) {
      // A keyid is only a hint; a signature without one is tried against every trusted key.
      if (!s.keyid().empty() && s.keyid() != k.keyid()) continue;
      named = named || !s.keyid().empty();
      if (k.verify(message, s.sig())) {
        signers.insert(k.keyid());
        break;
      }
    }
    if (named && !signers.count(s.keyid()))
      return reject(RejectReason::kTampered, file, "the signature of trusted key " + s.keyid() + " does not verify");
  }
  const size_t need = std::max(1u, policy.threshold);
  if (signers.empty()) return reject(RejectReason::kUnknownKey, file, "no valid signature from a trusted key");
  if (signers.size() < need)
    return reject(RejectReason::kThreshold, file,
                  std::to_string(signers.size()) + " trusted signer" + (signers.size() == 1 ? "" : "s") + ", " +
                      std::to_string(need) + " required");
  return std::vector<std::string>(signers.begin(), signers.end());
}

Result<Verified, Rejection> verifyManifest(std::string_view fileBytes, std::string_view envelopeJson,
                                           const TrustPolicy& policy, int64_t nowUnix, const std::string& file) {
  auto env = parseEnvelope(envelopeJson);
  if (!env) return reject(RejectReason::kMalformed, file, env.error().message);
  if (env->payload_type() != kManifestPayloadType)
    return reject(RejectReason::kMalformed, file,
                  "payloadType '" + env->payload_type() + "' is not " + std::string(kManifestPayloadType));
  // The payload must be the file, byte for byte: the signature vouches for the payload, and what
  // the host enforces is the file.
  if (env->payload() != fileBytes)
    return reject(RejectReason::kTampered, file, "the signed payload differs from the file's bytes");

  auto signers = verifySignatures(*env, policy, file);
  if (!signers) return signers.error();

  auto m = parseManifest(fileBytes, file);
  if (!m) return reject(RejectReason::kInvalid, file, m.error().message);
  if (m->expires_unix() <= nowUnix)
    return reject(RejectReason::kExpired, file, "expired at " + formatTimestamp(m->expires_unix()));
  return Verified{std::move(*m), std::move(*signers)};
}

Result<Verified, Rejection> verifyManifestFile(const std::string& manifestPath, const TrustPolicy& policy,
                                               int64_t nowUnix) {
  auto bytes = readFileLimited(manifestPath, kMaxManifestBytes);
  if (!bytes) return reject(RejectReason::kInvalid, manifestPath, bytes.error().message);
  const std::string sigPath = signaturePathOf(manifestPath);
  struct stat st {};
  if (::stat(sigPath.c_str(), &st) != 0 && errno == ENOENT) return unsignedManifest(manifestPath);
  auto env = readFileLimited(sigPath, kMaxEnvelopeBytes);
  if (!env) return reject(RejectReason::kMalformed, manifestPath, env.error().message);
  return verifyManifest(*bytes, *env, policy, nowUnix, manifestPath);
}

}  // namespace goldgate::attest
