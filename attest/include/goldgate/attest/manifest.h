// Manifests (birth certificates): the YAML file an operator writes, parsed into the validated
// proto::Manifest (proto/manifest.proto) and written back. The format is in docs/attestation.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "goldgate/common/files.h"
#include "goldgate/common/result.h"
#include "manifest.pb.h"

namespace goldgate::attest {

/// The largest manifest file accepted (bytes). A larger one is refused before it is parsed.
inline constexpr size_t kMaxManifestBytes = 1u << 20;

/// Parses and validates manifest YAML. `file` names the source in messages. Every failure is
/// Error::Code::kParse with "file:line: reason": YAML syntax, unknown or repeated keys, missing
/// required keys, values out of their domain, lists longer than their bound. Hashes are stored in
/// lower case, prefixes in canonical form, `responses.default` as [alert] when absent. Any thread.
Result<proto::Manifest> parseManifest(std::string_view yaml, const std::string& file);

/// Reads and parses the manifest at `path`. Errors: kIo when it cannot be read, kResource when it
/// is larger than kMaxManifestBytes, else as parseManifest. Any thread.
Result<proto::Manifest> loadManifestFile(const std::string& path);

/// Writes `m` as manifest YAML in the documented layout. For every manifest parseManifest accepted,
/// parseManifest(manifestToYaml(m)) gives `m` back. Any thread.
std::string manifestToYaml(const proto::Manifest& m);

/// True when `name` is a valid application name: 1 to 128 of a-z, 0-9, '.', '_', '-'. Any thread.
bool isAppName(std::string_view name);

/// Formats seconds since the epoch as an RFC 3339 UTC timestamp ("2027-06-30T00:00:00Z"). Any thread.
std::string formatTimestamp(int64_t unixSeconds);

/// Parses "YYYY-MM-DDTHH:MM:SSZ" (fractions of a second are refused) or a date "YYYY-MM-DD"
/// (00:00:00 UTC of that day) into seconds since the epoch; years 1970..9999. Returns
/// kInvalidArgument with the reason otherwise. Any thread.
Result<int64_t> parseTimestamp(std::string_view text);

/// Reads a whole file of at most `maxBytes` (common/files.h). Errors: kNotFound, kIo, kResource.
using ::goldgate::readFileLimited;

/// The response actions `m` asks for on a deviation of `kind` (its `responses`, else `default`,
/// else alert). Defined with the derivation (derive.cc). Any thread.
std::vector<std::string> responseActions(const proto::Manifest& m, const std::string& kind);

}  // namespace goldgate::attest
