#include "manifest_loader.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "goldgate/attest/manifest.h"

namespace goldgate::hostmon {
namespace {

bool stampOf(const std::string& path, int64_t& mtime, ino_t& ino, off_t& size) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  ino = st.st_ino;
  size = st.st_size;
  return true;
}

}  // namespace

Result<std::unique_ptr<ManifestLoader>> ManifestLoader::create(const AttestConfig& cfg) {
  std::unique_ptr<ManifestLoader> l(new ManifestLoader());
  l->dir_ = cfg.manifests;
  for (const auto& k : cfg.keys) {
    auto key = attest::PublicKey::load(k);
    if (!key) return makeError(key.error().code, "attest.keys: " + key.error().message);
    l->trust_.keys.push_back(std::move(*key));
  }
  l->trust_.threshold = cfg.threshold;
  // Without a state file the versions are kept in memory: an older signed manifest put back is
  // still refused in this run (a restart forgets them; the state file is what survives one).
  auto vs = attest::VersionStore::open(cfg.state_file);
  if (!vs) return makeError(vs.error().code, "attest.state_file: " + vs.error().message);
  l->versions_ = std::make_unique<attest::VersionStore>(std::move(*vs));
  return l;
}

ManifestLoader::Scan ManifestLoader::scan(int64_t nowUnix) {
  Scan out;
  std::vector<std::string> present;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
    const auto p = e.path();
    if (p.extension() == ".yaml" || p.extension() == ".yml") present.push_back(p.string());
  }
  std::sort(present.begin(), present.end());
  // Files that went away take their manifests with them.
  for (auto it = files_.begin(); it != files_.end();)
    it = std::find(present.begin(), present.end(), it->first) == present.end() ? files_.erase(it) : std::next(it);
  std::map<std::string, std::string> appFile;  // app → the file that holds it (first wins)
  for (const auto& path : present) {
    Entry& en = files_[path];
    FileStamp y, s;
    stampOf(path, y.mtime_ns, y.ino, y.size);
    stampOf(attest::signaturePathOf(path), s.mtime_ns, s.ino, s.size);
    const bool fresh = !(y == en.yaml && s == en.sig) || en.status.file().empty();
    if (fresh) {
      en.yaml = y;
      en.sig = s;
      proto::ManifestStatus st;
      st.set_file(path);
      auto v = attest::verifyManifestFile(path, trust_, nowUnix);
      std::optional<attest::Rejection> refusal;
      if (!v) refusal = v.error();
      else if (versions_) {
        if (auto r = versions_->check(v->manifest.app(), v->manifest.version(), path); !r) refusal = r.error();
      }
      if (refusal) {
        st.set_accepted(false);
        st.set_reason(std::string(attest::reasonName(refusal->reason)));
        st.set_error(refusal->message);
        // What the file claims, for the operator (not trusted: it did not pass).
        if (en.accepted) {
          st.set_app(en.accepted->manifest.app());
          st.set_version(en.accepted->manifest.version());
        }
        out.refused_now.push_back(st);
      } else {
        st.set_accepted(true);
        st.set_app(v->manifest.app());
        st.set_version(v->manifest.version());
        st.set_expires_unix(v->manifest.expires_unix());
        for (const auto& k : v->signers) st.add_signers(k);
        if (versions_) {
          if (auto r = versions_->accept(v->manifest.app(), v->manifest.version()); !r) {
            st.set_accepted(false);
            st.set_reason("invalid");
            st.set_error(path + ": cannot record the accepted version: " + r.error().message);
            out.refused_now.push_back(st);
          }
        }
        if (st.accepted()) {
          en.accepted = AcceptedManifest{std::move(v->manifest), path, std::move(v->signers)};
          en.expired_reported = false;
        }
      }
      en.status = st;
    }
    if (!en.accepted) {
      out.statuses.push_back(en.status);
      continue;
    }
    const auto& m = en.accepted->manifest;
    proto::ManifestStatus st = en.status;
    if (!st.accepted()) {
      // Refused now, accepted before: the earlier one stays in force, and the status says both.
      st.set_error(st.error() + " (version " + std::to_string(m.version()) + " stays in force)");
    }
    if (m.expires_unix() && m.expires_unix() < nowUnix && !en.expired_reported) {
      en.expired_reported = true;
      proto::ManifestStatus ex = st;
      ex.set_accepted(false);
      ex.set_reason("expired");
      ex.set_error(path + ": expired: " + attest::formatTimestamp(m.expires_unix()) +
                   " has passed; it stays in force until a newer one is signed");
      out.refused_now.push_back(ex);
    }
    if (auto it = appFile.find(m.app()); it != appFile.end()) {
      st.set_accepted(false);
      st.set_reason("invalid");
      st.set_error(path + ": app " + m.app() + " is already given by " + it->second);
      out.statuses.push_back(st);
      continue;
    }
    appFile[m.app()] = path;
    out.statuses.push_back(st);
    out.accepted.push_back(*en.accepted);
  }
  std::vector<std::string> now;
  for (const auto& a : out.accepted)
    now.push_back(a.file + "|" + a.manifest.app() + "|" + std::to_string(a.manifest.version()));
  out.changed = now != last_accepted_;
  last_accepted_ = std::move(now);
  return out;
}

}  // namespace goldgate::hostmon
