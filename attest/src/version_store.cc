// The accepted-versions file: "<app> <version>" lines, replaced atomically on every accept.
#include "goldgate/attest/version_store.h"

#include <charconv>
#include <sstream>

#include "file_io.h"
#include "goldgate/attest/manifest.h"

namespace goldgate::attest {
namespace {

// A store holds one line per application on the host; far more than any host has.
constexpr size_t kMaxStoreBytes = 4u << 20;

}  // namespace

Result<VersionStore> VersionStore::open(const std::string& path) {
  VersionStore store(path);
  if (path.empty()) return store;  // in memory: this run's highest versions
  auto text = readFileLimited(path, kMaxStoreBytes);
  if (!text) {
    // Only a file that does not exist is a first start. One that cannot be read (permissions, an
    // I/O error) must not be: it would forget every version accepted and let a rollback through.
    if (text.error().code == Error::Code::kNotFound) return store;
    return text.error();
  }
  std::istringstream in(*text);
  std::string line;
  int lineNo = 0;
  auto bad = [&](const std::string& why) {
    return makeError(Error::Code::kParse, path + ":" + std::to_string(lineNo) + ": " + why);
  };
  while (std::getline(in, line)) {
    ++lineNo;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string app, version, extra;
    fields >> app >> version;
    if (app.empty() || version.empty() || (fields >> extra)) return bad("expected '<app> <version>'");
    if (!isAppName(app)) return bad("'" + app + "' is not an application name");
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(version.data(), version.data() + version.size(), v);
    if (ec != std::errc() || p != version.data() + version.size() || v == 0)
      return bad("'" + version + "' is not a version (1 or more)");
    if (!store.versions_.emplace(app, v).second) return bad("'" + app + "' is listed twice");
  }
  return store;
}

Result<void, Rejection> VersionStore::check(const std::string& app, uint64_t version, const std::string& file) const {
  auto it = versions_.find(app);
  if (it != versions_.end() && version < it->second)
    return reject(RejectReason::kRollback, file,
                  "version " + std::to_string(version) + " of " + app + " is older than the accepted version " +
                      std::to_string(it->second));
  return {};
}

std::optional<uint64_t> VersionStore::accepted(const std::string& app) const {
  auto it = versions_.find(app);
  if (it == versions_.end()) return std::nullopt;
  return it->second;
}

Result<void> VersionStore::accept(const std::string& app, uint64_t version) {
  if (auto c = check(app, version, app); !c) return makeError(Error::Code::kInvalidArgument, c.error().message);
  auto next = versions_;
  next[app] = version;
  if (auto s = save(next); !s) return s;
  versions_ = std::move(next);
  return {};
}

Result<void> VersionStore::save(const std::map<std::string, uint64_t>& versions) const {
  std::string text = "# goldgate: accepted manifest versions (app version)\n";
  for (const auto& [app, v] : versions) text += app + " " + std::to_string(v) + "\n";
  // Replaced whole, durably: a crash leaves the old file or the new one, never half of one
  // (which would lose the record and let a rollback through).
  if (path_.empty()) return {};
  return replaceFileDurably(path_, text, 0644);
}

}  // namespace goldgate::attest
