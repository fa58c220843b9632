// Unit tests of fleet policy bundles (fleet/src/bundle.cc) and a host's last-known-good
// (fleet/src/agent.cc): what a host accepts from the store, and what it refuses and why.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "goldgate/attest/dsse.h"
#include "goldgate/fleet/agent.h"
#include "goldgate/fleet/bundle.h"
#include "temp_dir.h"

using namespace goldgate;
using namespace goldgate::fleet;

namespace {

constexpr int64_t kNow = 1800000000;

const attest::PrivateKey& admin() {
  static const attest::PrivateKey k = attest::PrivateKey::fromSeed(std::string(32, '\x01')).value();
  return k;
}
const attest::PrivateKey& second() {
  static const attest::PrivateKey k = attest::PrivateKey::fromSeed(std::string(32, '\x02')).value();
  return k;
}
const attest::PrivateKey& stranger() {
  static const attest::PrivateKey k = attest::PrivateKey::fromSeed(std::string(32, '\x03')).value();
  return k;
}

proto::PolicyBundle bundle(uint64_t version) {
  proto::PolicyBundle b;
  b.set_version(version);
  b.set_created("2026-12-08T00:00:00Z");
  b.set_expires_unix(kNow + 3600);
  auto* f = b.add_files();
  f->set_path("manifests/web.yaml");
  f->set_content("schema: 1\n");
  f = b.add_files();
  f->set_path("segments/app.yaml");
  f->set_content("segments: []\n");
  return b;
}

attest::TrustPolicy trust(unsigned threshold = 1) { return {{admin().publicKey(), second().publicKey()}, threshold}; }

std::string signedBy(const proto::PolicyBundle& b, std::vector<const attest::PrivateKey*> keys) {
  return signBundle(b, keys).value();
}

attest::RejectReason refusal(const std::string& env, uint64_t expect = 0, uint64_t applied = 0,
                             unsigned threshold = 1) {
  auto v = verifyBundle(env, trust(threshold), kNow, expect, applied, "k");
  REQUIRE_FALSE(v.has_value());
  return v.error().reason;
}

}  // namespace

TEST_CASE("fleet bundle: a signed bundle verifies, with its signers", "[fleet]") {
  const auto env = signedBy(bundle(4), {&admin(), &second()});
  auto v = verifyBundle(env, trust(2), kNow, 4, 3, "k");
  REQUIRE(v.has_value());
  CHECK(v->bundle.version() == 4);
  CHECK(v->signers.size() == 2);
  CHECK(v->bundle.files(1).content() == "segments: []\n");
}

TEST_CASE("fleet bundle: what a host refuses, and the reason it gives", "[fleet]") {
  CHECK(refusal(signedBy(bundle(4), {&stranger()})) == attest::RejectReason::kUnknownKey);
  CHECK(refusal(signedBy(bundle(4), {&admin()}), 0, 0, 2) == attest::RejectReason::kThreshold);
  // One byte of the payload changed under a valid signature.
  auto env = attest::parseEnvelope(signedBy(bundle(4), {&admin()})).value();
  std::string p = env.payload();
  p[p.find("segments")] = 'S';
  env.set_payload(p);
  CHECK(refusal(attest::envelopeToJson(env)) == attest::RejectReason::kTampered);
  // Version 1, validly signed, stored as version 5: a rollback dressed as news.
  CHECK(refusal(signedBy(bundle(1), {&admin()}), 5) == attest::RejectReason::kTampered);
  CHECK(refusal(signedBy(bundle(3), {&admin()}), 3, 3) == attest::RejectReason::kRollback);
  CHECK(refusal(signedBy(bundle(2), {&admin()}), 2, 3) == attest::RejectReason::kRollback);
  auto old = bundle(4);
  old.set_expires_unix(kNow - 1);
  CHECK(refusal(signedBy(old, {&admin()})) == attest::RejectReason::kExpired);
  // A manifest's envelope is not a bundle's, even signed by the right key.
  auto manifest = attest::signEnvelope(bundleToJson(bundle(4)), admin(), nullptr).value();
  CHECK(refusal(manifest) == attest::RejectReason::kMalformed);
  CHECK(refusal("{not json") == attest::RejectReason::kMalformed);
}

TEST_CASE("fleet bundle: file paths that could leave the policy folder are refused, signed or not", "[fleet]") {
  for (const char* bad : {"../etc/passwd", "/etc/goldgate/x", "segments/../../x", "segments//a", "segments/./a",
                          "keys/admin.key", "segments/"}) {
    auto b = bundle(4);
    b.mutable_files(1)->set_path(bad);
    INFO(bad);
    CHECK_FALSE(checkBundleFiles(b).has_value());
    CHECK_FALSE(signBundle(b, {&admin()}).has_value());
  }
  auto unsorted = bundle(4);
  std::swap(*unsorted.mutable_files(0), *unsorted.mutable_files(1));
  CHECK_FALSE(checkBundleFiles(unsorted).has_value());
}

TEST_CASE("fleet bundle: a policy folder read, and a link out of it refused", "[fleet]") {
  test::TempDir d;
  std::filesystem::create_directories(d.path() / "segments");
  std::filesystem::create_directories(d.path() / "notes");
  d.write("segments/app.yaml", "segments: []\n");
  d.write("notes/todo.txt", "not published\n");
  d.write("zones.yaml", "zones: []\n");
  auto b = readPolicyFolder(d.path().string());
  REQUIRE(b.has_value());
  REQUIRE(b->files_size() == 2);
  CHECK(b->files(0).path() == "segments/app.yaml");
  CHECK(b->files(1).path() == "zones.yaml");
  std::filesystem::create_symlink("/etc/hostname", d.path() / "segments/leak.yaml");
  CHECK_FALSE(readPolicyFolder(d.path().string()).has_value());
}

TEST_CASE("fleet bundle: keys sort as versions; diffs name what changes", "[fleet]") {
  CHECK(bundleKey("/goldgate", 7) == "/goldgate/policy/bundles/00000000000000000007");
  CHECK(versionOfBundleKey("/goldgate", bundleKey("/goldgate", 12345)) == 12345);
  CHECK(versionOfBundleKey("/goldgate", "/goldgate/policy/bundles/7") == 0);
  auto a = bundle(1), b = bundle(2);
  b.mutable_files(1)->set_content("segments: [x]\n");
  auto* f = b.add_files();
  f->set_path("zones.yaml");
  const auto d = diffBundles(a, b);
  CHECK(d.changed == std::vector<std::string>{"segments/app.yaml"});
  CHECK(d.added == std::vector<std::string>{"zones.yaml"});
  CHECK(d.removed.empty());
}

TEST_CASE("fleet last-known-good: staged, put in force by one rename, kept across an open", "[fleet]") {
  test::TempDir d;
  auto l = LastKnownGood::open(d.path().string());
  REQUIRE(l.has_value());
  CHECK(l->version() == 0);
  for (uint64_t v = 1; v <= 5; ++v) {
    REQUIRE(l->stage(bundle(v), "{}").has_value());
    REQUIRE(l->activate(v).has_value());
  }
  l->prune(2);
  CHECK(std::filesystem::exists(d.path() / "versions/5/segments/app.yaml"));
  CHECK(std::filesystem::exists(d.path() / "versions/4"));
  CHECK_FALSE(std::filesystem::exists(d.path() / "versions/2"));
  auto again = LastKnownGood::open(d.path().string());
  REQUIRE(again.has_value());
  CHECK(again->version() == 5);
  CHECK(std::filesystem::read_symlink(d.path() / "current") == "versions/5");
}
