#include "goldgate/fleet/bundle.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "goldgate/attest/dsse.h"
#include "goldgate/attest/manifest.h"
#include "goldgate/common/files.h"

namespace goldgate::fleet {
namespace fs = std::filesystem;

namespace {

bool underTops(const std::string& path) {
  for (std::string_view top : kBundleTops) {
    if (top.back() == '/' ? path.rfind(top, 0) == 0 && path.size() > top.size() : path == top) return true;
  }
  return false;
}

}  // namespace

Result<proto::PolicyBundle> readPolicyFolder(const std::string& dir) {
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(dir, ec);
  if (ec || !fs::is_directory(root)) return makeError(Error::Code::kNotFound, dir + ": not a policy folder");
  std::vector<std::pair<std::string, fs::path>> found;
  for (std::string_view top : kBundleTops) {
    const fs::path p = root / std::string(top.back() == '/' ? top.substr(0, top.size() - 1) : top);
    if (!fs::exists(p, ec)) continue;
    if (fs::is_regular_file(p, ec)) {
      found.emplace_back(std::string(top), p);
      continue;
    }
    for (auto it = fs::recursive_directory_iterator(p, fs::directory_options::follow_directory_symlink, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      const fs::path real = fs::weakly_canonical(it->path(), ec);
      const std::string rel = fs::relative(it->path(), root, ec).generic_string();
      // A link may point anywhere inside the folder, never out of it.
      if (ec || real.generic_string().rfind(root.generic_string() + "/", 0) != 0)
        return makeError(Error::Code::kInvalidArgument, it->path().string() + ": leads out of " + dir);
      found.emplace_back(rel, it->path());
      if (found.size() > kMaxBundleFiles)
        return makeError(Error::Code::kResource, dir + ": more than " + std::to_string(kMaxBundleFiles) + " files");
    }
    if (ec) return makeError(Error::Code::kIo, p.string() + ": " + ec.message());
  }
  if (found.empty())
    return makeError(Error::Code::kNotFound,
                     dir + ": nothing to publish (segments/, datapolicy/, manifests/ or zones.yaml)");
  std::sort(found.begin(), found.end());
  proto::PolicyBundle b;
  size_t total = 0;
  for (const auto& [rel, path] : found) {
    auto bytes = readFileLimited(path.string(), kMaxBundleFileBytes);
    if (!bytes) return bytes.error();
    total += bytes->size();
    if (total > kMaxBundleBytes / 2)  // base64 and JSON grow it by a third and more
      return makeError(Error::Code::kResource, dir + ": more than " + std::to_string(kMaxBundleBytes / 2) + " bytes");
    auto* f = b.add_files();
    f->set_path(rel);
    f->set_content(std::move(*bytes));
  }
  return b;
}

Result<void> checkBundleFiles(const proto::PolicyBundle& b) {
  if (b.files_size() == 0) return makeError(Error::Code::kInvalidArgument, "the bundle holds no file");
  if (static_cast<size_t>(b.files_size()) > kMaxBundleFiles)
    return makeError(Error::Code::kInvalidArgument, "more than " + std::to_string(kMaxBundleFiles) + " files");
  const std::string* prev = nullptr;
  for (const auto& f : b.files()) {
    const std::string& p = f.path();
    auto bad = [&](const std::string& why) { return makeError(Error::Code::kInvalidArgument, "'" + p + "': " + why); };
    if (p.empty() || p.size() > 512 || p.front() == '/') return bad("not a relative path");
    if (p.find('\0') != std::string::npos || p.find('\\') != std::string::npos) return bad("not a plain path");
    size_t start = 0;
    while (start <= p.size()) {
      const size_t end = std::min(p.find('/', start), p.size());
      const std::string_view part(p.data() + start, end - start);
      if (part.empty() || part == "." || part == "..") return bad("an empty, '.' or '..' component");
      start = end + 1;
    }
    if (!underTops(p)) return bad("not under segments/, datapolicy/, manifests/ or zones.yaml");
    if (f.content().size() > kMaxBundleFileBytes) return bad("larger than " + std::to_string(kMaxBundleFileBytes));
    if (prev && !(*prev < p)) return bad("out of order or twice");
    prev = &p;
  }
  return {};
}

std::string bundleToJson(const proto::PolicyBundle& b) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(b, &out, o);
  return out;
}

Result<proto::PolicyBundle> bundleFromJson(std::string_view json) {
  proto::PolicyBundle b;
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = false;
  auto st = google::protobuf::util::JsonStringToMessage(std::string(json), &b, o);
  if (!st.ok()) return makeError(Error::Code::kParse, "not a policy bundle: " + std::string(st.message()));
  return b;
}

Result<std::string> signBundle(const proto::PolicyBundle& b, const std::vector<const attest::PrivateKey*>& keys) {
  if (auto r = checkBundleFiles(b); !r) return r.error();
  if (keys.empty()) return makeError(Error::Code::kInvalidArgument, "no signing key");
  const std::string payload = bundleToJson(b);
  if (payload.size() > kMaxBundleBytes)
    return makeError(Error::Code::kResource, "the bundle is " + std::to_string(payload.size()) + " bytes, more than " +
                                                 std::to_string(kMaxBundleBytes));
  std::string env;
  for (const auto* k : keys) {
    auto s = attest::signEnvelope(payload, *k, env.empty() ? nullptr : &env, kBundlePayloadType);
    if (!s) return s.error();
    env = std::move(*s);
  }
  return env;
}

Result<VerifiedBundle, attest::Rejection> verifyBundle(std::string_view envelopeJson, const attest::TrustPolicy& trust,
                                                       int64_t nowUnix, uint64_t expectVersion, uint64_t appliedVersion,
                                                       const std::string& name) {
  using attest::reject;
  using attest::RejectReason;
  if (envelopeJson.size() > kMaxBundleBytes * 2)
    return reject(RejectReason::kMalformed, name, "an envelope of " + std::to_string(envelopeJson.size()) + " bytes");
  auto env = attest::parseEnvelope(envelopeJson);
  if (!env) return reject(RejectReason::kMalformed, name, env.error().message);
  if (env->payload_type() != kBundlePayloadType)
    return reject(RejectReason::kMalformed, name,
                  "payloadType '" + env->payload_type() + "' is not " + std::string(kBundlePayloadType));
  auto signers = attest::verifySignatures(*env, trust, name);
  if (!signers) return signers.error();
  // Signed by the fleet's keys: from here the payload is theirs, and is read.
  auto b = bundleFromJson(env->payload());
  if (!b) return reject(RejectReason::kInvalid, name, b.error().message);
  if (auto r = checkBundleFiles(*b); !r) return reject(RejectReason::kInvalid, name, r.error().message);
  if (expectVersion && b->version() != expectVersion)
    return reject(RejectReason::kTampered, name,
                  "the signed bundle is version " + std::to_string(b->version()) + ", stored as version " +
                      std::to_string(expectVersion));
  if (b->expires_unix() <= nowUnix)
    return reject(RejectReason::kExpired, name, "expired at " + attest::formatTimestamp(b->expires_unix()));
  if (b->version() <= appliedVersion)
    return reject(RejectReason::kRollback, name,
                  "version " + std::to_string(b->version()) + " is not above version " +
                      std::to_string(appliedVersion) + " in force");
  return VerifiedBundle{std::move(*b), std::move(*signers)};
}

BundleDiff diffBundles(const proto::PolicyBundle& from, const proto::PolicyBundle& to) {
  std::map<std::string, const std::string*> a, b;
  for (const auto& f : from.files()) a[f.path()] = &f.content();
  for (const auto& f : to.files()) b[f.path()] = &f.content();
  BundleDiff d;
  for (const auto& [p, c] : b) {
    auto it = a.find(p);
    if (it == a.end()) d.added.push_back(p);
    else if (*it->second != *c) d.changed.push_back(p);
  }
  for (const auto& [p, c] : a)
    if (!b.count(p)) d.removed.push_back(p);
  return d;
}

std::string bundleKey(const std::string& prefix, uint64_t version) {
  char v[24];
  std::snprintf(v, sizeof v, "%020llu", static_cast<unsigned long long>(version));
  return prefix + "/policy/bundles/" + v;
}

uint64_t versionOfBundleKey(const std::string& prefix, const std::string& key) {
  const std::string head = prefix + "/policy/bundles/";
  if (key.rfind(head, 0) != 0 || key.size() != head.size() + 20) return 0;
  const std::string digits = key.substr(head.size());
  if (digits.find_first_not_of("0123456789") != std::string::npos) return 0;
  return std::stoull(digits);
}

}  // namespace goldgate::fleet
