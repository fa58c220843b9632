// The manifests goldgate-hostmon judges VMs against: the folder attest.manifests read (and read
// again every attest.reload_interval_ms, changed files only), each APP.yaml verified with its
// APP.yaml.sig against the trusted keys and threshold, refused if older than the version already
// accepted for its app (the version store survives restarts). A refused file never replaces what
// was accepted before: the app stays on its last accepted manifest.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attestation.h"
#include "config.h"
#include "goldgate/attest/verify.h"
#include "goldgate/attest/version_store.h"

namespace goldgate::hostmon {

class ManifestLoader {
 public:
  /// Loads the trusted keys and the version store. Errors: a key or the store cannot be read
  /// (the message names the file).
  static Result<std::unique_ptr<ManifestLoader>> create(const AttestConfig& cfg);

  struct Scan {
    std::vector<AcceptedManifest> accepted;          // in force, one per app
    std::vector<proto::ManifestStatus> statuses;     // one per file
    std::vector<proto::ManifestStatus> refused_now;  // refusals new since the last scan (to alert)
    bool changed = false;                            // accepted set differs from the last scan
  };
  /// Reads the folder. Files whose manifest or envelope changed (inode, size, mtime) are verified
  /// again; accepted manifests whose expiry passed are reported expired but stay in force (there
  /// is nothing newer to fall back to). Single thread (main's).
  Scan scan(int64_t nowUnix);

 private:
  struct FileStamp {
    ino_t ino = 0;
    off_t size = -1;
    int64_t mtime_ns = 0;
    bool operator==(const FileStamp&) const = default;
  };
  struct Entry {
    FileStamp yaml, sig;
    std::optional<AcceptedManifest> accepted;  // the last version of this file that passed
    proto::ManifestStatus status;
    bool expired_reported = false;
  };
  ManifestLoader() = default;
  std::string dir_;
  attest::TrustPolicy trust_;
  std::unique_ptr<attest::VersionStore> versions_;
  std::map<std::string, Entry> files_;      // by path
  std::vector<std::string> last_accepted_;  // "file|app|version" of the last scan
};

}  // namespace goldgate::hostmon
