// Why a manifest was refused, in a form a program can act on (alerts, exit codes, the hostmon API)
// and a person can read.
#pragma once

#include <string>
#include <string_view>

namespace goldgate::attest {

/// The reasons a manifest is refused. Their names (reasonName) are part of the interface: alerts
/// and scripts match on them.
enum class RejectReason {
  kUnsigned,    // "unsigned": no envelope beside the manifest
  kMalformed,   // "malformed": the envelope is not a DSSE envelope of a manifest
  kTampered,    // "tampered": the payload is not the file's bytes, or a known key's signature fails
  kUnknownKey,  // "unknown-key": no valid signature from a trusted key
  kThreshold,   // "threshold": valid signatures from fewer trusted keys than required
  kExpired,     // "expired": the manifest's `expires` has passed
  kInvalid,     // "invalid": the signed manifest does not parse or validate (file:line)
  kRollback,    // "rollback": older than the version already accepted for the application
};

/// The stable name of a reason ("unsigned", "malformed", "tampered", "unknown-key", "threshold",
/// "expired", "invalid", "rollback"). Any thread.
std::string_view reasonName(RejectReason r);

/// A refusal: the reason and one line for a person, "<file>: <reason name>: <detail>".
struct Rejection {
  RejectReason reason = RejectReason::kMalformed;
  std::string message;
};

/// Builds a Rejection whose message is "<file>: <reason name>: <detail>". Any thread.
Rejection reject(RejectReason reason, const std::string& file, const std::string& detail);

}  // namespace goldgate::attest
