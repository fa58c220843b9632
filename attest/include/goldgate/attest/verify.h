// Verifying a signed manifest: the manifest file's bytes and its DSSE envelope against the keys the
// host trusts. The order of the checks and why is in attest/README.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dsse.pb.h"
#include "goldgate/attest/keys.h"
#include "goldgate/attest/rejection.h"
#include "goldgate/common/result.h"
#include "manifest.pb.h"

namespace goldgate::attest {

/// The keys whose signatures count and how many distinct ones a manifest needs. A threshold of 0
/// is taken as 1. The same key given twice counts once.
struct TrustPolicy {
  std::vector<PublicKey> keys;
  unsigned threshold = 1;
};

/// The ids (sorted) of the trusted keys whose signatures over `env` (its PAE) verify. Refused:
/// tampered when a signature names a trusted key and does not verify under it (signatures by
/// unknown keyids are ignored; one without a keyid counts when a trusted key verifies it);
/// unknown-key when no trusted key signed; threshold when fewer than policy.threshold distinct
/// trusted keys did. `file` names the signed thing in messages. Any thread.
Result<std::vector<std::string>, Rejection> verifySignatures(const proto::DsseEnvelope& env, const TrustPolicy& policy,
                                                             const std::string& file);

/// A manifest that passed: its parsed form and the ids of the trusted keys that signed it (sorted).
struct Verified {
  proto::Manifest manifest;
  std::vector<std::string> signers;
};

/// Verifies `fileBytes` (a manifest file's exact contents) against `envelopeJson` (its .sig file)
/// under `policy` at `nowUnix`; `file` names the manifest in messages. Checks, in order: the
/// envelope is well-formed (malformed) and of the manifest payload type (malformed); its payload is
/// exactly `fileBytes` (tampered); every signature whose keyid names a trusted key verifies
/// (tampered) — signatures by unknown keyids are ignored, and one without a keyid counts when a
/// trusted key verifies it; at least `threshold` distinct trusted signers (threshold when there
/// are some, unknown-key when there are none); the manifest parses and validates (invalid, with
/// file:line); it has not expired at `nowUnix` (expired). Rollback is the caller's next step
/// (VersionStore::check). Any thread.
Result<Verified, Rejection> verifyManifest(std::string_view fileBytes, std::string_view envelopeJson,
                                           const TrustPolicy& policy, int64_t nowUnix, const std::string& file);

/// The path of a manifest's envelope: `manifestPath` + ".sig".
std::string signaturePathOf(const std::string& manifestPath);

/// The refusal of a manifest that has no envelope (reason unsigned). Any thread.
Rejection unsignedManifest(const std::string& file);

/// Reads `manifestPath` and its envelope (signaturePathOf) and verifies them as verifyManifest.
/// A missing envelope is unsigned; an unreadable or oversized envelope is malformed; an unreadable
/// or oversized manifest is invalid. Any thread.
Result<Verified, Rejection> verifyManifestFile(const std::string& manifestPath, const TrustPolicy& policy,
                                               int64_t nowUnix);

}  // namespace goldgate::attest
