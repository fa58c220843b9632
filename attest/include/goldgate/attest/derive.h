// Manifests → microsegments: least-privilege segment rules derived from what the manifests declare,
// as a segment file goldgate-switch loads (configs/segments format). Semantics in attest/README.md
// ("Manifests → microsegments").
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "goldgate/common/result.h"
#include "manifest.pb.h"

namespace goldgate::attest {

struct DeriveOptions {
  /// Named zones of the switch's goldgate.yaml (name → prefixes), for `zone:` peers other than
  /// `external`; a zone not found here is left out with a warning.
  std::map<std::string, std::vector<std::string>> zones;
  /// Segments defined elsewhere (other segment files) that `segment:` peers may name; a segment
  /// peer that is neither an app nor one of these is left out with a warning.
  std::set<std::string> segments;
  /// For the header comment: where the manifests came from.
  std::string source;
};

struct DerivedPolicy {
  std::string segments_yaml;          // a complete segment file
  size_t segments = 0;                // segments in it
  size_t rules = 0;                   // rules in it (declared connections and catch-alls)
  size_t catch_alls = 0;              // allow-log rules of apps that alert on undeclared connections
  size_t guards = 0;                  // deny-log rules that keep those catch-alls off the other apps
  std::vector<std::string> warnings;  // one-sided declarations, peers without a manifest, …
};

/// Derives the segments and rules of `manifests` (one per app; a second manifest for an app is an
/// error). Deterministic: the same manifests give the same file. Errors: two manifests for one app.
/// Any thread.
Result<DerivedPolicy> deriveSegments(const std::vector<proto::Manifest>& manifests, const DeriveOptions& opts);

/// How many rules a stateless per-address ACL needs for the same connections: for every declared
/// connection that becomes a rule, (source addresses) × (destination addresses) × (port ranges,
/// at least 1) × protocols (icmp is ICMP and ICMPv6) × 2 directions, an app counting as many
/// addresses as it has VMs (`vmsPerApp`, at least 1) and a prefix, zone or `any` as one. Catch-alls
/// and guards are not counted.
size_t equivalentHandWrittenRules(const std::vector<proto::Manifest>& manifests,
                                  const std::map<std::string, size_t>& vmsPerApp, const DeriveOptions& opts);

/// The segment a hardened VM of `app` is moved into ("APP.hardened").
std::string hardenedSegment(const std::string& app);

}  // namespace goldgate::attest
