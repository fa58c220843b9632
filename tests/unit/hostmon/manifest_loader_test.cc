// Unit tests of hostmon's manifest folder: signed manifests accepted, each refusal with its reason
// (unsigned, tampered, unknown key, rollback, a second file for the same app), and a refused file
// never replacing what its app had accepted.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include "goldgate/attest/dsse.h"
#include "goldgate/attest/keys.h"
#include "manifest_loader.h"
#include "temp_dir.h"

using namespace goldgate;
using namespace goldgate::hostmon;
using goldgate::test::TempDir;

namespace {

std::string manifestText(const std::string& app, int version) {
  return "schema: 1\napp: " + app + "\nversion: " + std::to_string(version) +
         "\nexpires: 2099-01-01\napplies_to: {vms: [" + app + "1]}\nexecutables:\n  - path: /bin/busybox\n";
}

void writeSigned(const TempDir& d, const std::string& file, const std::string& text, const attest::PrivateKey& key) {
  d.write(file, text);
  auto env = attest::signEnvelope(text, key, nullptr);
  REQUIRE(env.has_value());
  d.write(file + ".sig", *env);
}

const proto::ManifestStatus* statusOf(const ManifestLoader::Scan& s, const std::string& file) {
  for (const auto& st : s.statuses)
    if (st.file().size() >= file.size() && st.file().compare(st.file().size() - file.size(), file.size(), file) == 0)
      return &st;
  return nullptr;
}

}  // namespace

TEST_CASE("hostmon's manifest folder: accepted, refused with reasons, the last accepted kept", "[attest]") {
  TempDir keys, dir;
  auto signer = attest::PrivateKey::generate();
  auto stranger = attest::PrivateKey::generate();
  REQUIRE(signer.has_value());
  REQUIRE(stranger.has_value());
  keys.write("signer.pub", signer->publicKey().toPem());
  AttestConfig cfg;
  cfg.manifests = dir.path().string();
  cfg.keys = {(keys.path() / "signer.pub").string()};
  cfg.state_file = (keys.path() / "versions").string();
  auto loader = ManifestLoader::create(cfg);
  REQUIRE(loader.has_value());

  writeSigned(dir, "web.yaml", manifestText("web", 2), *signer);
  dir.write("db.yaml", manifestText("db", 1));  // not signed
  writeSigned(dir, "other.yaml", manifestText("other", 1), *stranger);
  auto s = (*loader)->scan(1000);
  REQUIRE(s.accepted.size() == 1);
  CHECK(s.accepted[0].manifest.app() == "web");
  CHECK(s.accepted[0].signers == std::vector<std::string>{signer->keyid()});
  CHECK(s.changed);
  REQUIRE(statusOf(s, "db.yaml"));
  CHECK(statusOf(s, "db.yaml")->reason() == "unsigned");
  CHECK(statusOf(s, "other.yaml")->reason() == "unknown-key");
  CHECK(s.refused_now.size() == 2);

  // Nothing changed: nothing new to alert, nothing re-verified.
  s = (*loader)->scan(1001);
  CHECK(s.refused_now.empty());
  CHECK_FALSE(s.changed);

  // Tampered: web stays on version 2.
  dir.write("web.yaml", manifestText("web", 3));
  s = (*loader)->scan(1002);
  REQUIRE(s.accepted.size() == 1);
  CHECK(s.accepted[0].manifest.version() == 2);
  REQUIRE(statusOf(s, "web.yaml"));
  CHECK(statusOf(s, "web.yaml")->reason() == "tampered");
  CHECK(statusOf(s, "web.yaml")->error().find("version 2 stays in force") != std::string::npos);
  REQUIRE(s.refused_now.size() == 1);

  // Rollback: an older, correctly signed version is refused, even by a loader started afresh.
  writeSigned(dir, "web.yaml", manifestText("web", 1), *signer);
  auto fresh = ManifestLoader::create(cfg);
  REQUIRE(fresh.has_value());
  s = (*fresh)->scan(1003);
  CHECK(s.accepted.empty());
  CHECK(statusOf(s, "web.yaml")->reason() == "rollback");

  // A newer one is accepted; a second file for the same app is refused.
  writeSigned(dir, "web.yaml", manifestText("web", 5), *signer);
  writeSigned(dir, "web-copy.yaml", manifestText("web", 5), *signer);
  s = (*loader)->scan(1004);
  REQUIRE(s.accepted.size() == 1);
  CHECK(s.accepted[0].manifest.version() == 5);
  REQUIRE(statusOf(s, "web.yaml"));
  CHECK(statusOf(s, "web.yaml")->reason() == "invalid");  // web-copy.yaml sorts first and holds the app
  CHECK(statusOf(s, "web.yaml")->error().find("already given by") != std::string::npos);

  // Expired later: reported once, still in force (nothing newer to fall back to).
  s = (*loader)->scan(4102444800 + 10);
  CHECK(s.accepted.size() == 1);
  bool expired = false;
  for (const auto& r : s.refused_now) expired = expired || r.reason() == "expired";
  CHECK(expired);
  s = (*loader)->scan(4102444800 + 20);
  CHECK(s.refused_now.empty());

  // A file that goes away takes its manifest with it.
  std::filesystem::remove(dir.path() / "web-copy.yaml");
  std::filesystem::remove(dir.path() / "web.yaml");
  s = (*loader)->scan(1005);
  CHECK(s.accepted.empty());
  CHECK(s.changed);
}

