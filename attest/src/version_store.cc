// The accepted-versions file: "<app> <version>" lines, replaced atomically on every accept.
#include "goldgate/attest/version_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
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
  auto text = readFileLimited(path, kMaxStoreBytes);
  if (!text) {
    if (std::error_code ec; !std::filesystem::exists(path, ec) && !ec) return store;
    return text.error();
  }
  std::istringstream in(*text);
  std::string line;
  int lineNo = 0;
  auto bad = [&](const std::string& why) { return makeError(Error::Code::kParse, path + ":" + std::to_string(lineNo) + ": " + why); };
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
    if (ec != std::errc() || p != version.data() + version.size() || v == 0) return bad("'" + version + "' is not a version (1 or more)");
    if (!store.versions_.emplace(app, v).second) return bad("'" + app + "' is listed twice");
  }
  return store;
}

Result<void, Rejection> VersionStore::check(const std::string& app, uint64_t version, const std::string& file) const {
  auto it = versions_.find(app);
  if (it != versions_.end() && version < it->second)
    return reject(RejectReason::kRollback, file,
                  "version " + std::to_string(version) + " of " + app + " is older than the accepted version " + std::to_string(it->second));
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
  // Written beside the store and renamed over it: a crash leaves the old file or the new one,
  // never half of one (which would lose the record and let a rollback through).
  const std::string tmp = path_ + ".tmp";
  if (auto w = writeFileSynced(tmp, text, 0644, O_TRUNC); !w) return w;
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return makeError(Error::Code::kIo, path_ + ": " + std::strerror(err));
  }
  // The rename is durable only once the folder is.
  std::string dir = std::filesystem::path(path_).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

}  // namespace goldgate::attest
