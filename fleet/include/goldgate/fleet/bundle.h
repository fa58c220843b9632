// Fleet policy bundles (docs/fleet.md): a policy folder (segment files, data classes and their
// policy, zones, manifests) read into one versioned unit, signed as a DSSE envelope with the admin
// keys that sign manifests, and verified by each host before it is stored as its last-known-good.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fleet.pb.h"
#include "goldgate/attest/keys.h"
#include "goldgate/attest/rejection.h"
#include "goldgate/attest/verify.h"
#include "goldgate/common/result.h"

namespace goldgate::fleet {

/// The payload type of a signed policy bundle.
inline constexpr std::string_view kBundlePayloadType = "application/vnd.goldgate.policy-bundle+json";
/// Bounds a host holds a bundle to (and `fleet push` refuses past): files, one file, the payload.
inline constexpr size_t kMaxBundleFiles = 4096;
inline constexpr size_t kMaxBundleFileBytes = 4u << 20;
inline constexpr size_t kMaxBundleBytes = 16u << 20;
/// The top-level names a bundle may hold; anything else in a policy folder is not published.
inline constexpr std::string_view kBundleTops[] = {"segments/", "datapolicy/", "manifests/", "zones.yaml"};

/// Reads the publishable files of policy folder `dir` (kBundleTops; regular files only, symbolic
/// links inside the folder followed, none leading out of it) into a bundle's files, sorted by path.
/// Version and dates are the caller's. Errors (naming the file): unreadable, too large, too many,
/// a link leading out of the folder, nothing to publish. Any thread.
Result<proto::PolicyBundle> readPolicyFolder(const std::string& dir);

/// Whether every path is relative, under kBundleTops, free of "." and ".." components and empty
/// ones, sorted and unique, and every size within bounds. Errors (kInvalidArgument) name the path.
Result<void> checkBundleFiles(const proto::PolicyBundle& b);

/// The bundle as its payload JSON, and back. fromJson errors (kParse): not the bundle's JSON.
std::string bundleToJson(const proto::PolicyBundle& b);
Result<proto::PolicyBundle> bundleFromJson(std::string_view json);

/// Signs `b` with every key of `keys` (threshold signing) and returns the envelope JSON. Errors:
/// the bundle's files are not valid (checkBundleFiles), no key, signing failed.
Result<std::string> signBundle(const proto::PolicyBundle& b, const std::vector<const attest::PrivateKey*>& keys);

struct VerifiedBundle {
  proto::PolicyBundle bundle;
  std::vector<std::string> signers;  // key ids, sorted
};

/// Verifies a bundle envelope as a host does, cheapest and least trusting first: a DSSE envelope
/// of kBundlePayloadType no larger than kMaxBundleBytes (malformed); the trusted signatures and
/// their threshold (tampered, unknown-key, threshold: attest::verifySignatures); the payload parses
/// and its files are valid (invalid); its version is `expectVersion` when that is not 0 (the etcd
/// key it was found under: tampered otherwise); it has not expired at `nowUnix` (expired); its
/// version is above `appliedVersion` (rollback; the same version is no news: the caller skips it
/// before calling). `name` names it in messages. Any thread.
Result<VerifiedBundle, attest::Rejection> verifyBundle(std::string_view envelopeJson, const attest::TrustPolicy& trust,
                                                       int64_t nowUnix, uint64_t expectVersion, uint64_t appliedVersion,
                                                       const std::string& name);

/// What changes from bundle `from` to bundle `to`: paths added, removed and changed, in order.
struct BundleDiff {
  std::vector<std::string> added, removed, changed;
  bool empty() const { return added.empty() && removed.empty() && changed.empty(); }
};
BundleDiff diffBundles(const proto::PolicyBundle& from, const proto::PolicyBundle& to);

/// The etcd key of bundle `version` under `prefix` (20 digits, so that keys sort as versions).
std::string bundleKey(const std::string& prefix, uint64_t version);
/// The version in a bundle key (0: not one).
uint64_t versionOfBundleKey(const std::string& prefix, const std::string& key);

}  // namespace goldgate::fleet