TEST_CASE("without attest.state_file, an older signed manifest put back is refused in this run", "[attest]") {
  TempDir keys, dir;
  auto signer = attest::PrivateKey::generate();
  REQUIRE(signer.has_value());
  keys.write("signer.pub", signer->publicKey().toPem());
  AttestConfig cfg;
  cfg.manifests = dir.path().string();
  cfg.keys = {(keys.path() / "signer.pub").string()};
  auto loader = ManifestLoader::create(cfg);
  REQUIRE(loader.has_value());
  writeSigned(dir, "web.yaml", manifestText("web", 2), *signer);
  auto s = (*loader)->scan(1000);
  REQUIRE(s.accepted.size() == 1);
  // The old version, validly signed, is put back (a new inode, so it is read again).
  std::filesystem::remove(dir.path() / "web.yaml");
  std::filesystem::remove(dir.path() / "web.yaml.sig");
  writeSigned(dir, "web.yaml", manifestText("web", 1), *signer);
  s = (*loader)->scan(1001);
  REQUIRE(statusOf(s, "web.yaml"));
  CHECK(statusOf(s, "web.yaml")->reason() == "rollback");
}

TEST_CASE("a state file that cannot be read stops the loader (never taken as a first start)", "[attest]") {
  TempDir keys, dir;
  auto signer = attest::PrivateKey::generate();
  REQUIRE(signer.has_value());
  keys.write("signer.pub", signer->publicKey().toPem());
  std::filesystem::create_directory(keys.path() / "versions");  // a folder in its place
  AttestConfig cfg;
  cfg.manifests = dir.path().string();
  cfg.keys = {(keys.path() / "signer.pub").string()};
  cfg.state_file = (keys.path() / "versions").string();
  auto loader = ManifestLoader::create(cfg);
  REQUIRE_FALSE(loader.has_value());
  CHECK_THAT(loader.error().message, Catch::Matchers::Contains("attest.state_file"));
}

TEST_CASE("a key that cannot be read stops the loader with the file named", "[attest]") {
  AttestConfig cfg;
  cfg.manifests = "/nonexistent";
  cfg.keys = {"/nonexistent/key.pub"};
  auto l = ManifestLoader::create(cfg);
  REQUIRE_FALSE(l.has_value());
  CHECK(l.error().message.find("/nonexistent/key.pub") != std::string::npos);
}
