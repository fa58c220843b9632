// Rollback protection: the highest manifest version accepted for each application, kept in a small
// text file so that an older (validly signed) manifest is refused after a restart too.
//
//   # goldgate: accepted manifest versions (app version)
//   shop-web 3
//   shop-db 12
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "goldgate/attest/rejection.h"
#include "goldgate/common/result.h"

namespace goldgate::attest {

/// The accepted versions, loaded once and written through on every accept. Not thread-safe: one
/// owner (hostmon's attestation thread, or the CLI) uses it.
class VersionStore {
 public:
  /// Loads the store at `path`; a missing file is an empty store (created on the first accept).
  /// An empty `path` is a store in memory: it refuses rollbacks below the highest version accepted
  /// in this run and writes nothing. Errors: kIo when it exists but cannot be read (permissions, a
  /// folder, an I/O error: never taken as empty); kResource when too large; kParse with "path:line: reason" when a line
  /// is not
  /// "<app> <version>", an app is not a valid name, or an app appears twice.
  static Result<VersionStore> open(const std::string& path);

  /// Refuses (rollback) `version` when it is lower than the version accepted for `app`; `file`
  /// names the manifest in the message. The same version as accepted is fine (a re-read).
  Result<void, Rejection> check(const std::string& app, uint64_t version, const std::string& file) const;

  /// Records `version` as accepted for `app` and writes the file atomically (temporary file,
  /// fsync, rename, fsync of the folder). Errors: kInvalidArgument when it would roll back (the
  /// store is unchanged); kIo when the file cannot be written (the store is unchanged).
  Result<void> accept(const std::string& app, uint64_t version);

  /// The version accepted for `app`, if any.
  std::optional<uint64_t> accepted(const std::string& app) const;

  /// The file behind the store.
  const std::string& path() const { return path_; }

 private:
  explicit VersionStore(std::string path) : path_(std::move(path)) {}
  Result<void> save(const std::map<std::string, uint64_t>& versions) const;
  std::string path_;
  std::map<std::string, uint64_t> versions_;
};

}  // namespace goldgate::attest
