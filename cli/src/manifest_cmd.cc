#include "manifest_cmd.h"

#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <map>

#include "goldgate/attest/diff.h"
#include "goldgate/attest/dsse.h"
#include "goldgate/attest/keys.h"
#include "goldgate/attest/manifest.h"
#include "goldgate/attest/verify.h"
#include "goldgate/attest/version_store.h"
#include "output.h"
#include "text_table.h"

namespace goldgate::cli {
namespace {

using namespace goldgate::attest;

int fail(const std::string& message, int code = 1) {
  std::fprintf(stderr, "goldgatectl: %s\n", message.c_str());
  return code;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

int runKeygen(const ManifestCommands& o) {
  auto id = generateKeyPair(o.key, o.force);
  if (!id && !o.force && id.error().message.ends_with("refusing to overwrite it"))
    return fail(id.error().message + " (--force replaces it)");
  if (!id) return fail(id.error().message);
  std::printf(
      "key id %s\nprivate key %s (mode 0600: keep it offline)\npublic key  %s.pub (give it to every host that "
      "verifies)\n",
      id->c_str(), o.key.c_str(), o.key.c_str());
  return 0;
}

int runSign(const ManifestCommands& o) {
  const std::string& file = o.files.at(0);
  auto key = PrivateKey::load(o.key);
  if (!key) return fail(key.error().message);
  auto bytes = readFileLimited(file, kMaxManifestBytes);
  if (!bytes) return fail(bytes.error().message);
  // A manifest that would be refused as invalid is not worth a signature.
  if (auto m = parseManifest(*bytes, file); !m) return fail(m.error().message);
  const std::string sigPath = signaturePathOf(file);
  std::optional<std::string> existing;
  if (exists(sigPath)) {
    auto old = readFileLimited(sigPath, kMaxEnvelopeBytes);
    if (!old) return fail(old.error().message);
    auto env = parseEnvelope(*old);
    bool sameBytes = env && env->payload_type() == kManifestPayloadType && env->payload() == *bytes;
    if (sameBytes) existing = std::move(*old);
    else if (!o.replace)
      return fail(sigPath + ": " +
                  (env ? "signs other bytes than " + file : "not a DSSE envelope (" + env.error().message + ")") +
                  "; give --replace to sign the file anew, dropping its signatures");
  }
  auto out = signEnvelope(*bytes, *key, existing ? &*existing : nullptr);
  if (!out) return fail(sigPath + ": " + out.error().message);
  // Replaced by rename, so that a verifier never reads half an envelope.
  const std::string tmp = sigPath + ".tmp";
  {
    std::FILE* f = std::fopen(tmp.c_str(), "w");
    if (!f) return fail(tmp + ": " + std::strerror(errno));
    bool ok = std::fwrite(out->data(), 1, out->size(), f) == out->size();
    ok = std::fclose(f) == 0 && ok;
    if (!ok || std::rename(tmp.c_str(), sigPath.c_str()) != 0) {
      std::remove(tmp.c_str());
      return fail(sigPath + ": cannot write");
    }
  }
  auto env = parseEnvelope(*out);
  std::printf("%s: signed by key %s (%d signature%s)\n", sigPath.c_str(), key->keyid().c_str(), env->signatures_size(),
              env->signatures_size() == 1 ? "" : "s");
  return 0;
}

int runVerify(const ManifestCommands& o) {
  const std::string& file = o.files.at(0);
  TrustPolicy policy;
  policy.threshold = o.threshold;
  for (const auto& p : o.pubs) {
    auto k = PublicKey::load(p);
    if (!k) return fail(k.error().message, 2);
    policy.keys.push_back(*k);
  }
  if (o.threshold > o.pubs.size())
    return fail("--threshold " + std::to_string(o.threshold) + " can never be met by " + std::to_string(o.pubs.size()) +
                    " --pub key(s)",
                2);
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  if (!o.at.empty()) {
    auto t = parseTimestamp(o.at);
    if (!t) return fail("--at: " + t.error().message, 2);
    now = *t;
  }
  std::optional<VersionStore> store;
  if (!o.state.empty()) {
    auto s = VersionStore::open(o.state);
    if (!s) return fail(s.error().message, 2);
    store = std::move(*s);
  }
  auto v = verifyManifestFile(file, policy, now);
  if (!v) {
    std::fprintf(stderr, "%s\n", v.error().message.c_str());
    return 1;
  }
  const auto& m = v->manifest;
  if (store) {
    if (auto c = store->check(m.app(), m.version(), file); !c) {
      std::fprintf(stderr, "%s\n", c.error().message.c_str());
      return 1;
    }
    if (o.accept)
      if (auto a = store->accept(m.app(), m.version()); !a) return fail(a.error().message, 2);
  }
  std::string signers;
  for (const auto& s : v->signers) signers += (signers.empty() ? "" : ", ") + s;
  std::printf("%s: ok: %s version %llu, expires %s, signed by %s\n", file.c_str(), m.app().c_str(),
              static_cast<unsigned long long>(m.version()), formatTimestamp(m.expires_unix()).c_str(), signers.c_str());
  return 0;
}

template <typename List>
std::string joined(const List& items, const char* sep = ", ") {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : sep) + std::string(s);
  return out;
}

std::string selectorText(const proto::ManifestSelector& s) {
  std::vector<std::string> parts;
  if (s.vms_size()) parts.push_back("vms " + joined(s.vms()));
  if (s.uuids_size()) parts.push_back("uuids " + joined(s.uuids()));
  if (s.labels_size()) {
    std::map<std::string, std::string> sorted(s.labels().begin(), s.labels().end());
    std::vector<std::string> kv;
    for (const auto& [k, v] : sorted) kv.push_back(k + "=" + v);
    parts.push_back("labels " + joined(kv));
  }
  return joined(parts, "; ");
}

std::string kernelText(const proto::ManifestKernel& k) {
  std::vector<std::string> parts;
  parts.push_back(k.release().empty() ? "any release" : "release " + k.release());
  if (!k.cmdline_sha256().empty()) parts.push_back("command line hashed");
  if (!k.text_sha256().empty()) parts.push_back("kernel text hashed");
  parts.push_back(k.any_module() ? "any module" : std::to_string(k.modules_size()) + " module(s) allowed");
  return joined(parts);
}

std::string signatureText(const std::string& file) {
  const std::string sigPath = signaturePathOf(file);
  if (!exists(sigPath)) return "none (" + sigPath + " does not exist)";
  auto text = readFileLimited(sigPath, kMaxEnvelopeBytes);
  if (!text) return text.error().message;
  auto env = parseEnvelope(*text);
  if (!env) return sigPath + ": " + env.error().message;
  std::vector<std::string> ids;
  for (const auto& s : env->signatures()) ids.push_back(s.keyid().empty() ? "(no keyid)" : s.keyid());
  return std::to_string(ids.size()) + " in " + sigPath + " by " + joined(ids) + " (not verified: use manifest verify)";
}

int runShow(const ManifestCommands& o, bool json) {
  const std::string& file = o.files.at(0);
  auto m = loadManifestFile(file);
  if (!m) return fail(m.error().message);
  if (json) {
    printJson(*m);
    return 0;
  }
  size_t hashed = 0;
  for (const auto& x : m->executables()) hashed += x.sha256().empty() ? 0 : 1;
  std::vector<std::string> listeners, responses, classes;
  for (const auto& l : m->listeners()) listeners.push_back(l.proto() + "/" + std::to_string(l.port()));
  for (const auto& r : m->responses()) responses.push_back(r.kind() + " " + joined(r.actions(), "+"));
  responses.push_back("default " + joined(m->default_actions(), "+"));
  for (const auto& d : m->data_classes()) classes.push_back(d.class_name());
  Table t({"app", m->app() + " (version " + std::to_string(m->version()) + ")"});
  if (!m->description().empty()) t.add({"description", m->description()});
  if (m->issued_unix()) t.add({"issued", formatTimestamp(m->issued_unix())});
  t.add({"expires", formatTimestamp(m->expires_unix())});
  t.add({"applies to", selectorText(m->applies_to())});
  t.add({"executables", std::to_string(m->executables_size()) + " (" + std::to_string(hashed) + " with a hash)"});
  t.add({"kernel", kernelText(m->kernel())});
  t.add({"listeners", std::to_string(m->listeners_size()) + (listeners.empty() ? "" : " (" + joined(listeners) + ")")});
  t.add({"connections",
         std::to_string(m->inbound_size()) + " inbound, " + std::to_string(m->outbound_size()) + " outbound"});
  t.add({"data classes", classes.empty() ? "none" : joined(classes)});
  t.add({"responses", joined(responses, "; ")});
  t.add({"signatures", signatureText(file)});
  std::cout << t.str();
  return 0;
}

int runDiff(const ManifestCommands& o) {
  auto a = loadManifestFile(o.files.at(0));
  if (!a) return fail(a.error().message, 2);
  auto b = loadManifestFile(o.files.at(1));
  if (!b) return fail(b.error().message, 2);
  auto items = diffManifests(*a, *b);
  std::cout << formatDiff(items);
  return items.empty() ? 0 : 1;
}

}  // namespace

void addManifestCommands(CLI::App& app, ManifestCommands& o) {
  auto* manifest = app.add_subcommand("manifest", "birth certificates: keys, signing, verification, review (offline)");
  manifest->require_subcommand(1);

  o.keygen = manifest->add_subcommand(
      "keygen", "make an Ed25519 signing key pair: KEY (mode 0600) and KEY.pub; prints the key id");
  o.keygen->add_option("--out", o.key, "the private key file to write (the public key goes to KEY.pub)")->required();
  o.keygen->add_flag("--force", o.force, "replace KEY and KEY.pub when they exist");

  o.sign = manifest->add_subcommand(
      "sign",
      "sign a manifest: writes FILE.sig (DSSE envelope); an envelope over the same bytes gets one more signature");
  o.sign->add_option("--key", o.key, "private key file (mode 0600 or tighter)")->required();
  o.sign->add_flag("--replace", o.replace, "when FILE.sig signs other bytes, replace it (its signatures are dropped)");
  o.sign->add_option("file", o.files, "manifest file")->required()->expected(1);

  o.verify = manifest->add_subcommand(
      "verify",
      "check FILE.sig over FILE: exit 0 when valid, 1 with 'FILE: reason: detail' when refused, 2 on a usage error");
  o.verify->add_option("--pub", o.pubs, "a trusted public key file (repeatable)")->required();
  o.verify->add_option("--threshold", o.threshold, "distinct trusted signers required")
      ->capture_default_str()
      ->check(CLI::Range(1u, 32u));
  o.verify->add_option("--state", o.state,
                       "version store file: refuse a version older than the one accepted (rollback)");
  o.verify->add_flag("--accept", o.accept, "with --state: record this version as accepted when it verifies");
  o.verify->add_option("--at", o.at, "verify as of this UTC time (2027-06-30T00:00:00Z or 2027-06-30) instead of now");
  o.verify->add_option("file", o.files, "manifest file")->required()->expected(1);

  o.show = manifest->add_subcommand(
      "show", "summarise a manifest: app, version, expiry, selector, counts, responses, signatures");
  o.show->add_flag("--json", o.json, "print the parsed manifest as JSON (the proto's JSON mapping)");
  o.show->add_option("file", o.files, "manifest file")->required()->expected(1);

  o.diff = manifest->add_subcommand("diff",
                                    "what changed from OLD to NEW, one item a line (+ added, - removed, ~ changed); "
                                    "exit 0 no difference, 1 differences, 2 error");
  o.diff->add_option("files", o.files, "OLD NEW")->required()->expected(2);
}

std::optional<int> runManifestCommand(const ManifestCommands& o, bool json) {
  if (*o.keygen) return runKeygen(o);
  if (*o.sign) return runSign(o);
  if (*o.verify) {
    if (o.accept && o.state.empty()) return fail("--accept needs --state", 2);
    return runVerify(o);
  }
  if (*o.show) return runShow(o, o.json || json);
  if (*o.diff) return runDiff(o);
  return std::nullopt;
}

}  // namespace goldgate::cli
